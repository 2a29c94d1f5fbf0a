"""Exec, attach and port-forward sessions over SPDY/3.1, the transport the kubelet and
client-go use. The client opens one stream per channel, each named by its `streamtype`
header: for a command error, stdin, stdout, stderr and resize (the ones the request asked
for); for port-forward a data and an error stream per connection, paired by `requestid`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from crio_py.streaming.remotecommand import exit_status, internal_error
from crio_py.streaming.requests import (
    CommandRequest,
    CommandStreams,
    Duplex,
    PortForwardRequest,
    TerminalSize,
)
from crio_py.streaming.spdy import SpdyConnection, SpdyStream

logger = logging.getLogger(__name__)

COMMAND_PROTOCOLS = (
    "v5.channel.k8s.io",  # the same as v4 over SPDY
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
)
PORT_PROTOCOLS = ("portforward.k8s.io",)
STREAM_CREATION_TIMEOUT_S = 30.0


def expected_streams(request: CommandRequest, protocol: str) -> set[str]:
    kinds = {"error"}
    kinds |= {name for name, on in (("stdin", request.stdin), ("stdout", request.stdout)) if on}
    if request.stderr and not request.tty:
        kinds.add("stderr")
    if request.tty and protocol not in ("v2.channel.k8s.io", "channel.k8s.io"):
        kinds.add("resize")
    return kinds


async def serve_command(conn: SpdyConnection, protocol: str, request: CommandRequest) -> None:
    """Wait for the client's streams, run the command, report its status, hang up."""
    wanted = expected_streams(request, protocol)
    streams: dict[str, SpdyStream] = {}
    ready = asyncio.Event()

    async def on_stream(stream: SpdyStream) -> bool:
        kind = stream.headers.get("streamtype", "")
        if kind in wanted and kind not in streams:
            streams[kind] = stream
            if set(streams) == wanted:
                ready.set()
        elif kind not in wanted:
            logger.debug("Ignored a %r stream of a %s session", kind, request.kind)
        return True

    serving = asyncio.ensure_future(conn.serve(on_stream))
    try:
        await _until(ready, serving, STREAM_CREATION_TIMEOUT_S)
        if ready.is_set():
            await _run(conn, protocol, request, streams, serving)
    finally:
        serving.cancel()
        await conn.close()


async def _until(event: asyncio.Event, serving: asyncio.Future[None], timeout_s: float) -> None:
    waiting: asyncio.Future[object] = asyncio.ensure_future(event.wait())
    pending: set[asyncio.Future[object]] = {waiting, serving}  # type: ignore[arg-type]
    await asyncio.wait(pending, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()


async def _run(
    conn: SpdyConnection,
    protocol: str,
    request: CommandRequest,
    streams: dict[str, SpdyStream],
    serving: asyncio.Future[None],
) -> None:
    command = CommandStreams(
        tty=request.tty,
        stdin=asyncio.Queue() if "stdin" in streams else None,
        stdout=streams["stdout"].write if "stdout" in streams else None,
        stderr=streams["stderr"].write if "stderr" in streams else None,
    )
    feeders: list[asyncio.Future[Any]] = []
    if "stdin" in streams:
        feeders.append(asyncio.ensure_future(_feed_stdin(streams["stdin"], command)))
    if "resize" in streams:
        feeders.append(asyncio.ensure_future(_feed_resizes(streams["resize"], command)))
    runner = asyncio.ensure_future(request.run(command))
    feeders.append(runner)  # cancelled with the feeders when the session ends early
    try:
        either: set[asyncio.Future[object]] = {runner, serving}  # type: ignore[arg-type]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not runner.done():  # the client went away
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
            return
        try:
            status = exit_status(runner.result())
        except Exception as exc:
            logger.info("%s in container %s failed: %s", request.kind, request.container_id, exc)
            status = internal_error(request.kind, str(exc))
        with contextlib.suppress(ConnectionError):
            for kind in ("stdout", "stderr"):
                if kind in streams:
                    await streams[kind].close()
            error = streams["error"]
            await error.write(_error_payload(protocol, status))
            await error.close()
    finally:
        for feeder in feeders:
            feeder.cancel()


def _error_payload(protocol: str, status: dict[str, object]) -> bytes:
    if protocol in COMMAND_PROTOCOLS[:2]:
        return json.dumps(status).encode()
    return b"" if status["status"] == "Success" else str(status.get("message", "")).encode()


async def _feed_stdin(stream: SpdyStream, command: CommandStreams) -> None:
    assert command.stdin is not None
    while data := await stream.read():
        await command.stdin.put(data)
    await command.stdin.put(None)


async def _feed_resizes(stream: SpdyStream, command: CommandStreams) -> None:
    """A stream of JSON objects {"Width": w, "Height": h}, split anywhere between frames."""
    decoder, pending = json.JSONDecoder(), ""
    while data := await stream.read():
        pending += data.decode("utf-8", "replace")
        while pending.strip():
            try:
                size, end = decoder.raw_decode(pending.lstrip())
            except ValueError:
                break
            pending = pending.lstrip()[end:]
            with contextlib.suppress(KeyError, TypeError, ValueError):
                command.resizes.put_nowait(TerminalSize(int(size["Width"]), int(size["Height"])))


async def serve_ports(conn: SpdyConnection, request: PortForwardRequest) -> None:
    """Pair data and error streams by request id and forward each pair to its port."""
    pairs: dict[str, dict[str, SpdyStream]] = {}
    forwards: set[asyncio.Task[None]] = set()

    async def on_stream(stream: SpdyStream) -> bool:
        kind = stream.headers.get("streamtype", "")
        try:
            port = int(stream.headers.get("port", ""))
        except ValueError:
            return False
        if kind not in ("data", "error") or not 0 < port < 65536:
            return False
        default_id = stream.id if kind == "error" else stream.id - 2
        request_id = stream.headers.get("requestid") or str(default_id)
        pair = pairs.setdefault(request_id, {})
        if kind in pair:
            return False
        pair[kind] = stream
        if len(pair) == 2:
            del pairs[request_id]
            task = asyncio.ensure_future(_forward(request, port, pair["data"], pair["error"]))
            forwards.add(task)
            task.add_done_callback(forwards.discard)
        return True

    try:
        await conn.serve(on_stream)
    finally:
        for task in list(forwards):
            task.cancel()
        await asyncio.gather(*forwards, return_exceptions=True)
        await conn.close()


async def _forward(
    request: PortForwardRequest, port: int, data: SpdyStream, error: SpdyStream
) -> None:
    try:
        connection = await request.connect(port)
    except Exception as exc:
        message = f"error forwarding port {port} to pod {request.sandbox_id}: {exc}"
        with contextlib.suppress(ConnectionError):
            await error.write(message.encode())
            await error.close()
            await data.close()
        return
    try:
        await _relay(connection, data, error, request, port)
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
        with contextlib.suppress(ConnectionError):
            await data.close()
            await error.close()


async def _relay(
    connection: Duplex,
    data: SpdyStream,
    error: SpdyStream,
    request: PortForwardRequest,
    port: int,
) -> None:
    async def upstream() -> None:
        while chunk := await data.read():
            await connection.write(chunk)
        await connection.close_write()

    sending = asyncio.ensure_future(upstream())
    try:
        while chunk := await connection.read():
            await data.write(chunk)
    except ConnectionError as exc:
        message = f"error forwarding port {port} to pod {request.sandbox_id}: {exc}"
        await error.write(message.encode())
    finally:
        sending.cancel()
