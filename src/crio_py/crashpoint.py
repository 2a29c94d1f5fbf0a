"""Crash points for the fault-injection tests: with `CRIO_PY_CRASH_AT=<step>` in its
environment the daemon SIGKILLs itself when it reaches that step, as an OOM kill or a power
cut would, so that a test can stop it at every step of every RPC that changes state.

The variable is read once at import; unset, each point costs one string comparison.
"""

from __future__ import annotations

import os
import signal

ENV = "CRIO_PY_CRASH_AT"

STEPS = (
    "RunPodSandbox:pinned",
    "RunPodSandbox:shm-mounted",
    "RunPodSandbox:cni-add-running",
    "RunPodSandbox:cni-added-uncached",
    "RunPodSandbox:attached",
    "RunPodSandbox:recorded",
    "CreateContainer:rootfs-mounted",
    "CreateContainer:bundle-written",
    "CreateContainer:recorded",
    "CreateContainer:runtime-create-running",
    "CreateContainer:runtime-created",
    "StartContainer:runtime-started",
    "StopContainer:signalled",
    "RemoveContainer:marked",
    "RemoveContainer:runtime-deleted",
    "RemoveContainer:rootfs-removed",
    "StopPodSandbox:containers-stopped",
    "StopPodSandbox:detached",
    "RemovePodSandbox:marked",
    "RemovePodSandbox:containers-removed",
    "PullImage:copy-running",
    "PullImage:fetched",
    "PullImage:unpacked",
    "RemoveImage:untagged",
)

_armed = os.environ.get(ENV, "")


def armed() -> str:
    """The step armed in this process ("" for none)."""
    return _armed


def reached(step: str) -> None:
    """Die here if this is the armed step."""
    if step == _armed:
        os.kill(os.getpid(), signal.SIGKILL)
