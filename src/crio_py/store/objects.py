"""Sandbox and container records on disk: metadata written once, status rewritten atomically
on every change, both as versioned JSON under `<dir>/<id>/` (containerd's store layout).

Status changes go through `update(id, change)` under the object's lock: the new status is
written first and kept in memory only when the write succeeded, so memory and disk never
disagree. A record that cannot be read is logged and skipped at load, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Iterator
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


class Entry(Generic[M, S]):
    """One object: its immutable metadata and its current status."""

    def __init__(self, metadata: M, status: S) -> None:
        self.metadata = metadata
        self.status = status
        self.lock = asyncio.Lock()


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

    def create(self, object_id: str, metadata: M, status: S) -> Entry[M, S]:
        """Write a new object's metadata and first status."""
        directory = self.dir / object_id
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / METADATA, metadata.model_dump_json(indent=2))
        atomic_write_text(directory / STATUS, status.model_dump_json(indent=2))
        entry: Entry[M, S] = Entry(metadata, status)
        self._entries[object_id] = entry
        return entry

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
            return self.update_locked(object_id, change)

    def update_locked(self, object_id: str, change: Callable[[S], S]) -> S:
        """`update` for a caller that already holds the object's lock."""
        entry = self.get(object_id)
        status = change(entry.status)
        atomic_write_text(self.dir / object_id / STATUS, status.model_dump_json(indent=2))
        entry.status = status
        return status

    def delete(self, object_id: str) -> None:
        """Forget an object and remove its records (idempotent)."""
        self._entries.pop(object_id, None)
        shutil.rmtree(self.dir / object_id, ignore_errors=True)
