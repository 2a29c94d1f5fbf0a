"""Image records: one JSON file per image under `<root>/images/`, indexed in memory.

A repo tag names one image at a time: pulling `busybox:1` again moves the tag to the new image
(the old one keeps its other tags and digests, or stays untagged until removed), as containerd
and CRI-O do. Every change is written atomically before the index changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError

from crio_py.errors import InvalidArgumentError, NotFoundError
from crio_py.fsutil import atomic_write_text
from crio_py.reference import DIGEST, parse_reference
from crio_py.store.records import ImageRecord

logger = logging.getLogger(__name__)

SHORT_ID_MIN = 3


class ImageStore:
    """The image records and the lookups the CRI needs (by id, short id, tag or digest)."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.dir.mkdir(parents=True, exist_ok=True)
        self._images: dict[str, ImageRecord] = {}
        self._load()

    def _load(self) -> None:
        for path in sorted(self.dir.glob("*.json")):
            try:
                record = ImageRecord.model_validate_json(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, ValidationError) as exc:
                logger.error("Skipping unreadable image record %s: %s", path, exc)
                continue
            self._images[record.id] = record

    def _path(self, image_id: str) -> Path:
        return self.dir / f"{image_id.removeprefix('sha256:')}.json"

    def all(self) -> list[ImageRecord]:
        return sorted(self._images.values(), key=lambda r: r.id)

    def get(self, image_id: str) -> ImageRecord | None:
        return self._images.get(image_id)

    def resolve(self, name: str) -> ImageRecord:
        """The image an id, a unique short id, a repo tag or a repo digest names."""
        found = self.find(name)
        if found is None:
            raise NotFoundError(f"image {name!r} not found")
        return found

    def find(self, name: str) -> ImageRecord | None:
        """Like resolve, but None when nothing matches."""
        if name in self._images:
            return self._images[name]
        if (
            DIGEST.match(name) is None
            and all(c in "0123456789abcdef" for c in name)
            and len(name) >= SHORT_ID_MIN
        ):
            matches = [i for i in self._images if i.removeprefix("sha256:").startswith(name)]
            if len(matches) == 1:
                return self._images[matches[0]]
        if DIGEST.match(name) and name in self._images:
            return self._images[name]
        try:
            reference = parse_reference(name)
        except InvalidArgumentError:
            return None
        wanted = (
            {reference.tagged}
            if reference.digest is None
            else {reference.with_digest(reference.digest)}
        )
        for record in self._images.values():
            if wanted & {*record.repo_tags, *record.repo_digests}:
                return record
        return None

    def save(self, record: ImageRecord) -> ImageRecord:
        """Store a pulled image: merge with an existing record, and move its tags to it."""
        existing = self._images.get(record.id)
        if existing is not None:
            record = record.model_copy(
                update={
                    "repo_tags": _union(existing.repo_tags, record.repo_tags),
                    "repo_digests": _union(existing.repo_digests, record.repo_digests),
                    "pinned": existing.pinned or record.pinned,
                }
            )
        for other in list(self._images.values()):
            if other.id != record.id and set(other.repo_tags) & set(record.repo_tags):
                kept = tuple(t for t in other.repo_tags if t not in record.repo_tags)
                self._write(other.model_copy(update={"repo_tags": kept}))
        self._write(record)
        return record

    def _write(self, record: ImageRecord) -> None:
        atomic_write_text(self._path(record.id), record.model_dump_json(indent=2))
        self._images[record.id] = record

    def untag(self, record: ImageRecord, tag: str) -> ImageRecord:
        """Remove one repo tag from an image."""
        updated = record.model_copy(
            update={"repo_tags": tuple(t for t in record.repo_tags if t != tag)}
        )
        self._write(updated)
        return updated

    def delete(self, image_id: str) -> None:
        """Forget an image (its blobs are collected separately)."""
        self._path(image_id).unlink(missing_ok=True)
        self._images.pop(image_id, None)


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))
