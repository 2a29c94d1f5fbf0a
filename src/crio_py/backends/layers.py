"""Unpacking one image layer into a directory, safely, with whiteouts made for overlayfs.

`.wh.NAME` becomes a 0:0 character device and `.wh..wh..opq` the opaque xattr, as containerd's
`OverlayConvertWhiteout` does. Archives are untrusted: no entry may write outside the layer dir,
through a symlink, or hard-link out of it; the uncompressed stream must match the diff_id.
Numbers in headers are checked before use, and a sparse file keeps its holes: a few bytes of
archive cannot declare a terabyte of zeros to write.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import math
import os
import posixpath
import re
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from crio_py.errors import IntegrityError, InvalidArgumentError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
TAR_TYPE = "application/vnd.oci.image.layer.v1.tar"
GZIP_TYPES = frozenset({TAR_TYPE + "+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"})
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_XATTR_PREFIX = "trusted.overlay."
PAX_XATTR_PREFIX = "SCHILY.xattr."
_MAX_ID = 2**32 - 2  # uid_t and gid_t; (uid_t)-1 tells chown to leave the owner as it is
_MAX_DEVICE_NUMBER = 2**32 - 1
_MAX_MTIME_S = 2**63 // 1_000_000_000  # utime takes nanoseconds in a signed 64-bit integer


class LayerError(InvalidArgumentError):
    """A layer cannot be unpacked: unsupported media type, corrupt archive, diff ID mismatch,
    or an entry that would write outside the layer directory."""


@dataclass(frozen=True)
class LayerRef:
    """One image layer: its blob in the content store and the digest of its uncompressed tar."""

    digest: str
    diff_id: str
    media_type: str
    blob_path: Path


def check_layer(layer: LayerRef) -> None:
    if layer.media_type not in GZIP_TYPES | {TAR_TYPE}:
        raise LayerError(
            f"layer {layer.digest}: unsupported media type {layer.media_type!r} "
            "(supported: uncompressed and gzip tar)"
        )
    if not _SHA256.fullmatch(layer.diff_id):
        raise LayerError(f"layer {layer.digest}: unsupported diff ID {layer.diff_id!r}")


class _LayerReader:
    """The uncompressed tar stream of a layer blob, read in large chunks (tarfile asks for
    10 KiB at a time) and hashed as it passes, so the diff ID is checked in the same pass as
    the unpack. Concatenated gzip members are one stream, as gzip(1) reads them."""

    def __init__(self, stream: IO[bytes], *, gzipped: bool) -> None:
        self._stream = stream
        self._inflate = zlib.decompressobj(wbits=31) if gzipped else None
        self._buffer = b""
        self._offset = 0  # what of `_buffer` was read already
        self._eof = False
        self.hasher = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) - self._offset < size):
            self._fill()
        end = len(self._buffer) if size < 0 else self._offset + size
        data = self._buffer[self._offset : end]
        self._offset += len(data)
        return data

    def _fill(self) -> None:
        chunk = self._stream.read(_CHUNK)
        if self._inflate is None:
            data = chunk
        else:
            data = self._inflate.decompress(chunk) if chunk else self._inflate.flush()
            while self._inflate.eof and self._inflate.unused_data:
                rest = self._inflate.unused_data  # the next gzip member
                self._inflate = zlib.decompressobj(wbits=31)
                data += self._inflate.decompress(rest)
        if not chunk:
            if self._inflate is not None and not self._inflate.eof:
                raise EOFError("the compressed layer ends early")
            self._eof = True
        self.hasher.update(data)
        self._buffer = self._buffer[self._offset :] + data
        self._offset = 0


def unpack_layer(layer: LayerRef, fs_dir: Path) -> None:
    try:
        with layer.blob_path.open("rb") as stream:
            reader = _LayerReader(stream, gzipped=layer.media_type in GZIP_TYPES)
            writer = _LayerWriter(fs_dir, layer.digest)
            with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|") as tar:
                for member in tar:
                    writer.add(member, tar)
            while reader.read(_CHUNK):  # what follows the end-of-archive blocks is hashed too
                pass
            writer.finish()
    except (OSError, ValueError, OverflowError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise LayerError(f"layer {layer.digest}: cannot unpack: {exc}") from exc
    actual = "sha256:" + reader.hasher.hexdigest()
    if actual != layer.diff_id:
        # Content that does not match its digest is corrupt data, not a malformed request.
        raise IntegrityError(
            f"layer {layer.digest}: uncompressed digest {actual} "
            f"does not match diff ID {layer.diff_id}"
        )


class _LayerWriter:
    """Writes the entries of one layer archive under `fs_dir`, never outside it."""

    def __init__(self, fs_dir: Path, digest: str) -> None:
        self._fs_dir = fs_dir
        self._digest = digest
        # Directory mtimes are set last: adding entries to a directory changes its mtime.
        self._dir_times: list[tuple[tuple[str, ...], int]] = []
        # Directories checked to be real (no symlink) since nothing replaced them: each
        # entry's parents are then checked once, not once per entry.
        self._real_dirs: set[Path] = set()

    def add(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        """Write one entry, converting whiteouts for overlayfs."""
        self._check_numbers(member)
        parts = self._parts(member.name, member.name)
        if not parts:
            if not member.isdir():
                raise self._error(member.name, "would replace the layer root")
            self._set_attrs(self._fs_dir, parts, member)
        elif parts[-1].startswith(WHITEOUT_PREFIX):
            self._whiteout(parts, member)
        elif member.islnk():
            self._hardlink(self._parent(parts, member.name) / parts[-1], member)
        else:
            path = self._parent(parts, member.name) / parts[-1]
            self._create(path, member, tar)
            self._set_attrs(path, parts, member)

    def finish(self) -> None:
        """Set directory mtimes, re-checking each path, since later entries may replace it."""
        for parts, mtime_ns in self._dir_times:
            try:
                path = self._parent(parts, "", create=False) / parts[-1] if parts else self._fs_dir
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
            except (LayerError, FileNotFoundError):
                continue

    def _error(self, entry: str, problem: str) -> LayerError:
        return LayerError(f"layer {self._digest}: entry {entry!r} {problem}")

    def _check_numbers(self, member: tarfile.TarInfo) -> None:
        """Owners, device numbers and times the system calls can take (pax headers and
        base-256 fields can hold any number)."""
        for what, value in (("uid", member.uid), ("gid", member.gid)):
            if not 0 <= value <= _MAX_ID:
                raise self._error(member.name, f"has the {what} {value}, out of range")
        if member.ischr() or member.isblk():
            for what, value in (("major", member.devmajor), ("minor", member.devminor)):
                if not 0 <= value <= _MAX_DEVICE_NUMBER:
                    raise self._error(member.name, f"has the device {what} {value}, out of range")
        if not (math.isfinite(member.mtime) and abs(member.mtime) < _MAX_MTIME_S):
            raise self._error(member.name, f"has the mtime {member.mtime}, out of range")
        if member.sparse is not None:
            self._check_sparse_map(member)

    def _check_sparse_map(self, member: tarfile.TarInfo) -> None:
        """Data regions in order, inside the file: they are then read in one forward pass."""
        end = 0
        for offset, size in _sparse_map(member):
            if offset < end or size < 0 or offset + size > member.size:
                raise self._error(member.name, "has an invalid sparse map")
            end = offset + size

    def _parts(self, name: str, entry: str) -> tuple[str, ...]:
        """The normalised path inside the layer; absolute names are made relative first."""
        normal = posixpath.normpath(name.lstrip("/") or ".")
        if normal == ".":
            return ()
        if normal == ".." or normal.startswith("../"):
            raise self._error(entry, "escapes the layer directory")
        return tuple(normal.split("/"))

    def _parent(self, parts: tuple[str, ...], entry: str, *, create: bool = True) -> Path:
        """The parent of `parts`, each component checked with lstat to be a real directory."""
        current = self._fs_dir
        for depth, part in enumerate(parts[:-1], start=1):
            current = current / part
            if current in self._real_dirs:
                continue
            shown = "/".join(parts[:depth])
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                if not create:
                    raise self._error(entry, f"needs {shown!r}, not in the layer") from None
                os.mkdir(current)
                os.chmod(current, 0o755)
                self._real_dirs.add(current)
                continue
            if stat.S_ISLNK(mode):
                raise self._error(entry, f"would write through the symlink {shown!r}")
            if not stat.S_ISDIR(mode):
                raise self._error(entry, f"has the non-directory {shown!r} as a parent")
            self._real_dirs.add(current)
        return current

    def _remove(self, path: Path, *, keep_dir: bool = False) -> bool:
        """`remove_path`, forgetting what was checked at or below `path`."""
        kept = remove_path(path, keep_dir=keep_dir)
        # A checked directory below `path` means `path` itself was checked (parents first).
        if not kept and path in self._real_dirs:
            self._real_dirs = {d for d in self._real_dirs if not d.is_relative_to(path)}
        return kept

    def _whiteout(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        parent = self._parent(parts, member.name)
        if parts[-1] == OPAQUE_MARKER:
            os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        if parts[-1].startswith(WHITEOUT_PREFIX * 2):
            return  # other AUFS metadata (.wh..wh.plnk): ignored, as containerd does
        target = parts[-1].removeprefix(WHITEOUT_PREFIX)
        if target in ("", ".", ".."):
            raise self._error(member.name, "is a whiteout of nothing")
        path = parent / target
        self._remove(path)
        os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
        os.lchown(path, member.uid, member.gid)

    def _hardlink(self, path: Path, member: tarfile.TarInfo) -> None:
        parts = self._parts(member.linkname, member.name)
        if not parts:
            raise self._error(member.name, "is a hard link to the layer root")
        target = self._parent(parts, member.name, create=False) / parts[-1]
        if target == path:
            return
        try:
            target_mode = os.lstat(target).st_mode
        except FileNotFoundError:
            raise self._error(
                member.name, f"links to {member.linkname!r}, which is not in the layer"
            ) from None
        if stat.S_ISDIR(target_mode):
            raise self._error(member.name, "is a hard link to a directory")
        self._remove(path)
        os.link(target, path, follow_symlinks=False)

    def _create(self, path: Path, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        if member.isdir():
            if not self._remove(path, keep_dir=True):
                os.mkdir(path, 0o700)
            return
        self._remove(path)
        if member.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                source = tar.extractfile(member)
                if source is None:
                    return
                if member.sparse is None:
                    shutil.copyfileobj(source, out, _CHUNK)
                else:
                    _write_sparse(
                        cast(io.RawIOBase, cast(io.BufferedReader, source).raw), out, member
                    )
        elif member.issym():
            os.symlink(member.linkname, path)  # stored as is, never followed here
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise self._error(member.name, f"has the unsupported type {member.type!r}")

    def _set_attrs(self, path: Path, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        os.lchown(path, member.uid, member.gid)  # before chmod: chown clears set-id bits
        if not member.issym():  # Linux has no lchmod; symlink modes mean nothing anyway
            os.chmod(path, stat.S_IMODE(member.mode))
        for key, value in member.pax_headers.items():
            if key.startswith(PAX_XATTR_PREFIX):
                self._set_xattr(path, key.removeprefix(PAX_XATTR_PREFIX), value, member.name)
        mtime_ns = round(member.mtime * 1_000_000_000)
        if member.isdir():
            self._dir_times.append((parts, mtime_ns))
        else:
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def _set_xattr(self, path: Path, name: str, value: str, entry: str) -> None:
        # overlayfs would obey a layer's own redirect/metacopy xattrs; only whiteouts set them.
        if not name.startswith(OVERLAY_XATTR_PREFIX):
            # tarfile decodes pax values with surrogateescape: this restores the original bytes.
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(path, name, raw, follow_symlinks=False)
                return
            except OSError as exc:
                if exc.errno != errno.EOPNOTSUPP:
                    raise
        logger.warning("Dropped xattr %s of entry %s in layer %s", name, entry, self._digest)


def _sparse_map(member: tarfile.TarInfo) -> list[tuple[int, int]]:
    """(offset, size) of each data region; typeshed types `sparse` as bytes, tarfile makes
    it this list."""
    return cast(list[tuple[int, int]], member.sparse or [])


def _write_sparse(source: io.RawIOBase, out: IO[bytes], member: tarfile.TarInfo) -> None:
    """Only the data regions of a sparse file (GNU sparse, as tar -S writes it); the holes
    stay holes. Reading the file through tarfile would give every hole as zeros to write.
    `source` is the unbuffered member: a buffer would read ahead and then seek back."""
    for offset, size in _sparse_map(member):
        source.seek(offset)
        out.seek(offset)
        left = size
        while left:
            chunk = source.read(min(left, _CHUNK))
            if not chunk:
                raise EOFError(f"entry {member.name!r} ends inside its sparse data")
            out.write(chunk)
            left -= len(chunk)
    out.truncate(member.size)


def remove_path(path: Path, *, keep_dir: bool = False) -> bool:
    """Remove whatever is at `path` without following it; True if a directory was kept."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(mode):
        os.unlink(path)
    elif keep_dir:
        return True
    else:
        shutil.rmtree(path)
    return False


def is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
