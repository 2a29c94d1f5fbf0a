"""StartContainer, StopContainer and RemoveContainer, and what StopPodSandbox and
RemovePodSandbox do to a pod's containers. Each works under the container's lock."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal

from cri_api.v1 import api_pb2

from crio_py import crashpoint
from crio_py.backends import conmon
from crio_py.cri.container import announce, monitor
from crio_py.cri.container.context import LIVE_STATES, ContainerContext, ContainerEntry
from crio_py.errors import CrioPyError, FailedPreconditionError
from crio_py.store.records import ContainerState, ContainerStatus

logger = logging.getLogger(__name__)

KILL_WAIT_S = 30.0
"""How long a SIGKILLed container may take to be reported gone before StopContainer fails."""
START_ERROR_EXIT_CODE = 128
"""containerd's exit code for a container whose start failed (reason "StartError")."""


async def start_container(
    ctx: ContainerContext, request: api_pb2.StartContainerRequest
) -> api_pb2.StartContainerResponse:
    entry = ctx.get(request.container_id)
    async with entry.lock:
        await start_locked(ctx, entry)
    return api_pb2.StartContainerResponse()


async def start_locked(ctx: ContainerContext, entry: ContainerEntry) -> None:
    """`<runtime> start`; a container whose start fails is EXITED with StartError."""
    state = entry.status.state(entry.metadata.created_at)
    if state != ContainerState.CREATED:
        raise FailedPreconditionError(
            f"container {entry.metadata.id} is {state.name.lower()}, not created"
        )
    try:
        await ctx.runtime(entry).start(entry.metadata.id)
        crashpoint.reached("StartContainer:runtime-started")
    except CrioPyError as exc:
        message = str(exc)
        now = ctx.clock()
        await ctx.store.update_locked(entry.metadata.id, lambda s: _start_failed(s, message, now))
        if not entry.metadata.infra:
            ctx.announce_stopped(entry)
        raise
    await ctx.store.update_locked(
        entry.metadata.id, lambda s: s.model_copy(update={"started_at": ctx.clock()})
    )
    if not entry.metadata.infra:
        announce.announce(ctx, entry.metadata.id, entry.metadata.sandbox_id, announce.STARTED)
    await ctx.refresh_locked(entry)  # a command that exits at once
    logger.info("Started container %s", entry.metadata.id)


async def stop_container(
    ctx: ContainerContext, request: api_pb2.StopContainerRequest
) -> api_pb2.StopContainerResponse:
    """CRI: idempotent, and OK for an unknown id (api.proto)."""
    entry = ctx.find(request.container_id)
    if entry is not None:
        async with entry.lock:
            if ctx.store.find(entry.metadata.id) is not None:
                timeout_s = stop_timeout_s(request.timeout, ctx.settings.stop_timeout_s)
                await stop_locked(ctx, entry, timeout_s)
    return api_pb2.StopContainerResponse()


def stop_timeout_s(requested_s: float, floor_s: float) -> float:
    """The kubelet's grace period, never below the configured floor: CRI-O's ctr_stop_timeout
    is a lower bound on StopContainer's timeout (server/container_stop.go); 0 means none."""
    return max(requested_s, floor_s)


async def stop_locked(ctx: ContainerContext, entry: ContainerEntry, timeout_s: float) -> None:
    """The stop signal, then SIGKILL once `timeout_s` has passed; done when conmon has
    recorded the exit. A stopped container is fine."""
    if await ctx.refresh_locked(entry):
        return
    state = entry.status.state(entry.metadata.created_at)
    runtime, container_id = ctx.runtime(entry), entry.metadata.id
    if state == ContainerState.RUNNING and timeout_s > 0:
        await runtime.kill(container_id, entry.metadata.stop_signal)
        crashpoint.reached("StopContainer:signalled")
        if await ctx.wait_exit_locked(entry, timeout_s, required=False):
            logger.info("Stopped container %s", container_id)
            return
    await runtime.kill(container_id, signal.SIGKILL)
    await ctx.wait_exit_locked(entry, KILL_WAIT_S)
    logger.info("Killed container %s", container_id)


async def remove_container(
    ctx: ContainerContext, request: api_pb2.RemoveContainerRequest
) -> api_pb2.RemoveContainerResponse:
    """Kill if running, then delete everything. CRI: idempotent, OK for an unknown id."""
    entry = ctx.find(request.container_id)
    if entry is not None:
        async with entry.lock:
            await remove_locked(ctx, entry)
    return api_pb2.RemoveContainerResponse()


async def remove_locked(ctx: ContainerContext, entry: ContainerEntry) -> None:
    """The runtime's state, the rootfs, the bundle, the exit file, then the records."""
    container_id = entry.metadata.id
    if ctx.store.find(container_id) is None:
        return  # removed while we waited for the lock
    if entry.status.state(entry.metadata.created_at) in LIVE_STATES:
        await stop_locked(ctx, entry, 0)
    await ctx.store.update_locked(container_id, lambda s: s.model_copy(update={"removing": True}))
    crashpoint.reached("RemoveContainer:marked")
    await ctx.runtime(entry).delete(container_id, force=True)
    crashpoint.reached("RemoveContainer:runtime-deleted")
    await ctx.images.unmount_rootfs(container_id)
    crashpoint.reached("RemoveContainer:rootfs-removed")
    await monitor.remove(ctx.layout.bundle(container_id))
    await asyncio.to_thread(shutil.rmtree, ctx.layout.bundle(container_id), ignore_errors=True)
    conmon.remove_exit(ctx.layout.exits_dir, container_id)
    ctx.layout.attach_link(container_id).unlink(missing_ok=True)
    await asyncio.to_thread(ctx.store.delete, container_id)
    ctx.forget(container_id)
    if not entry.metadata.infra:
        announce.announce(ctx, container_id, entry.metadata.sandbox_id, announce.DELETED)
    logger.info("Removed container %s", container_id)


async def stop_all(ctx: ContainerContext, sandbox_id: str) -> None:
    """Kill every container of the sandbox (StopPodSandbox)."""
    for entry in ctx.in_sandbox(sandbox_id):
        async with entry.lock:
            if ctx.store.find(entry.metadata.id) is not None:
                await stop_locked(ctx, entry, 0)


async def remove_all(ctx: ContainerContext, sandbox_id: str) -> None:
    """Remove every container of the sandbox (RemovePodSandbox)."""
    for entry in ctx.in_sandbox(sandbox_id):
        async with entry.lock:
            await remove_locked(ctx, entry)


def _start_failed(status: ContainerStatus, message: str, now: int) -> ContainerStatus:
    return status.model_copy(
        update={
            "finished_at": now,
            "exit_code": START_ERROR_EXIT_CODE,
            "reason": "StartError",
            "message": message,
            "pid": 0,
        }
    )
