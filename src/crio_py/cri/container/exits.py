"""How a container's exit becomes its status: conmon writes the exit code to
`<exits_dir>/<id>` (128+N after signal N) and an `oom` file beside the bundle when the
kernel's OOM killer struck; `backends/conmon.py` reads both. No RPC logic."""

from __future__ import annotations

import time
from pathlib import Path

from crio_py.backends import conmon
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
    exited = conmon.read_exit(exits_dir, container_id, oom_dirs)
    if exited is None:
        return None
    if exited.code is None:
        return finished(
            status, EXIT_CODE_UNKNOWN, message=exited.error, finished_at=exited.finished_at_ns
        )
    return finished(status, exited.code, oom=exited.oom, finished_at=exited.finished_at_ns)


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
