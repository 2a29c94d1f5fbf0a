"""The content store: OCI blobs addressed by digest, verified on the way in and on demand.

Blobs live at `<root>/blobs/sha256/<hex>`, shared by every image, so a layer is stored once.
A blob enters only through `ingest`, which checks size and digest and then renames it into
place, so the store never holds a partial or wrong blob.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from crio_py.errors import IntegrityError, InvalidArgumentError, NotFoundError
from crio_py.fsutil import fsync_dir
from crio_py.reference import DIGEST

_CHUNK = 1 << 20


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 digest and size of a file."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return f"sha256:{hasher.hexdigest()}", size


class ContentStore:
    """Digest-addressed blobs under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where a blob lives (whether or not it is there)."""
        if not DIGEST.match(digest):
            raise InvalidArgumentError(f"{digest!r} is not a sha256 digest")
        return self.blobs / digest.removeprefix("sha256:")

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def ingest(self, source: Path, digest: str, size: int) -> Path:
        """Move `source` into the store after checking its size and digest."""
        target = self.path(digest)
        actual_digest, actual_size = file_digest(source)
        if actual_size != size or actual_digest != digest:
            raise IntegrityError(
                f"blob {digest} does not match its descriptor: got {actual_digest} "
                f"({actual_size} bytes, expected {size})"
            )
        if target.exists():
            source.unlink()
            return target
        return self.adopt(source, digest)

    def adopt(self, source: Path, digest: str) -> Path:
        """Move a blob the caller has just verified into the store (no second hashing)."""
        target = self.path(digest)
        with source.open("rb") as stream:
            os.fchmod(stream.fileno(), 0o600)  # a layer pulled with credentials is no one's else
            os.fsync(stream.fileno())
        os.replace(source, target)
        fsync_dir(self.blobs)
        return target

    def ingest_bytes(self, data: bytes, digest: str) -> Path:
        """Store a small blob (a manifest) held in memory."""
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise IntegrityError(f"content does not match its digest {digest}")
        staging = self.blobs / f".ingest-{digest.removeprefix('sha256:')}-{os.getpid()}"
        staging.write_bytes(data)
        return self.ingest(staging, digest, len(data))

    def read(self, digest: str) -> bytes:
        """A small blob's bytes, verified."""
        path = self.path(digest)
        if not path.is_file():
            raise NotFoundError(f"blob {digest} is not in the content store")
        data = path.read_bytes()
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise IntegrityError(f"blob {digest} in the content store is corrupt")
        return data

    def digests(self) -> Iterator[str]:
        for path in self.blobs.iterdir():
            if not path.name.startswith("."):
                yield f"sha256:{path.name}"

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def usage(self) -> tuple[int, int]:
        """Bytes and inodes the blobs use."""
        used = inodes = 0
        for path in self.blobs.iterdir():
            used += path.lstat().st_blocks * 512
            inodes += 1
        return used, inodes + 2
