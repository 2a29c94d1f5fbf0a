"""ExecSync, ReopenContainerLog and UpdateContainerResources: requests to a running
container, through conmon's exec mode, conmon's ctl fifo and `<runtime> update`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends import conmon, conmon_exec
from crio_py.cri import validate
from crio_py.cri.container.context import ContainerContext
from crio_py.errors import DeadlineExceededError, InvalidArgumentError
from crio_py.fsutil import atomic_write_text
from crio_py.ocispec.resources import resources_section

REOPEN_WAIT_S = 5.0


async def exec_sync(
    ctx: ContainerContext, request: api_pb2.ExecSyncRequest
) -> api_pb2.ExecSyncResponse:
    """The command's exit code and output; -1 and "command timed out" after `timeout`."""
    if not request.cmd:
        raise InvalidArgumentError("ExecSync needs a command")
    validate.command("ExecSync cmd", request.cmd)
    entry = await ctx.running(request.container_id)
    result = await conmon_exec.exec_sync(
        ctx.conmon(entry),
        list(request.cmd),
        timeout_s=request.timeout,
        scratch_dir=ctx.layout.state_dir,
    )
    return api_pb2.ExecSyncResponse(
        stdout=result.stdout, stderr=result.stderr, exit_code=result.exit_code
    )


async def reopen_container_log(
    ctx: ContainerContext, request: api_pb2.ReopenContainerLogRequest
) -> api_pb2.ReopenContainerLogResponse:
    """Ask conmon to reopen the log file (after the kubelet rotated it) and wait for it."""
    entry = await ctx.running(request.container_id)
    conmon.write_ctl(ctx.layout.bundle(entry.metadata.id), conmon.CTL_REOPEN_LOG)
    log_path = Path(entry.metadata.log_path)
    deadline = time.monotonic() + REOPEN_WAIT_S
    while not log_path.exists():
        if time.monotonic() >= deadline:
            raise DeadlineExceededError(f"conmon did not reopen {log_path}")
        await asyncio.sleep(0.02)
    return api_pb2.ReopenContainerLogResponse()


async def update_container_resources(
    ctx: ContainerContext, request: api_pb2.UpdateContainerResourcesRequest
) -> api_pb2.UpdateContainerResourcesResponse:
    """The new limits through `<runtime> update`."""
    entry = await ctx.running(request.container_id)
    resources = resources_section(request.linux, host=ctx.host)
    path = ctx.layout.bundle(entry.metadata.id) / "resources.json"
    await asyncio.to_thread(atomic_write_text, path, json.dumps(resources))
    await ctx.runtime(entry).update(entry.metadata.id, path)
    return api_pb2.UpdateContainerResourcesResponse()
