"""Exec, Attach and PortForward: each checks its request, parks a runner with the streaming
server and answers the URL that starts it. The runners drive the backends: `<runtime> exec`
in the foreground, conmon's attach socket, and connections inside the pod's namespace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends import conmon_attach, netns_connect
from crio_py.backends.exec_stream import ExecProcess, start_exec
from crio_py.cri import validate
from crio_py.cri.container.context import ContainerContext
from crio_py.errors import FailedPreconditionError, InvalidArgumentError
from crio_py.streaming.requests import CommandRequest, CommandStreams, Duplex, PortForwardRequest
from crio_py.streaming.server import StreamServer

logger = logging.getLogger(__name__)

DRAIN_S = 2.0
"""How long output may still come after the command exits (a background child holding it)."""


def _check_streams(tty: bool, stdin: bool, stdout: bool, stderr: bool) -> None:
    if not (stdin or stdout or stderr):
        raise InvalidArgumentError("one of stdin, stdout and stderr must be set")
    if tty and stderr:
        raise InvalidArgumentError("tty and stderr cannot both be set")


async def exec_url(
    ctx: ContainerContext, server: StreamServer, request: api_pb2.ExecRequest
) -> api_pb2.ExecResponse:
    """Exec: a URL that runs `cmd` in the running container with the asked streams."""
    if not request.cmd:
        raise InvalidArgumentError("Exec needs a command")
    validate.command("Exec cmd", request.cmd)
    _check_streams(request.tty, request.stdin, request.stdout, request.stderr)
    entry = await ctx.running(request.container_id)
    container_id, command, tty = entry.metadata.id, list(request.cmd), request.tty

    async def run(streams: CommandStreams) -> int | None:
        process = await start_exec(
            ctx.runtime(entry),
            container_id,
            ctx.layout.bundle(container_id),
            command,
            tty=tty,
            scratch_dir=ctx.layout.state_dir / "exec",
        )
        return await _drive(process, streams)

    parked = CommandRequest(
        "exec", container_id, tty, request.stdin, request.stdout, request.stderr, run
    )
    return api_pb2.ExecResponse(url=server.url_for("exec", parked))


async def _drive(process: ExecProcess, streams: CommandStreams) -> int:
    """Pump the streams until the command exits and its output is drained."""
    outputs = [
        asyncio.ensure_future(_pump(read, write))
        for read, write in (
            (process.read_stdout, streams.stdout),
            (process.read_stderr, streams.stderr),
        )
        if write is not None
    ]
    inputs = [asyncio.ensure_future(_feed(process, streams))]
    try:
        code = await process.wait()
        if outputs:
            await asyncio.wait(outputs, timeout=DRAIN_S)
        return code
    finally:
        for task in (*outputs, *inputs):
            task.cancel()
        await process.kill()
        process.close()


async def _pump(
    read: Callable[[], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]]
) -> None:
    while data := await read():
        await write(data)


async def _feed(process: ExecProcess, streams: CommandStreams) -> None:
    """Input and resizes to the command."""

    async def resizes() -> None:
        while True:
            size = await streams.resizes.get()
            process.resize(size.width, size.height)

    resizing = asyncio.ensure_future(resizes())
    stdin = streams.stdin
    try:
        if stdin is None:
            await asyncio.Event().wait()
            return
        while (data := await stdin.get()) is not None:
            await process.write_stdin(data)
        await process.close_stdin()
        await asyncio.Event().wait()
    except (ConnectionError, BrokenPipeError):
        pass
    finally:
        resizing.cancel()


async def attach_url(
    ctx: ContainerContext, server: StreamServer, request: api_pb2.AttachRequest
) -> api_pb2.AttachResponse:
    """Attach: a URL that joins the running container's own stdio through conmon."""
    entry = await ctx.running(request.container_id)
    config = ctx.config(entry)
    if request.stdin and not config.stdin:
        raise FailedPreconditionError(
            f"container {entry.metadata.id} was not created with stdin; cannot attach it"
        )
    tty = config.tty
    _check_streams(tty, request.stdin, request.stdout, request.stderr and not tty)
    container_id = entry.metadata.id
    socket_path = ctx.layout.socket_dir / container_id / "attach"
    bundle_dir = ctx.layout.bundle(container_id)

    async def run(streams: CommandStreams) -> int | None:
        async def next_size() -> tuple[int, int]:
            size = await streams.resizes.get()
            return size.width, size.height

        await conmon_attach.attach(
            socket_path,
            bundle_dir,
            stdin=streams.stdin,
            stdout=streams.stdout,
            stderr=streams.stderr,
            next_size=next_size,
            close_stdin=config.stdin_once,
        )
        return None

    parked = CommandRequest(
        "attach",
        container_id,
        tty,
        request.stdin,
        request.stdout,
        request.stderr and not tty,
        run,
    )
    return api_pb2.AttachResponse(url=server.url_for("attach", parked))


async def port_forward_url(
    ctx: ContainerContext, server: StreamServer, request: api_pb2.PortForwardRequest
) -> api_pb2.PortForwardResponse:
    """PortForward: a URL that connects to ports of the ready sandbox's loopback."""
    sandbox = ctx.sandboxes.get(request.pod_sandbox_id)
    if not sandbox.status.ready:
        raise FailedPreconditionError(f"sandbox {sandbox.metadata.id} is not ready")
    for port in request.port:
        if not 0 < port < 65536:
            raise InvalidArgumentError(f"port {port} is out of range")
    netns = sandbox.metadata.namespaces.get("net")

    async def connect(port: int) -> Duplex:
        if netns is None:
            return await netns_connect.connect_host(port)
        return await netns_connect.connect(Path(netns), port)

    parked = PortForwardRequest(sandbox.metadata.id, tuple(request.port), connect)
    return api_pb2.PortForwardResponse(url=server.url_for("portforward", parked))
