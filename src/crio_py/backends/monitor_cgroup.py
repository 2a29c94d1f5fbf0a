"""The cgroup conmon runs in: CRI-O's `conmon_cgroup` / a handler's `monitor_cgroup`, for the
cgroupfs driver. conmon 2.1.6 has no option to place itself, so its pid is written to
`cgroup.procs` of a cgroup made for it in every hierarchy, while it waits on its start pipe,
before it forks the runtime (CRI-O's cgroupfs MoveConmonToCgroup does the same).

"pod" places conmon next to the container, in `<container's cgroup parent>/crio-conmon-<id>`;
any other name is a cgroup path below the hierarchies' roots (`system.slice` →
`/system.slice/crio-conmon-<id>`); an empty one leaves conmon in the daemon's cgroup. The
cgroup is removed once conmon has gone, when the container is removed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import posixpath
import time
from pathlib import Path

from crio_py.errors import FailedPreconditionError, InvalidArgumentError, quote

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "crio-conmon-"
POD = "pod"
REMOVE_WAIT_S = 5.0
"""How long a removal waits for conmon, which has just written the exit file, to be gone."""


def monitor_cgroup_path(monitor_cgroup: str, container_cgroups_path: str, container_id: str) -> str:
    """The cgroupfs path for conmon, "" for the daemon's own cgroup."""
    if not monitor_cgroup:
        return ""
    if monitor_cgroup == POD:
        if ":" in container_cgroups_path:
            raise InvalidArgumentError(
                "monitor_cgroup 'pod' with the systemd cgroup driver needs systemd scopes, "
                "which crio-py does not create; use the cgroupfs driver or an empty monitor_cgroup"
            )
        parent = posixpath.dirname(container_cgroups_path.rstrip("/")) or "/"
    elif ".." in monitor_cgroup.split("/") or "\0" in monitor_cgroup:
        raise InvalidArgumentError(f"monitor cgroup {quote(monitor_cgroup)} is not a cgroup path")
    else:
        parent = "/" + monitor_cgroup.strip("/")
    return posixpath.normpath(posixpath.join(parent, PREFIX + container_id))


def hierarchies(root: Path = CGROUP_ROOT) -> list[Path]:
    """The mounted hierarchies: the root itself on cgroup v2, else each v1 (and the hybrid
    unified) mount below it; the cpu,cpuacct-style symlinks are skipped."""
    if (root / "cgroup.procs").is_file():
        return [root]
    return sorted(
        entry
        for entry in root.iterdir()
        if not entry.is_symlink() and (entry / "cgroup.procs").is_file()
    )


def place(pid: int, path: str, root: Path = CGROUP_ROOT) -> None:
    """Create `path` in every hierarchy and move `pid` into it."""
    for hierarchy in hierarchies(root):
        directory = hierarchy / path.lstrip("/")
        try:
            _make(hierarchy, directory)
            (directory / "cgroup.procs").write_text(str(pid), encoding="ascii")
        except OSError as exc:
            raise FailedPreconditionError(
                f"cannot move conmon (pid {pid}) into cgroup {directory}: {exc.strerror}"
            ) from exc
    logger.debug("Moved conmon %d into cgroup %s", pid, path)


def _make(hierarchy: Path, directory: Path) -> None:
    """mkdir -p, filling the cpuset of each new level from its parent (v1 starts it empty,
    and an empty cpuset takes no process)."""
    missing = []
    current = directory
    while current != hierarchy and not current.exists():
        missing.append(current)
        current = current.parent
    for level in reversed(missing):
        level.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            own = level / name
            if own.is_file() and not own.read_text(encoding="ascii").strip():
                own.write_text((level.parent / name).read_text(encoding="ascii"), encoding="ascii")


async def remove(path: str, root: Path = CGROUP_ROOT, wait_s: float = REMOVE_WAIT_S) -> None:
    """Remove `path` from every hierarchy, waiting up to `wait_s` for conmon to be gone."""
    deadline = time.monotonic() + wait_s
    for hierarchy in hierarchies(root):
        directory = hierarchy / path.lstrip("/")
        while not _removed(directory):
            if time.monotonic() >= deadline:
                logger.warning("Cgroup %s of conmon is still in use; left in place", directory)
                break
            await asyncio.sleep(0.05)


def _removed(directory: Path) -> bool:
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return False
        raise
    return True
