"""Who may enter the daemon's root and state dirs, as containerd has kept them since
CVE-2021-41103: a host user who is not root must never reach a container's rootfs, an
unpacked layer or a content blob (setuid binaries and device nodes of images live there).

The root and state dirs are 0711. So are the few dirs whose per-object children a pod's
mapped root must pass through (user namespaces): each child there is 0700, or 0710 with the
pod's root group when it has one (containerd's prepareBundleDirectoryPermissions). Every
dir crio-py makes below the root and state dirs is 0700 (what else is there, such as a
runtime root an operator placed there, is left alone).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from crio_py.fsutil import private_dir

TOP_MODE = 0o711

ROOT_PRIVATE = ("content", "snapshots", "images", "container-records", "cni-cache", "tmp")
ROOT_PER_OBJECT = ("containers", "sandboxes")
STATE_PRIVATE = ("exits", "attach", "ns", "runtimes", "runtime-logs", "streaming", "exec")
STATE_PER_OBJECT = ("containers",)
# Each child of state/shm is a pod's /dev/shm, a tmpfs whose own mode (1777) must stay.
STATE_MOUNTS = ("shm",)


def secure(root_dir: Path, state_dir: Path) -> None:
    """Make the dirs with their modes, and close what an older crio-py left open."""
    _secure_top(root_dir, ROOT_PRIVATE, ROOT_PER_OBJECT, ())
    _secure_top(state_dir, STATE_PRIVATE, STATE_PER_OBJECT, STATE_MOUNTS)


def _secure_top(
    top: Path, private: tuple[str, ...], per_object: tuple[str, ...], mounts: tuple[str, ...]
) -> None:
    _traversable(top)
    for name in private:
        private_dir(top / name)
    for name in (*per_object, *mounts):
        _traversable(top / name)
    for name in per_object:  # an older crio-py left them 0755
        for child in _child_dirs(top / name):
            _close(child)


def _traversable(directory: Path) -> None:
    directory.mkdir(mode=TOP_MODE, parents=True, exist_ok=True)
    os.chmod(directory, TOP_MODE)


def _close(directory: Path) -> None:
    """0700, or 0710 for a dir already given to a pod's root group."""
    info = directory.lstat()
    os.chmod(directory, 0o710 if info.st_gid != 0 else 0o700)


def _child_dirs(directory: Path) -> list[Path]:
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    return []
