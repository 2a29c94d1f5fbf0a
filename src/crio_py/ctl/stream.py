"""The client side of the streaming URLs that Exec, Attach and PortForward answer: a WebSocket
with the Kubernetes channel protocols (`v5.channel.k8s.io` for commands, `portforward.k8s.io`
for ports), as kubectl speaks them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import struct
import sys
import termios
import tty as tty_module
from collections.abc import Iterator
from urllib.parse import urlsplit

from crio_py.ctl.endpoints import CtlError
from crio_py.websocket import ConnectionClosed, WebSocket, WebSocketError, accept_key, new_key

COMMAND_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORT_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
READ_SIZE = 64 * 1024


async def open_websocket(url: str, protocols: tuple[str, ...]) -> tuple[WebSocket, str]:
    """Connect and upgrade; the WebSocket and the protocol the server chose."""
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    context = ssl.create_default_context() if secure else None
    if context is not None:  # the runtime's streaming certificate is its own
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    port = parts.port or (443 if secure else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
    key = new_key()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {', '.join(protocols)}\r\n\r\n"
    )
    writer.write(head.encode("latin-1"))
    await writer.drain()
    response = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = response.split("\r\n")
    if " 101 " not in f"{status_line} ":
        body = await reader.read(4096)
        await _close(writer)
        raise CtlError(f"{status_line.strip()}: {body.decode('utf-8', 'replace').strip()}")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines if line)
    }
    if headers.get("sec-websocket-accept") != accept_key(key):
        await _close(writer)
        raise CtlError("the streaming server answered with a bad Sec-WebSocket-Accept")
    return WebSocket(reader, writer, client=True), headers.get("sec-websocket-protocol", "")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


def exit_code_of(status: dict[str, object]) -> int:
    """The exit code a metav1.Status reports (0 on success, 1 for other failures)."""
    if status.get("status") == "Success":
        return 0
    details = status.get("details")
    causes = details.get("causes", []) if isinstance(details, dict) else []
    for cause in causes:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            with contextlib.suppress(ValueError, TypeError):
                return int(cause.get("message", 1))
    return 1


async def run_command(url: str, *, stdin: bool, tty: bool) -> int:
    """Relay this terminal (or pipes) to a remote command; its exit code."""
    ws, protocol = await open_websocket(url, COMMAND_PROTOCOLS)
    sender = asyncio.ensure_future(_send_stdin(ws, protocol)) if stdin else None
    resizer = asyncio.ensure_future(_send_sizes(ws)) if tty else None
    try:
        with _raw_terminal(tty and stdin):
            return await _receive_output(ws)
    finally:
        for task in (sender, resizer):
            if task is not None:
                task.cancel()
        await ws.close()


async def _receive_output(ws: WebSocket) -> int:
    code = 0
    with contextlib.suppress(ConnectionClosed, WebSocketError, ConnectionError):
        while True:
            _, message = await ws.receive()
            if not message:
                continue
            channel, data = message[0], message[1:]
            if channel == STDOUT:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            elif channel == STDERR:
                sys.stderr.buffer.write(data)
                sys.stderr.flush()
            elif channel == ERROR and data:
                code = _error_code(data)
    return code


def _error_code(data: bytes) -> int:
    try:
        status = json.loads(data)
    except ValueError:
        print(data.decode("utf-8", "replace"), file=sys.stderr)
        return 1
    if isinstance(status, dict) and status.get("status") != "Success":
        code = exit_code_of(status)
        if status.get("reason") != "NonZeroExitCode":
            print(f"crio-py: {status.get('message', 'failed')}", file=sys.stderr)
        return code
    return 0


async def _send_stdin(ws: WebSocket, protocol: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    with contextlib.suppress(ConnectionClosed, ConnectionError):
        while data := await reader.read(READ_SIZE):
            await ws.send(bytes([STDIN]) + data)
        if protocol == COMMAND_PROTOCOLS[0]:
            await ws.send(bytes([CLOSE, STDIN]))


async def _send_sizes(ws: WebSocket) -> None:
    """The terminal's size now and after every SIGWINCH."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    changed.set()
    loop.add_signal_handler(signal.SIGWINCH, changed.set)
    try:
        while True:
            await changed.wait()
            changed.clear()
            width, height = _terminal_size()
            if width and height:
                size = json.dumps({"Width": width, "Height": height}).encode()
                await ws.send(bytes([RESIZE]) + size)
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)


def _terminal_size() -> tuple[int, int]:
    for stream in (sys.stdout, sys.stdin):
        with contextlib.suppress(OSError, ValueError):
            size = os.get_terminal_size(stream.fileno())
            return size.columns, size.lines
    return 0, 0


@contextlib.contextmanager
def _raw_terminal(wanted: bool) -> Iterator[None]:
    if not wanted or not sys.stdin.isatty():
        yield
        return
    saved = termios.tcgetattr(sys.stdin.fileno())
    tty_module.setraw(sys.stdin.fileno())
    try:
        yield
    finally:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)


async def forward_connection(
    url: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Relay one local connection to `port` in the pod over a port-forward URL."""
    ws, _ = await open_websocket(f"{url}?port={port}", PORT_PROTOCOLS)

    async def upstream() -> None:
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            while data := await reader.read(READ_SIZE):
                await ws.send(bytes([0]) + data)

    sending = asyncio.ensure_future(upstream())
    seen: set[int] = set()
    try:
        while True:
            _, message = await ws.receive()
            if not message:
                continue
            channel, data = message[0], message[1:]
            if channel not in seen and len(data) == 2 and struct.unpack("<H", data)[0] == port:
                seen.add(channel)  # each channel first names its port
                continue
            if channel == 1 and data:
                print(f"crio-py: port {port}: {data.decode('utf-8', 'replace')}", file=sys.stderr)
            elif channel == 0:
                writer.write(data)
                await writer.drain()
    except (ConnectionClosed, WebSocketError, ConnectionError):
        pass
    finally:
        sending.cancel()
        await ws.close()
        writer.close()
