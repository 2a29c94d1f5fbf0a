"""TCP connections inside a pod's network namespace, for port-forward: `nsenter --net=<pin>
busybox nc 127.0.0.1 <port>` relays one connection over its stdin and stdout, so the daemon
itself never enters another namespace."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from crio_py.backends import _exec

NSENTER = "nsenter"
NC = ("busybox", "nc")
READ_SIZE = 64 * 1024


class NetnsConnection:
    """One forwarded connection: bytes to and from 127.0.0.1:<port> in the namespace."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    async def read(self) -> bytes:
        """The next bytes; b"" at the end. ConnectionError if the connection never opened."""
        assert self.process.stdout is not None
        data = await self.process.stdout.read(READ_SIZE)
        if data:
            return data
        code = await self.process.wait()
        if code != 0:
            assert self.process.stderr is not None
            said = (await self.process.stderr.read()).decode("utf-8", "replace").strip()
            raise ConnectionError(said or f"cannot connect to port {self.port}")
        return b""

    async def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def close_write(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.process.stdin.close()

    async def close(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


async def connect(netns: Path, port: int) -> NetnsConnection:
    """Open a connection to 127.0.0.1:`port` inside the network namespace pinned at `netns`."""
    argv = [NSENTER, f"--net={netns}", *NC, "127.0.0.1", str(port)]
    process = await _exec.spawn(
        argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return NetnsConnection(process, port)


class HostConnection:
    """A forwarded connection for a host-network pod: 127.0.0.1:<port> of the host."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self) -> bytes:
        return await self.reader.read(READ_SIZE)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close_write(self) -> None:
        with contextlib.suppress(OSError):
            self.writer.write_eof()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def connect_host(port: int) -> HostConnection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return HostConnection(reader, writer)
