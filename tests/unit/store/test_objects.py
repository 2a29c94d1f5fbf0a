"""Sandbox and container records: atomic status updates written off the event loop, the
lock contract, state derived from timestamps."""

from __future__ import annotations

import asyncio
import threading
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
    await store.create("c1", _metadata(), ContainerStatus())
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
    await store.create("c1", _metadata(), ContainerStatus())

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
    await store.create("c1", _metadata(), ContainerStatus())

    def broken(status: ContainerStatus) -> ContainerStatus:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store.update("c1", broken)
    assert store.get("c1").status == ContainerStatus()


async def test_an_unreadable_record_is_skipped_and_delete_is_idempotent(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    await store.create("c1", _metadata(), ContainerStatus())
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metadata.json").write_text("{")
    reopened = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    assert reopened.load() == ["broken"]
    assert [object_id for object_id, _ in reopened] == ["c1"]
    reopened.delete("c1")
    reopened.delete("c1")
    assert len(reopened) == 0 and not (tmp_path / "c1").exists()


async def test_update_locked_without_the_lock_is_refused(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    entry = await store.create("c1", _metadata(), ContainerStatus())
    with pytest.raises(RuntimeError, match="without holding its lock"):
        await store.update_locked("c1", lambda s: s.model_copy(update={"pid": 7}))
    async with entry.lock:
        await store.update_locked("c1", lambda s: s.model_copy(update={"pid": 7}))
    assert entry.status.pid == 7


async def test_update_if_free_leaves_a_held_object_to_its_holder(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    entry = await store.create("c1", _metadata(), ContainerStatus())
    async with entry.lock:
        assert not await store.update_if_free("c1", lambda s: s.model_copy(update={"pid": 7}))
    assert entry.status.pid == 0
    assert await store.update_if_free("c1", lambda s: s.model_copy(update={"pid": 7}))
    assert not await store.update_if_free("gone", lambda s: s)
    reopened = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    reopened.load()
    assert reopened.get("c1").status.pid == 7


async def test_writes_run_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[threading.Thread] = []
    real = objects.atomic_write_text

    def recording(path: Path, text: str, *, mode: int = 0o644) -> None:
        writers.append(threading.current_thread())
        real(path, text, mode=mode)

    monkeypatch.setattr(objects, "atomic_write_text", recording)
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    await store.create("c1", _metadata(), ContainerStatus())
    await store.update("c1", lambda s: s.model_copy(update={"pid": 7}))
    assert len(writers) == 3
    assert threading.main_thread() not in writers


async def test_a_cancelled_update_still_keeps_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread writes the file whatever happens to the caller; memory must follow disk."""
    store = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    entry = await store.create("c1", _metadata(), ContainerStatus())
    started, release = threading.Event(), threading.Event()
    real = objects.atomic_write_text

    def slow(path: Path, text: str, *, mode: int = 0o644) -> None:
        started.set()
        release.wait(5)
        real(path, text, mode=mode)

    monkeypatch.setattr(objects, "atomic_write_text", slow)
    updating = asyncio.create_task(
        store.update("c1", lambda s: s.model_copy(update={"pid": 7}))
    )
    await asyncio.to_thread(started.wait, 5)
    updating.cancel()
    await asyncio.sleep(0.05)
    assert not updating.done() and entry.lock.locked()  # the write is still covered
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await updating
    assert entry.status.pid == 7 and not entry.lock.locked()
    reopened = ObjectStore(tmp_path, ContainerMetadata, ContainerStatus)
    reopened.load()
    assert reopened.get("c1").status.pid == 7


async def test_shared_holders_keep_an_exclusive_one_waiting() -> None:
    lock = objects.EntryLock()
    order: list[str] = []
    release_shared = asyncio.Event()

    async def shared(name: str) -> None:
        async with lock.shared():
            order.append(f"{name} in")
            await release_shared.wait()

    async def exclusive() -> None:
        async with lock:
            order.append("exclusive in")
            assert lock.locked()

    readers = [asyncio.create_task(shared("a")), asyncio.create_task(shared("b"))]
    await asyncio.sleep(0)
    writer = asyncio.create_task(exclusive())
    await asyncio.sleep(0)
    late = asyncio.create_task(shared("late"))  # behind the waiting exclusive holder
    await asyncio.sleep(0.01)
    assert order == ["a in", "b in"] and not lock.locked()
    release_shared.set()
    await asyncio.gather(*readers, writer, late)
    assert order == ["a in", "b in", "exclusive in", "late in"]


async def test_a_cancelled_exclusive_waiter_lets_shared_ones_go() -> None:
    lock = objects.EntryLock()
    entered = asyncio.Event()
    async with lock.shared():
        writer = asyncio.create_task(lock.__aenter__())
        await asyncio.sleep(0)

        async def reader() -> None:
            async with lock.shared():
                entered.set()

        waiting = asyncio.create_task(reader())
        await asyncio.sleep(0.01)
        assert not entered.is_set()
        writer.cancel()
        await asyncio.wait_for(waiting, 1)
    assert entered.is_set() and not lock.locked()


async def test_a_free_lock_is_taken_without_suspending() -> None:
    """What lets a reader record an exit under the lock without waiting its turn."""
    lock = objects.EntryLock()
    other_ran = False

    async def other() -> None:
        nonlocal other_ran
        other_ran = True

    task = asyncio.create_task(other())
    async with lock:
        assert not other_ran
    async with lock.shared():
        assert not other_ran
    await task
