"""What the container service needs from the outside world, as seams tests fill with fakes:
the OCI runtime of a handler, conmon (which runs `<runtime> create`, then monitors the
container, and runs ExecSync commands) and the wall clock. The image service, the records
and the sandbox records are given to `ContainerContext` directly. Nothing here runs anything.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from crio_py.backends import conmon, conmon_exec
from crio_py.backends.conmon import ConmonOptions
from crio_py.backends.conmon_exec import ExecSyncResult
from crio_py.backends.oci import OciRuntime, runtime_for
from crio_py.config.model import RuntimeHandler

RuntimeFactory = Callable[[RuntimeHandler, Path], OciRuntime]
"""The OCI runtime that drives a handler, given the daemon's state dir."""
CreateContainer = Callable[[ConmonOptions], Awaitable[int]]
"""Run conmon, which runs `<runtime> create`; the container's pid."""
ExecSync = Callable[[ConmonOptions, list[str], float, Path], Awaitable[ExecSyncResult]]
"""Run a command in the running container through conmon's exec mode (options, argv,
timeout in seconds or 0, scratch dir)."""
Clock = Callable[[], int]
"""Nanoseconds since the epoch, for the records' timestamps."""


def oci_runtime(handler: RuntimeHandler, state_dir: Path) -> OciRuntime:
    """The production runtime factory (`backends.oci`)."""
    return runtime_for(handler, state_dir=state_dir)


async def _create(options: ConmonOptions) -> int:
    return await conmon.create_container(options)


async def _exec_sync(
    options: ConmonOptions, command: list[str], timeout_s: float, scratch_dir: Path
) -> ExecSyncResult:
    return await conmon_exec.exec_sync(
        options, command, timeout_s=timeout_s, scratch_dir=scratch_dir
    )


@dataclass(frozen=True)
class ContainerOps:
    """The runtime factory, conmon and the clock: the real ones by default, fakes in tests."""

    runtime_for: RuntimeFactory = oci_runtime
    create: CreateContainer = _create
    exec_sync: ExecSync = _exec_sync
    clock: Clock = time.time_ns
