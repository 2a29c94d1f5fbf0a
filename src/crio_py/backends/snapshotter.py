"""Overlay snapshots of image layers, as containerd's overlay snapshotter keeps them:
`snapshots/<chain-hex>/fs` holds one unpacked layer (a lower dir) per chain ID, and
`containers/<id>/{upper,work,rootfs,mode}` a container's rootfs, made by an overlay mount or,
where overlay cannot be mounted, by copying the lowers ("mode" says which).

Unpacking converts whiteouts for overlayfs, as containerd's `OverlayConvertWhiteout` does:
`.wh.NAME` becomes a 0:0 character device and `.wh..wh..opq` the opaque xattr. Archives are
untrusted: no entry may write outside the layer dir, through a symlink, or hard-link out of it.
This module does not fetch or verify blobs (the content store does), needs root, and mounts
with system calls (`mountapi`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from crio_py import fsutil
from crio_py.backends import mountapi
from crio_py.backends.layers import (
    OPAQUE_XATTR,
    OVERLAY_XATTR_PREFIX,
    LayerRef,
    check_layer,
    is_real_dir,
    remove_path,
    unpack_layer,
)
from crio_py.backends.mountapi import Idmap
from crio_py.errors import (
    AlreadyExistsError,
    CrioPyError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_OVERLAY_UNSAFE = re.compile(r"[,:\\]")
_CHUNK = 1 << 20


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Chain IDs of a layer stack, lowest first (OCI image-spec config.md, "Layer ChainID")."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
            continue
        joined = f"{chains[-1]} {diff_id}".encode()
        chains.append("sha256:" + hashlib.sha256(joined).hexdigest())
    return chains


class OverlaySnapshotter:
    """Unpacked layers under `root/snapshots` and container root filesystems on top of them."""

    def __init__(self, root: Path) -> None:
        # Resolved, because mount points in /proc/self/mountinfo are canonical paths.
        self._root = Path(os.path.realpath(root))
        self._snapshots = self._root / "snapshots"
        self._containers = self._root / "containers"
        # Snapshot name → its (bytes, inodes): a snapshot never changes once unpacked, so each
        # tree is walked once (containerd's snapshot syncer keeps such a cache too). Unpacks
        # run in threads, hence the lock.
        self._usage: dict[str, tuple[int, int]] = {}
        self._usage_lock = threading.Lock()
        self._usage_synced = False

    async def prepare(self, layers: list[LayerRef]) -> list[Path]:
        """Unpack the layers not yet unpacked; return their lower dirs, lowest first."""
        for layer in layers:
            check_layer(layer)
        lowers: list[Path] = []
        missing: list[tuple[LayerRef, str]] = []
        for layer, chain_id in zip(layers, chain_ids([x.diff_id for x in layers]), strict=True):
            fs_dir = self._snapshot_dir(chain_id) / "fs"
            if not is_real_dir(fs_dir):
                missing.append((layer, chain_id))
            lowers.append(fs_dir)
        # Each layer unpacks into its own directory, so they unpack side by side.
        results = await asyncio.gather(
            *(asyncio.to_thread(self._unpack, layer, chain_id) for layer, chain_id in missing),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for _, chain_id in missing:
                self.remove_snapshot(chain_id)
            raise errors[0]
        return lowers

    def lowers(self, chain_ids: Sequence[str]) -> list[Path]:
        """The lower dirs of unpacked snapshots, lowest first; NotFoundError for a missing one."""
        lowers = [self._snapshot_dir(chain_id) / "fs" for chain_id in chain_ids]
        missing = [str(c) for c, fs in zip(chain_ids, lowers, strict=True) if not is_real_dir(fs)]
        if missing:
            raise NotFoundError(f"snapshots {', '.join(missing)} are not unpacked")
        return lowers

    def snapshot_ids(self) -> set[str]:
        """Chain IDs of the complete snapshots, for garbage collection."""
        try:
            names = os.listdir(self._snapshots)
        except FileNotFoundError:
            return set()
        return {
            f"sha256:{name}"
            for name in names
            if _HEX64.fullmatch(name) and is_real_dir(self._snapshots / name / "fs")
        }

    def remove_snapshot(self, chain_id: str) -> None:
        """Delete one snapshot; a missing one is fine, one under a mounted rootfs is refused."""
        doomed = self.detach_snapshot(chain_id)
        if doomed is not None:
            shutil.rmtree(doomed)

    def detach_snapshot(self, chain_id: str) -> Path | None:
        """Take one snapshot out of use at once: it is renamed to a `.removing-` directory,
        which the caller deletes (at leisure: `remove_incomplete` deletes what a crash left).
        None when there is no such snapshot."""
        directory = self._snapshot_dir(chain_id)
        if not os.path.lexists(directory):
            return None
        if _overlay_uses(directory / "fs"):
            raise FailedPreconditionError(f"snapshot {chain_id} is a lower dir of a mounted rootfs")
        doomed = Path(tempfile.mkdtemp(prefix=".removing-", dir=self._snapshots))
        with self._usage_lock:
            os.rename(directory, doomed / "snapshot")
            self._usage.pop(directory.name, None)
        logger.info("Removed snapshot %s", chain_id)
        return doomed

    def remove_incomplete(self) -> None:
        """Delete unpacks and removals a crash interrupted; call before serving."""
        with contextlib.suppress(FileNotFoundError), os.scandir(self._snapshots) as entries:
            for entry in entries:
                if entry.name.startswith((".tmp-", ".removing-")):
                    shutil.rmtree(entry.path)

    def usage(self) -> tuple[int, int]:
        """Bytes (allocated blocks) and inodes of the unpacked snapshots, each inode counted
        once, from the cache kept as snapshots come and go; the first call fills it (it
        walks every tree: call it off the event loop)."""
        if not self._usage_synced:
            self.sync_usage()
        with self._usage_lock:
            found = list(self._usage.values())
        return sum(used for used, _ in found), sum(inodes for _, inodes in found)

    def sync_usage(self) -> None:
        """Measure every unpacked snapshot the cache lacks (at start-up)."""
        for chain_id in self.snapshot_ids():
            name = chain_id.removeprefix("sha256:")
            if name not in self._usage:
                self._measure(name)
        self._usage_synced = True

    def _measure(self, name: str) -> None:
        directory = self._snapshots / name
        used, inodes = _tree_usage(directory)
        with contextlib.suppress(FileNotFoundError):
            used += os.lstat(directory).st_blocks * 512
            inodes += 1
        with self._usage_lock:
            if is_real_dir(directory / "fs"):  # not removed meanwhile
                self._usage[name] = (used, inodes)

    def rootfs_ids(self) -> set[str]:
        """The containers that have a root filesystem here (made, or half made by a crash)."""
        try:
            return {entry.name for entry in os.scandir(self._containers) if entry.is_dir()}
        except FileNotFoundError:
            return set()

    def writable_usage(self, container_id: str) -> tuple[int, int]:
        """Bytes and inodes a container wrote: its overlay upper dir, or its whole copy."""
        container_dir = self._container_dir(container_id)
        copied = (container_dir / "mode").exists() and (
            (container_dir / "mode").read_text().strip() == "copy"
        )
        return _tree_usage(container_dir / ("rootfs" if copied else "upper"))

    async def mount_rootfs(
        self, container_id: str, lowers: list[Path], idmap: Idmap | None = None
    ) -> Path:
        """Make `containers/<id>/rootfs` from the lowers (lowest first): overlay, else a copy.
        With `idmap` the lowers are idmapped and the upper layer belongs to the mapped root
        (containerd's remapped overlay); that needs overlay, never a copy."""
        container_dir = self._container_dir(container_id)
        if os.path.lexists(container_dir):
            raise AlreadyExistsError(f"rootfs of container {container_id} already exists")
        fsutil.private_dir(container_dir, group=idmap.root_gid if idmap else None)
        for name in ("upper", "work", "rootfs"):
            (container_dir / name).mkdir()
        try:
            mode = await self._populate(container_id, container_dir, lowers, idmap)
            fsutil.atomic_write_text(container_dir / "mode", mode + "\n")
            # CRI-O's names (c/storage's overlay): monitors such as cAdvisor measure what a
            # container wrote in the `diff` beside the `merged` root its runtime reports.
            os.symlink("rootfs", container_dir / "merged")
            os.symlink("rootfs" if mode == "copy" else "upper", container_dir / "diff")
        except Exception:
            try:
                await self.unmount_rootfs(container_id)
            except Exception as undo_error:  # the original error matters more
                logger.warning(
                    "Could not clean up rootfs of container %s: %s", container_id, undo_error
                )
            raise
        logger.info("Prepared rootfs of container %s by %s", container_id, mode)
        return container_dir / "rootfs"

    async def unmount_rootfs(self, container_id: str) -> None:
        """Unmount and delete a container's rootfs; an unknown or removed one is fine."""
        container_dir = self._container_dir(container_id)
        for mount_point in _mounts_under(container_dir):
            try:
                await asyncio.to_thread(mountapi.unmount, mount_point)
            except CrioPyError as exc:
                if mount_point in _mounts_under(container_dir):
                    raise FailedPreconditionError(
                        f"rootfs of container {container_id} cannot be unmounted: {exc}"
                    ) from exc
        if os.path.lexists(container_dir):
            await asyncio.to_thread(shutil.rmtree, container_dir)
            logger.info("Removed rootfs of container %s", container_id)

    async def stage_mount(
        self,
        container_id: str,
        name: str,
        source: Path,
        *,
        read_only: bool = False,
        idmap: Idmap | None = None,
    ) -> Path:
        """A private copy of the mount tree at `source` for the container to bind, read-only
        all the way down (`read_only`) or idmapped; unmounted with the rootfs."""
        target = self._volume_dir(container_id, name)
        userns = idmap.userns_path if idmap else None
        await asyncio.to_thread(
            mountapi.clone_tree, source, target, read_only=read_only, userns_path=userns
        )
        return target

    async def mount_image_volume(
        self, container_id: str, name: str, lowers: list[Path], idmap: Idmap | None = None
    ) -> Path:
        """An image's layers as a read-only overlay for the container to bind (CRI image
        volumes); unmounted with the rootfs."""
        target = self._volume_dir(container_id, name)
        empty = target.parent / f".empty-{name}"  # read-only overlay wants two lowers
        empty.mkdir()
        await mount_overlay(target, [empty, *lowers], idmap=idmap)
        return target

    def release_volumes(self, container_id: str) -> None:
        """Detach the container's staged mounts once its runtime has bound them: its mount
        namespace keeps its own copies, and the host keeps no mount points over the host
        paths they copy (which would make them busy: a kubelet could not remove them)."""
        volumes = self._container_dir(container_id) / "volumes"
        mounted = {str(path) for path in _mounts_under(volumes)}
        with contextlib.suppress(FileNotFoundError), os.scandir(volumes) as entries:
            for entry in entries:
                if entry.path in mounted:
                    mountapi.detach(Path(entry.path))

    def _volume_dir(self, container_id: str, name: str) -> Path:
        if not _CONTAINER_ID.fullmatch(name):
            raise InvalidArgumentError(f"invalid volume name {name!r}")
        path = self._container_dir(container_id) / "volumes" / name
        path.mkdir(parents=True)
        return path

    async def _populate(
        self, container_id: str, container_dir: Path, lowers: list[Path], idmap: Idmap | None
    ) -> str:
        """Mount overlay on rootfs, or copy the lowers into it (not idmapped: a copy cannot
        be); return the mode used."""
        if not lowers:  # an image without layers: overlay still needs one lower dir
            lowers = [_empty_dir(container_dir)]
        try:
            await mount_overlay(
                container_dir / "rootfs",
                lowers,
                upper=(container_dir / "upper", container_dir / "work"),
                idmap=idmap,
            )
            return "overlay"
        except UnavailableError as exc:
            if idmap is not None:
                raise
            logger.warning(
                "Overlay mount failed for container %s, copying its layers: %s", container_id, exc
            )
        await asyncio.to_thread(_copy_layers, lowers, container_dir / "rootfs")
        return "copy"

    def _unpack(self, layer: LayerRef, chain_id: str) -> None:
        """Unpack into a temporary dir, verify the diff ID, then rename it into place."""
        final = self._snapshot_dir(chain_id)
        if is_real_dir(final / "fs"):  # unpacked meanwhile by a concurrent prepare
            return
        if os.path.lexists(final):  # left without fs/ by hand or by an old crash
            self.remove_snapshot(chain_id)
        self._snapshots.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self._snapshots))
        try:
            (staging / "fs").mkdir()
            os.chmod(staging / "fs", 0o755)
            unpack_layer(layer, staging / "fs")
            os.rename(staging, final)
            self._measure(final.name)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):  # else unpacked concurrently
                raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsutil.fsync_dir(self._snapshots)

    def _snapshot_dir(self, chain_id: str) -> Path:
        if not _SHA256.fullmatch(chain_id):
            raise InvalidArgumentError(f"invalid chain ID {chain_id!r}: want sha256:<64 hex>")
        return self._snapshots / chain_id.removeprefix("sha256:")

    def _container_dir(self, container_id: str) -> Path:
        if not _CONTAINER_ID.fullmatch(container_id):
            raise InvalidArgumentError(f"invalid container id {container_id!r}")
        return self._containers / container_id


async def mount_overlay(
    target: Path,
    lowers: Sequence[Path],
    *,
    upper: tuple[Path, Path] | None = None,
    idmap: Idmap | None = None,
) -> None:
    """Mount overlay on `target` from `lowers` (lowest first), writable through `upper`
    (upper and work dirs) or read-only without it (overlay then needs two lowers or more).
    With `idmap`, each lower is an idmapped copy, unmounted (lazily) once overlay holds it,
    and the upper and work dirs belong to the mapped root: overlay itself cannot be idmapped."""
    mapped: list[Path] = []
    try:
        if idmap is not None:
            lowers = await asyncio.to_thread(_idmapped_lowers, target, lowers, idmap, mapped)
            for directory in upper or ():
                os.chown(directory, idmap.root_uid, idmap.root_gid)
        for path in (*lowers, *(upper or ())):
            if not path.is_absolute() or _OVERLAY_UNSAFE.search(str(path)):
                raise InvalidArgumentError(f"overlay cannot use the path {str(path)!r}")
        lowerdir = ":".join(str(path) for path in reversed(lowers))  # overlay: highest first
        options = f"lowerdir={lowerdir}"
        if upper is not None:
            options += f",upperdir={upper[0]},workdir={upper[1]}"
        await asyncio.to_thread(mountapi.mount, "overlay", target, "overlay", options)
    finally:
        for path in mapped:
            with contextlib.suppress(CrioPyError):
                mountapi.detach(path)
            with contextlib.suppress(OSError):
                path.rmdir()


def _idmapped_lowers(
    target: Path, lowers: Sequence[Path], idmap: Idmap, mapped: list[Path]
) -> list[Path]:
    """An idmapped copy of each lower, beside `target`; `mapped` collects what is mounted."""
    found = []
    for index, lower in enumerate(lowers):
        copy = target.parent / f".idmapped-{target.name}-{index}"
        copy.mkdir()
        mountapi.clone_tree(lower, copy, recursive=False, userns_path=idmap.userns_path)
        mapped.append(copy)
        found.append(copy)
    return found


def _empty_dir(container_dir: Path) -> Path:
    path = container_dir / "empty"
    path.mkdir(exist_ok=True)
    return path


def _tree_usage(top: Path) -> tuple[int, int]:
    """Allocated bytes and inodes under `top`, each inode (hard links) counted once."""
    seen: set[tuple[int, int]] = set()
    used = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            try:
                info = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                used += info.st_blocks * 512
    return used, len(seen)


def _mount_table() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of each line of /proc/self/mountinfo."""
    table = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as info:
        for line in info:
            fields = line.split()
            tail = fields[fields.index("-") + 1 :]
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            table.append((point, tail[0], tail[2] if len(tail) > 2 else ""))
    return table


def _mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below `directory`, deepest first."""
    prefix = str(directory)
    found = [
        Path(point)
        for point, _, _ in _mount_table()
        if point == prefix or point.startswith(prefix + "/")
    ]
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def _overlay_uses(fs_dir: Path) -> bool:
    pattern = re.compile(re.escape(str(fs_dir)) + r"(?=[:,]|$)")
    return any(
        fs_type == "overlay" and pattern.search(options) for _, fs_type, options in _mount_table()
    )


def _copy_layers(lowers: list[Path], rootfs: Path) -> None:
    """Apply the lowers in order onto rootfs, with overlayfs semantics for whiteouts."""
    for lower in lowers:
        _copy_contents(lower, rootfs, {})  # hard links share an inode only within one layer


def _copy_contents(src_dir: Path, dst_dir: Path, links: dict[int, Path]) -> None:
    with os.scandir(src_dir) as entries:
        for entry in entries:
            src, dst = Path(entry.path), dst_dir / entry.name
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:  # a whiteout deletes
                remove_path(dst)
            elif stat.S_ISDIR(info.st_mode):
                if _is_opaque(src):  # an opaque directory replaces the lower one
                    remove_path(dst)
                if not remove_path(dst, keep_dir=True):
                    os.mkdir(dst, 0o700)
                _copy_contents(src, dst, links)
                _copy_attrs(src, dst, info)
            else:
                remove_path(dst)
                _copy_node(src, dst, info, links)


def _copy_node(src: Path, dst: Path, info: os.stat_result, links: dict[int, Path]) -> None:
    if info.st_nlink > 1 and info.st_ino in links:
        os.link(links[info.st_ino], dst, follow_symlinks=False)
        return
    kind = stat.S_IFMT(info.st_mode)
    if kind == stat.S_IFREG:
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif kind == stat.S_IFLNK:
        os.symlink(os.readlink(src), dst)
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        os.mknod(dst, kind | 0o600, info.st_rdev)
    elif kind == stat.S_IFIFO:
        os.mkfifo(dst, 0o600)
    else:
        return  # sockets cannot come from a layer archive
    links[info.st_ino] = dst
    _copy_attrs(src, dst, info)


def _copy_attrs(src: Path, dst: Path, info: os.stat_result) -> None:
    os.lchown(dst, info.st_uid, info.st_gid)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(dst, stat.S_IMODE(info.st_mode))
    for name in os.listxattr(src, follow_symlinks=False):
        if not name.startswith(OVERLAY_XATTR_PREFIX):
            value = os.getxattr(src, name, follow_symlinks=False)
            os.setxattr(dst, name, value, follow_symlinks=False)
    os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
