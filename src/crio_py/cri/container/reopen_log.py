"""ReopenContainerLog: conmon reopens the log file through its ctl fifo (after the kubelet
rotated it)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends import conmon
from crio_py.cri.container.context import ContainerContext
from crio_py.errors import DeadlineExceededError

REOPEN_WAIT_S = 5.0


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
