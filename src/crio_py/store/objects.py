"""Sandbox and container records on disk: metadata written once, status rewritten atomically
on every change, both as versioned JSON under `<dir>/<id>/` (containerd's store layout).

Status changes go through `update(id, change)`, which takes the object's lock, or
`update_locked` for a caller that holds it (checked: a call without it is a bug). The new
status is written first and kept in memory only when the write succeeded, so memory and
disk never disagree. A record that cannot be read is logged and skipped at load, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from crio_py.errors import NotFoundError
from crio_py.fsutil import atomic_write_text

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", bound=BaseModel)

METADATA = "metadata.json"
STATUS = "status.json"


class EntryLock:
    """An object's lock: held exclusively (`async with lock`) by whoever changes its status,
    or shared (`async with lock.shared()`) by those who only need it to stay as it is (a
    CreateContainer keeps its sandbox from being removed). A waiting exclusive holder goes
    before new shared ones. Taking a free lock never suspends; releasing never does."""

    def __init__(self) -> None:
        self._exclusive = False
        self._exclusive_waiting = 0
        self._shared = 0
        self._wakers: list[asyncio.Future[None]] = []

    def locked(self) -> bool:
        """Whether it is held exclusively."""
        return self._exclusive

    async def __aenter__(self) -> None:
        self._exclusive_waiting += 1
        try:
            await self._until(lambda: not self._exclusive and not self._shared)
        except BaseException:
            self._exclusive_waiting -= 1
            self._wake()  # shared waiters held back by this one may go on
            raise
        self._exclusive_waiting -= 1
        self._exclusive = True

    async def __aexit__(self, *_: object) -> None:
        self._exclusive = False
        self._wake()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold the lock shared for the block."""
        await self._until(lambda: not self._exclusive and not self._exclusive_waiting)
        self._shared += 1
        try:
            yield
        finally:
            self._shared -= 1
            self._wake()

    async def _until(self, free: Callable[[], bool]) -> None:
        while not free():
            waker = asyncio.get_running_loop().create_future()
            self._wakers.append(waker)
            try:
                await waker
            finally:
                if waker in self._wakers:
                    self._wakers.remove(waker)

    def _wake(self) -> None:
        """Every waiter looks again (each checks its own condition)."""
        wakers, self._wakers = self._wakers, []
        for waker in wakers:
            if not waker.done():
                waker.set_result(None)


class Entry(Generic[M, S]):
    """One object: its immutable metadata and its current status."""

    def __init__(self, metadata: M, status: S) -> None:
        self.metadata = metadata
        self.status = status
        self.lock = EntryLock()


class ObjectStore(Generic[M, S]):
    """Records of one kind of object, by id."""

    def __init__(self, directory: Path, metadata: type[M], status: type[S]) -> None:
        self.dir = directory
        self._metadata_type = metadata
        self._status_type = status
        self._entries: dict[str, Entry[M, S]] = {}
        directory.mkdir(parents=True, exist_ok=True)

    def load(self) -> list[str]:
        """Read every record; return the ids of the ones that could not be read."""
        broken = []
        for path in sorted(p for p in self.dir.iterdir() if p.is_dir()):
            try:
                metadata = self._metadata_type.model_validate_json((path / METADATA).read_text())
                status = self._status_type.model_validate_json((path / STATUS).read_text())
            except (OSError, ValueError, ValidationError) as exc:
                logger.error("Skipping unreadable record %s: %s", path, exc)
                broken.append(path.name)
                continue
            self._entries[path.name] = Entry(metadata, status)
        return broken

    async def create(self, object_id: str, metadata: M, status: S) -> Entry[M, S]:
        """Write a new object's metadata and first status (off the event loop), then keep it."""
        writing = asyncio.ensure_future(
            asyncio.to_thread(self._write_new, self.dir / object_id, metadata, status)
        )
        cancelled = await _wait_out(writing)
        entry: Entry[M, S] = Entry(metadata, status)
        self._entries[object_id] = entry
        if cancelled:
            raise asyncio.CancelledError
        return entry

    @staticmethod
    def _write_new(directory: Path, metadata: BaseModel, status: BaseModel) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / METADATA, metadata.model_dump_json(indent=2))
        atomic_write_text(directory / STATUS, status.model_dump_json(indent=2))

    def get(self, object_id: str) -> Entry[M, S]:
        entry = self._entries.get(object_id)
        if entry is None:
            raise NotFoundError(f"{object_id} not found")
        return entry

    def find(self, object_id: str) -> Entry[M, S] | None:
        return self._entries.get(object_id)

    def __iter__(self) -> Iterator[tuple[str, Entry[M, S]]]:
        return iter(list(self._entries.items()))

    def __len__(self) -> int:
        return len(self._entries)

    async def update(self, object_id: str, change: Callable[[S], S]) -> S:
        """Apply `change` to the status, write it, and only then keep it."""
        entry = self.get(object_id)
        async with entry.lock:
            return await self.update_locked(object_id, change)

    async def update_locked(self, object_id: str, change: Callable[[S], S]) -> S:
        """`update` for a caller that already holds the object's lock. The two fsyncs run in
        a thread; the status is durable when this returns."""
        entry = self.get(object_id)
        if not entry.lock.locked():
            raise RuntimeError(f"status of {object_id} changed without holding its lock")
        status = change(entry.status)
        writing = asyncio.ensure_future(
            asyncio.to_thread(atomic_write_text, self._status_path(object_id), _json(status))
        )
        cancelled = await _wait_out(writing)
        entry.status = status
        if cancelled:
            raise asyncio.CancelledError
        return status

    async def update_if_free(self, object_id: str, change: Callable[[S], S]) -> bool:
        """Apply `change` when nobody holds the object's lock; False when someone does (or
        the object is gone): that holder decides the status."""
        entry = self._entries.get(object_id)
        if entry is None or entry.lock.locked():
            return False
        async with entry.lock:  # free: taken without waiting
            await self.update_locked(object_id, change)
        return True

    def _status_path(self, object_id: str) -> Path:
        return self.dir / object_id / STATUS

    def delete(self, object_id: str) -> None:
        """Forget an object and remove its records (idempotent)."""
        self._entries.pop(object_id, None)
        shutil.rmtree(self.dir / object_id, ignore_errors=True)


def _json(record: BaseModel) -> str:
    return record.model_dump_json(indent=2)


async def _wait_out(writing: asyncio.Future[None]) -> bool:
    """Wait for a write in a thread to end, even when cancelled meanwhile (the file changes
    either way, so memory must follow it, and the lock must cover it); True when a
    cancellation came, for the caller to raise once it has kept the result. The write's
    own error is raised."""
    cancelled = False
    while True:
        try:
            await asyncio.shield(writing)
            return cancelled
        except asyncio.CancelledError:
            if writing.cancelled():
                raise
            cancelled = True
