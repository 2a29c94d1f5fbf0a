"""What Exec, Attach and PortForward park behind a token. The streaming server knows nothing
of containers: the RPC hands it a runner for the command and a connector for ports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class TerminalSize:
    width: int
    height: int


@dataclass
class CommandStreams:
    """The session's side of a command: input to give it, output to send, resizes.

    `stdin` yields bytes and finally None (end of input); it is None when the client sends
    no input. `stdout`/`stderr` are None when the client did not ask for them.
    """

    tty: bool
    stdin: asyncio.Queue[bytes | None] | None
    stdout: Callable[[bytes], Awaitable[None]] | None
    stderr: Callable[[bytes], Awaitable[None]] | None
    resizes: asyncio.Queue[TerminalSize] = field(default_factory=asyncio.Queue)


CommandRunner = Callable[[CommandStreams], Awaitable["int | None"]]
"""Runs the command with the streams: its exit code, or None when there is none (attach)."""


@dataclass(frozen=True)
class CommandRequest:
    """An Exec or Attach waiting for its connection."""

    kind: Literal["exec", "attach"]
    container_id: str
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    run: CommandRunner


class Duplex(Protocol):
    """A byte stream both ways: one forwarded TCP connection."""

    async def read(self) -> bytes:
        """The next bytes; b"" at the end."""

    async def write(self, data: bytes) -> None: ...

    async def close_write(self) -> None:
        """No more data from the client."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class PortForwardRequest:
    """A PortForward waiting for its connection: `connect(port)` opens one TCP connection
    inside the pod's network namespace."""

    sandbox_id: str
    ports: tuple[int, ...]
    connect: Callable[[int], Awaitable[Duplex]]
