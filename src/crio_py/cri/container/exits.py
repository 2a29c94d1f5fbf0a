"""How a container's exit becomes its status: conmon writes the exit code to
`<exits_dir>/<id>` (128+N after signal N) and an `oom` file beside the bundle when the
kernel's OOM killer struck (CRI-O's `oom` file check). Pure reading; no RPC logic."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from crio_py.backends.conmon import exit_file_path, read_exit_file
from crio_py.errors import CommandError
from crio_py.store.records import ContainerStatus

REASON_COMPLETED = "Completed"
REASON_ERROR = "Error"
REASON_OOM_KILLED = "OOMKilled"
EXIT_CODE_UNKNOWN = 255
"""What an exit nobody saw is reported as (the container is gone and no exit file says how)."""


def exited_status(
    status: ContainerStatus, exits_dir: Path, container_id: str, oom_dirs: tuple[Path, ...]
) -> ContainerStatus | None:
    """The status after the exit conmon recorded, or None while there is no exit file."""
    try:
        code = read_exit_file(exits_dir, container_id)
    except CommandError as exc:  # a garbled exit file still means it exited
        return finished(status, EXIT_CODE_UNKNOWN, message=str(exc))
    if code is None:
        return None
    finished_at = _mtime_ns(exit_file_path(exits_dir, container_id))
    oom = any((directory / "oom").exists() for directory in oom_dirs)
    return finished(status, code, oom=oom, finished_at=finished_at)


def finished(
    status: ContainerStatus,
    code: int,
    *,
    oom: bool = False,
    message: str = "",
    finished_at: int | None = None,
) -> ContainerStatus:
    """`status` with the exit recorded and its CRI reason."""
    reason = REASON_COMPLETED if code == 0 else REASON_ERROR
    if oom:
        reason = REASON_OOM_KILLED
    # A command that exits at once can leave its exit file before StartContainer recorded the
    # start; the CRI's order is created, started, finished.
    finished_at = max(finished_at or time.time_ns(), status.started_at)
    return status.model_copy(
        update={
            "finished_at": finished_at,
            "exit_code": code,
            "reason": reason,
            "message": message or status.message,
            "pid": 0,
        }
    )


def exited_ids(exits_dir: Path) -> set[str]:
    """The ids with an exit file (one listing; cheap to call often)."""
    with contextlib.suppress(FileNotFoundError):
        return set(os.listdir(exits_dir))
    return set()


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return time.time_ns()
