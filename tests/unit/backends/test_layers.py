"""unpack_layer on headers a hostile archive can write: numbers no system call takes, and
sparse files that declare far more than they hold."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from pathlib import Path

import pytest

from crio_py.backends.layers import LayerError, LayerRef, unpack_layer
from tests.unit.backends.test_snapshotter import OCI_TAR, entry, make_layer, needs_root

TERABYTE = 10**12


def _layer(tmp_path: Path, raw: bytes) -> LayerRef:
    blob = tmp_path / "blob"
    blob.write_bytes(raw)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return LayerRef(digest, digest, OCI_TAR, blob)


def _with_pax(name: str, pax: dict[str, str], data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info, _ = entry(name, data=data)
    info.pax_headers = pax
    return info, data


@needs_root
@pytest.mark.parametrize(
    ("pax", "problem"),
    [
        ({"uid": str(2**40)}, "uid 1099511627776, out of range"),
        ({"uid": "-5"}, "uid -5, out of range"),
        ({"gid": str(2**32 - 1)}, "gid 4294967295, out of range"),  # chown's "leave it"
        ({"mtime": "1e30"}, "mtime 1e+30, out of range"),
        ({"mtime": "inf"}, "mtime inf, out of range"),
        ({"mtime": "nan"}, "mtime nan, out of range"),
    ],
)
def test_numbers_out_of_range_are_layer_errors(
    tmp_path: Path, pax: dict[str, str], problem: str
) -> None:
    layer = make_layer(tmp_path / "blobs", [entry("ok", data=b"ok"), _with_pax("f", pax)])
    (tmp_path / "fs").mkdir()
    with pytest.raises(LayerError, match=re.escape(f"entry 'f' has the {problem}")):
        unpack_layer(layer, tmp_path / "fs")


@needs_root
def test_a_device_number_out_of_range_is_a_layer_error(tmp_path: Path) -> None:
    info = tarfile.TarInfo("dev")
    info.type, info.devmajor = tarfile.CHRTYPE, 2**40  # GNU base-256 fields hold it
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        archive.addfile(info)
    (tmp_path / "fs").mkdir()
    with pytest.raises(LayerError, match="device major 1099511627776, out of range"):
        unpack_layer(_layer(tmp_path, buffer.getvalue()), tmp_path / "fs")


def _sparse(sparse_map: str, real_size: int, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return _with_pax(
        "sparse",
        {
            "GNU.sparse.map": sparse_map,
            "GNU.sparse.numblocks": str(sparse_map.count(",") // 2 + 1),
            "GNU.sparse.size": str(real_size),
        },
        data,
    )


@needs_root
def test_a_sparse_terabyte_keeps_its_holes(tmp_path: Path) -> None:
    layer = make_layer(
        tmp_path / "blobs",
        [
            _sparse(f"0,2,5000,1,{TERABYTE},3", TERABYTE + 3, b"ab" + b"c" + b"end"),
            entry("after", data=b"next entry\n"),
        ],
    )
    fs = tmp_path / "fs"
    fs.mkdir()
    unpack_layer(layer, fs)
    info = os.stat(fs / "sparse")
    assert info.st_size == TERABYTE + 3
    assert info.st_blocks * 512 < 1 << 20  # the holes take no space
    with (fs / "sparse").open("rb") as stream:
        assert stream.read(3) == b"ab\0"
        stream.seek(5000)
        assert stream.read(2) == b"c\0"
        stream.seek(TERABYTE)
        assert stream.read() == b"end"
    assert (fs / "after").read_bytes() == b"next entry\n"


@needs_root
@pytest.mark.parametrize(
    "sparse_map", [f"{TERABYTE},1,0,1", "0,5,2,1", f"{TERABYTE},4"]
)  # out of order, overlapping, past the end
def test_a_sparse_map_out_of_order_or_past_the_end_is_a_layer_error(
    tmp_path: Path, sparse_map: str
) -> None:
    layer = make_layer(tmp_path / "blobs", [_sparse(sparse_map, TERABYTE + 3, b"ab")])
    (tmp_path / "fs").mkdir()
    with pytest.raises(LayerError, match="invalid sparse map"):
        unpack_layer(layer, tmp_path / "fs")
