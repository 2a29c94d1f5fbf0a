"""The content store verifies every blob on the way in and on the way out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from crio_py.errors import IntegrityError, InvalidArgumentError, NotFoundError
from crio_py.store.content import ContentStore


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_ingest_moves_a_verified_blob_into_place(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    source = tmp_path / "blob"
    source.write_bytes(b"layer")
    path = store.ingest(source, _digest(b"layer"), 5)
    assert path.read_bytes() == b"layer" and not source.exists()
    assert store.has(_digest(b"layer"))
    assert list(store.digests()) == [_digest(b"layer")]


@pytest.mark.parametrize("digest, size", [(_digest(b"other"), 5), (_digest(b"layer"), 6)])
def test_a_blob_that_does_not_match_is_refused(tmp_path: Path, digest: str, size: int) -> None:
    store = ContentStore(tmp_path / "content")
    source = tmp_path / "blob"
    source.write_bytes(b"layer")
    with pytest.raises(IntegrityError):
        store.ingest(source, digest, size)
    assert list(store.digests()) == []


def test_read_detects_corruption_on_disk(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    store.ingest_bytes(b"{}", _digest(b"{}"))
    assert store.read(_digest(b"{}")) == b"{}"
    store.path(_digest(b"{}")).write_bytes(b"[]")
    with pytest.raises(IntegrityError):
        store.read(_digest(b"{}"))
    with pytest.raises(NotFoundError):
        store.read(_digest(b"absent"))


def test_digests_are_checked_for_shape(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        ContentStore(tmp_path).path("sha256:../../etc/passwd")
