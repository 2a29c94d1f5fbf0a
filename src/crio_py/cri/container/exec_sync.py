"""ExecSync: a command run in a running container through conmon's exec mode."""

from __future__ import annotations

from cri_api.v1 import api_pb2

from crio_py.cri import validate
from crio_py.cri.container.context import ContainerContext
from crio_py.errors import InvalidArgumentError


async def exec_sync(
    ctx: ContainerContext, request: api_pb2.ExecSyncRequest
) -> api_pb2.ExecSyncResponse:
    """The command's exit code and output; -1 and "command timed out" after `timeout`."""
    if not request.cmd:
        raise InvalidArgumentError("ExecSync needs a command")
    validate.command("ExecSync cmd", request.cmd)
    entry = await ctx.running(request.container_id)
    result = await ctx.ops.exec_sync(
        ctx.conmon(entry), list(request.cmd), request.timeout, ctx.layout.state_dir
    )
    return api_pb2.ExecSyncResponse(
        stdout=result.stdout, stderr=result.stderr, exit_code=result.exit_code
    )
