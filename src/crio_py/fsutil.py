"""Files written so that a crash never leaves a half-written one (temp file, fsync, rename,
directory fsync), and paths resolved inside a root as if it were `/`."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

_MAX_SYMLINKS = 40


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace `path` with `text` atomically (readers see the old or the new file, never part)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    fsync_dir(path.parent)


def private_dir(path: Path, *, group: int | None = None) -> Path:
    """`path` as a dir only root may enter (0700), or root and `group` (0710: a pod's
    mapped root passes through it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    if group is not None:
        os.chown(path, -1, group)
    os.chmod(path, 0o700 if group is None else 0o710)
    return path


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_in_root(root: Path, relative: str) -> Path:
    """`relative` inside `root`, following symlinks as if `root` were `/`: an absolute link
    target restarts at `root` and `..` stops at it (containerd opens these files with
    os.OpenRoot for the same reason)."""
    pending = [p for p in relative.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if not candidate.is_symlink():
            resolved.append(part)
            continue
        hops += 1
        if hops > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many symbolic links resolving /{relative}")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        pending = [p for p in target.split("/") if p not in ("", ".")] + pending
    return root.joinpath(*resolved)
