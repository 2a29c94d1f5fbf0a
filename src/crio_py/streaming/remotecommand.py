"""Exec and attach sessions over WebSocket (Kubernetes remotecommand, `*.channel.k8s.io`).

Every message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize. From
v4 the error channel carries a metav1.Status as JSON (with the exit code as a cause); v5 adds
a close message from the client, [255, channel], which ends stdin. Resize messages are JSON:
{"Width": w, "Height": h}. The session ends with the status on the error channel and a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from crio_py.streaming.channels import ChannelSocket
from crio_py.streaming.requests import CommandRequest, CommandStreams, TerminalSize
from crio_py.websocket import ConnectionClosed, WebSocket, WebSocketError

logger = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
)
"""The subprotocols served, newest first."""


def choose_protocol(offered: list[str]) -> str | None:
    """The first protocol the client offers that is served (the client's order wins)."""
    return next((p for p in offered if p in PROTOCOLS), None)


def success_status() -> dict[str, object]:
    return {"metadata": {}, "status": "Success"}


def failure_status(message: str, exit_code: int | None = None) -> dict[str, object]:
    """metav1.Status of a failure; a non-zero exit code becomes a NonZeroExitCode cause."""
    status: dict[str, object] = {"metadata": {}, "status": "Failure", "message": message}
    if exit_code is not None:
        status["reason"] = "NonZeroExitCode"
        status["details"] = {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}
    return status


def exit_status(exit_code: int | None) -> dict[str, object]:
    if not exit_code:
        return success_status()
    message = f"command terminated with non-zero exit code: exit status {exit_code}"
    return failure_status(message, exit_code)


def internal_error(kind: str, error: str) -> dict[str, object]:
    """What the kubelet answers when the runtime could not run or attach at all."""
    what = "executing command in" if kind == "exec" else "attaching to"
    cause = f"error {what} container: {error}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {cause}",
        "reason": "InternalError",
        "details": {"causes": [{"message": cause}]},
        "code": 500,
    }


async def serve_command(ws: WebSocket, protocol: str, request: CommandRequest) -> None:
    """Run the command of `request` with the WebSocket's channels, until it ends."""
    channels = ChannelSocket(ws, protocol)
    send = channels.send

    # The first message, empty, is on the lowest channel the client will read.
    first = STDOUT if request.stdout else STDERR if request.stderr and not request.tty else ERROR
    await send(first, b"")
    streams = CommandStreams(
        tty=request.tty,
        stdin=asyncio.Queue() if request.stdin else None,
        stdout=_writer(send, STDOUT) if request.stdout else None,
        stderr=_writer(send, STDERR) if request.stderr and not request.tty else None,
    )
    runner = asyncio.ensure_future(request.run(streams))
    listener = asyncio.ensure_future(_listen(channels, protocol, streams))
    try:
        await asyncio.wait({runner, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # the client went away, or the session was cancelled: stop the command
        for task in (runner, listener):
            if not task.done() or task is listener:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    if not runner.done() or runner.cancelled():
        return
    try:
        status = exit_status(runner.result())
    except Exception as exc:  # the runner reports why it could not run
        logger.info("%s in container %s failed: %s", request.kind, request.container_id, exc)
        status = internal_error(request.kind, str(exc))
    with contextlib.suppress(ConnectionError, ConnectionClosed, RuntimeError):
        await send(ERROR, _error_payload(protocol, status))
    await ws.close()


def _writer(
    send: Callable[[int, bytes], Awaitable[None]], channel: int
) -> Callable[[bytes], Awaitable[None]]:
    async def write(data: bytes) -> None:
        await send(channel, data)

    return write


def _error_payload(protocol: str, status: dict[str, object]) -> bytes:
    """v4 and v5 send the Status as JSON; older protocols only a failure's message."""
    if protocol.startswith(("v5.", "v4.")):
        return json.dumps(status).encode()
    return b"" if status["status"] == "Success" else str(status.get("message", "")).encode()


async def _listen(channels: ChannelSocket, protocol: str, streams: CommandStreams) -> None:
    """Hand the client's messages to the command until the client closes."""
    try:
        while True:
            received = await channels.receive()
            if received is None:
                continue
            channel, data = received
            if channel == STDIN and streams.stdin is not None:
                await streams.stdin.put(data)
            elif channel == RESIZE:
                _resize(streams, data)
            elif _closes_stdin(protocol, channel, data) and streams.stdin is not None:
                await streams.stdin.put(None)
    except (ConnectionClosed, WebSocketError, ConnectionError):
        if streams.stdin is not None:
            await streams.stdin.put(None)


def _closes_stdin(protocol: str, channel: int, data: bytes) -> bool:
    """v5's close message for the stdin channel."""
    return protocol == PROTOCOLS[0] and channel == CLOSE and data[:1] == bytes([STDIN])


def _resize(streams: CommandStreams, data: bytes) -> None:
    try:
        size = json.loads(data)
        streams.resizes.put_nowait(TerminalSize(int(size["Width"]), int(size["Height"])))
    except (ValueError, KeyError, TypeError):
        logger.debug("Ignored a malformed resize message %r", data[:100])
