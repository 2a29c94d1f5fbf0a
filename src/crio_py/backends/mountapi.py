"""Mounts made with system calls through ctypes. The new mount API (open_tree, mount_setattr,
move_mount: Linux 5.12 and later) makes the two mounts util-linux 2.38's mount(8) cannot:

- a recursively read-only copy of a mount tree (CRI `Mount.recursive_read_only`), which runc
  1.1 cannot make itself: runc bind-mounts the copy, whose submounts stay read-only;
- an idmapped copy (user namespaces): files owned by 0 on disk appear owned by the mapped
  host id, so a container root that is uid 1000 on the host owns its image's files.

and plain mount(2) and umount(2) mount overlay and tmpfs without starting mount(8), a few
milliseconds each on every pod and container. Each call acts in the daemon's own mount
namespace. Errors are UnavailableError (the kernel or the filesystem cannot do it, or the mount
is busy) or InvalidArgumentError (a missing path).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from crio_py.errors import InvalidArgumentError, UnavailableError

logger = logging.getLogger(__name__)

# The generic syscall table gives these the same numbers on every architecture.
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000
_OPEN_TREE_CLONE = 1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_IDMAP = 0x100000
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True)
class Idmap:
    """What a pod's mounts are idmapped through: its pinned user namespace, and the host ids
    its root (container uid and gid 0) maps to."""

    userns_path: Path
    root_uid: int
    root_gid: int


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _check(result: int, what: str, path: Path) -> int:
    if result < 0:
        code = ctypes.get_errno()
        message = f"{what} {path}: {os.strerror(code)}"
        if code in (errno.ENOENT, errno.ENOTDIR):
            raise InvalidArgumentError(message)
        raise UnavailableError(message)
    return result


def clone_tree(
    source: Path,
    target: Path,
    *,
    recursive: bool = True,
    read_only: bool = False,
    userns_path: Path | None = None,
) -> None:
    """Mount a private copy of the mount tree at `source` (with its submounts when
    `recursive`) on the existing directory `target`: read-only throughout when `read_only`,
    idmapped through the user namespace pinned at `userns_path` when one is given."""
    flags = _OPEN_TREE_CLONE | os.O_CLOEXEC | (_AT_RECURSIVE if recursive else 0)
    tree = _check(_libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, bytes(source), flags), "open", source)
    userns = os.open(userns_path, os.O_RDONLY | os.O_CLOEXEC) if userns_path else -1
    try:
        attr = _MountAttr(propagation=_MS_PRIVATE)
        if read_only:
            attr.attr_set |= _MOUNT_ATTR_RDONLY
        if userns >= 0:
            attr.attr_set |= _MOUNT_ATTR_IDMAP
            attr.userns_fd = userns
        at_flags = _AT_EMPTY_PATH | (_AT_RECURSIVE if recursive else 0)
        _check(
            _libc.syscall(
                _SYS_MOUNT_SETATTR, tree, b"", at_flags, ctypes.byref(attr), ctypes.sizeof(attr)
            ),
            "set attributes of a copy of",
            source,
        )
        _check(
            _libc.syscall(
                _SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, bytes(target), _MOVE_MOUNT_F_EMPTY_PATH
            ),
            "mount a copy on",
            target,
        )
    finally:
        os.close(tree)
        if userns >= 0:
            os.close(userns)


def detach(target: Path) -> None:
    """Lazily unmount `target` (umount2 MNT_DETACH): what still uses it keeps it."""
    _check(_libc.umount2(bytes(target), _MNT_DETACH), "unmount", target)


def probe(directory: Path) -> bool:
    """Whether this kernel makes a recursively read-only copy of a directory's mount."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".probe-") as scratch:
        target = Path(scratch)
        try:
            clone_tree(target, target, recursive=True, read_only=True)
        except (UnavailableError, InvalidArgumentError, AttributeError) as exc:
            logger.info("Recursive read-only mounts are not available: %s", exc)
            return False
        detach(target)
    return True


MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]  # fmt: skip
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount(source: str, target: Path, fstype: str, data: str, flags: int = 0) -> None:
    """mount(2) of a filesystem (overlay, tmpfs): what `mount -t` does, without its process.
    UnavailableError when the kernel refuses (an unknown type, a bad option)."""
    result = _libc.mount(source.encode(), bytes(target), fstype.encode(), flags, data.encode())
    _check(result, f"mount {fstype} on", target)


def unmount(target: Path) -> None:
    """umount(2) of `target` (the mount on top); UnavailableError when it is busy."""
    _check(_libc.umount2(bytes(target), 0), "unmount", target)
