"""Sandbox and container records: atomic status updates, state derived from timestamps."""

from __future__ import annotations

from pathlib import Path

import pytest

from crio_py.store import objects
from crio_py.store.objects import ObjectStore
from crio_py.store.records import ContainerMetadata, ContainerState, ContainerStatus


def _metadata(object_id: str = "c1") -> ContainerMetadata:
    return ContainerMetadata(
        id=object_id,
        name="app_pod_default_uid_0",
        sandbox_id="s1",
        config={"metadata": {"name": "app"}},
        image_ref="busybox:1",
        image_id="sha256:" + "a" * 64,
        runtime_handler="runc",
        created_at=1,
    )


def test_state_follows_the_timestamps() -> None:
    assert ContainerStatus().state(created_at=1) is ContainerState.CREATED
    assert ContainerStatus(started_at=2).state(1) is ContainerState.RUNNING
    assert ContainerStatus(started_at=2, finished_at=3).state(1) is ContainerState.EXITED
    assert ContainerStatus(started_at=2, unknown=True).state(1) is ContainerState.UNKNOWN


async def test_records_survive_a_restart(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    store.create("c1", _metadata(), ContainerStatus())
    await store.update("c1", lambda s: s.model_copy(update={"started_at": 5, "pid": 42}))
    reopened = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    assert reopened.load() == []
    entry = reopened.get("c1")
    assert (entry.metadata, entry.status.pid, entry.status.state(1)) == (
        _metadata(),
        42,
        ContainerState.RUNNING,
    )


async def test_a_failed_write_keeps_the_old_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    store.create("c1", _metadata(), ContainerStatus())

    def disk_full(path: Path, text: str, *, mode: int = 0o644) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(objects, "atomic_write_text", disk_full)
    with pytest.raises(OSError):
        await store.update("c1", lambda s: s.model_copy(update={"started_at": 5}))
    assert store.get("c1").status == ContainerStatus()
    monkeypatch.undo()
    reopened = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    reopened.load()
    assert reopened.get("c1").status == ContainerStatus()


async def test_a_failing_change_changes_nothing(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    store.create("c1", _metadata(), ContainerStatus())

    def broken(status: ContainerStatus) -> ContainerStatus:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store.update("c1", broken)
    assert store.get("c1").status == ContainerStatus()


def test_an_unreadable_record_is_skipped_and_delete_is_idempotent(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    store.create("c1", _metadata(), ContainerStatus())
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metadata.json").write_text("{")
    reopened = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    assert reopened.load() == ["broken"]
    assert [object_id for object_id, _ in reopened] == ["c1"]
    reopened.delete("c1")
    reopened.delete("c1")
    assert len(reopened) == 0 and not (tmp_path / "c1").exists()
