"""Image records: lookups, tags that move, atomic files, bad records skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from crio_py.errors import NotFoundError
from crio_py.store.images import ImageStore
from crio_py.store.records import Descriptor, ImageRecord


def _record(n: int, tags: tuple[str, ...] = (), digests: tuple[str, ...] = ()) -> ImageRecord:
    config = f"sha256:{n:064x}"
    descriptor = Descriptor(media_type="m", digest=config, size=1)
    return ImageRecord(
        id=config,
        repo_tags=tags,
        repo_digests=digests,
        manifest=descriptor,
        config=descriptor,
        layers=(),
        diff_ids=(),
        chain_ids=(),
        size=1,
    )


def test_lookups(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    digest = "sha256:" + "b" * 64
    record = store.save(
        _record(1, ("docker.io/library/busybox:1",), (f"docker.io/library/busybox@{digest}",))
    )
    assert store.resolve(record.id) == record
    assert store.resolve("0000000") == record  # a unique short id
    assert store.resolve("busybox:1") == record
    assert store.resolve(f"busybox@{digest}") == record
    assert store.find("busybox:2") is None
    with pytest.raises(NotFoundError):
        store.resolve("busybox:2")


def test_a_tag_moves_to_the_newer_image_and_records_survive_a_restart(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    store.save(_record(1, ("docker.io/library/app:1", "docker.io/library/app:stable")))
    store.save(_record(2, ("docker.io/library/app:stable",)))
    reopened = ImageStore(tmp_path)
    assert reopened.resolve("app:stable").id.endswith("2")
    assert reopened.resolve("app:1").repo_tags == ("docker.io/library/app:1",)


def test_an_unreadable_record_is_skipped(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    store.save(_record(1, ("docker.io/library/app:1",)))
    (tmp_path / "broken.json").write_text("{not json")
    assert [r.id for r in ImageStore(tmp_path).all()] == [_record(1).id]


def test_delete(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    record = store.save(_record(1))
    store.delete(record.id)
    assert store.all() == [] and not list(tmp_path.glob("*.json"))
