"""Attach to a container's own stdio through conmon (CRI-O's AttachContainer).

conmon listens on `<socket dir>/<container id>/attach` (a link into the bundle), a unix
SOCK_SEQPACKET socket. Each packet it sends is one byte naming the stream (2 stdout, 3
stderr) and up to 8192 bytes of output; what we send is the container's stdin, and shutting
down our write side ends it. A terminal is resized by writing "1 <height> <width>" to the
bundle's `ctl` fifo (`conmon.write_ctl`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from crio_py.backends.conmon import CTL_RESIZE, write_ctl
from crio_py.errors import FailedPreconditionError

PIPE_STDOUT, PIPE_STDERR = 2, 3
BUFFER = 8192 + 1  # conmon's STDIO_BUF_SIZE and the stream byte

Write = Callable[[bytes], Awaitable[None]]
NextSize = Callable[[], Awaitable[tuple[int, int]]]
"""Waits for the next terminal size the client asks for: (width, height)."""


async def attach(
    socket_path: Path,
    bundle_dir: Path,
    *,
    stdin: asyncio.Queue[bytes | None] | None,
    stdout: Write | None,
    stderr: Write | None,
    next_size: NextSize,
    close_stdin: bool,
) -> None:
    """Relay until conmon closes the socket (the container exited), or until stdin ends
    when that does not close the container's stdin (CRI-O's AttachContainer)."""
    connection = await _connect(socket_path)
    loop = asyncio.get_running_loop()
    tasks = [asyncio.ensure_future(_resize(bundle_dir, next_size))]
    try:
        waits = [asyncio.ensure_future(_receive(loop, connection, stdout, stderr))]
        if stdin is not None:
            sending = asyncio.ensure_future(_send(loop, connection, stdin, close_stdin))
            tasks.append(sending)
            if not close_stdin:
                waits.append(sending)
        tasks += waits
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        connection.close()


async def _connect(path: Path) -> socket.socket:
    """Connect through /proc/self/fd, as podman does: the socket's own path may be longer
    than a unix socket address can be (108 bytes)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    connection.setblocking(False)
    try:
        handle = os.open(path, os.O_PATH)
        try:
            await asyncio.get_running_loop().sock_connect(connection, f"/proc/self/fd/{handle}")
        finally:
            os.close(handle)
    except OSError as exc:
        connection.close()
        raise FailedPreconditionError(f"cannot attach through {path}: {exc}") from exc
    return connection


async def _receive(
    loop: asyncio.AbstractEventLoop,
    connection: socket.socket,
    stdout: Write | None,
    stderr: Write | None,
) -> None:
    while packet := await loop.sock_recv(connection, BUFFER):
        target = {PIPE_STDOUT: stdout, PIPE_STDERR: stderr}.get(packet[0])
        if target is not None and len(packet) > 1:
            await target(packet[1:])


async def _send(
    loop: asyncio.AbstractEventLoop,
    connection: socket.socket,
    stdin: asyncio.Queue[bytes | None],
    close_stdin: bool,
) -> None:
    while (data := await stdin.get()) is not None:
        for start in range(0, len(data), BUFFER - 1):
            await loop.sock_sendall(connection, data[start : start + BUFFER - 1])
    with contextlib.suppress(OSError):  # conmon closes the container's stdin if stdin_once
        connection.shutdown(socket.SHUT_WR)


async def _resize(bundle_dir: Path, next_size: NextSize) -> None:
    while True:
        width, height = await next_size()
        with contextlib.suppress(FailedPreconditionError):
            write_ctl(bundle_dir, CTL_RESIZE, height, width)
