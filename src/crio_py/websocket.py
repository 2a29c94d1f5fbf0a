"""WebSocket framing (RFC 6455) over asyncio streams, for the streaming server and the
`ctl` client: the opening handshake's accept key, frames, and messages reassembled from
fragments with pings answered. Standard library only.

Frames from a client are masked (§5.3); frames from a server are not. A message is one
binary or text payload; control frames (ping, pong, close) may come between its fragments.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 64 * 1024 * 1024
"""The largest message accepted; a bigger one is a protocol error (close code 1009)."""


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class WebSocketError(Exception):
    """The peer broke the protocol, or the connection ended mid-frame."""


class ConnectionClosed(Exception):
    """The peer sent a close frame (or the stream ended cleanly between frames)."""

    def __init__(self, code: int = 1005, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()  # RFC 6455 asks for SHA-1
    return base64.b64encode(digest).decode("ascii")


def new_key() -> str:
    """A client's Sec-WebSocket-Key: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def encode_frame(opcode: Opcode, payload: bytes, *, mask: bool, fin: bool = True) -> bytes:
    """One frame; `mask` for frames a client sends."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + _unmask(payload, key)


def _unmask(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key, repeated (its own inverse)."""
    if not payload:
        return payload
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


@dataclass(frozen=True)
class Frame:
    opcode: Opcode
    payload: bytes
    fin: bool


async def read_frame(reader: asyncio.StreamReader, *, expect_mask: bool) -> Frame:
    """The next frame; `expect_mask` on a server (client frames must be masked)."""
    try:
        head = await reader.readexactly(2)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise ConnectionClosed(1006, "connection ended") from None
        raise WebSocketError("connection ended inside a frame header") from None
    fin, rsv, opcode_value = head[0] & 0x80, head[0] & 0x70, head[0] & 0x0F
    masked, length = head[1] & 0x80, head[1] & 0x7F
    if rsv:
        raise WebSocketError("reserved bits set without an extension")
    if opcode_value not in Opcode._value2member_map_:
        raise WebSocketError(f"unknown opcode {opcode_value:#x}")
    if bool(masked) != expect_mask:
        raise WebSocketError("frame masking does not match the sender's role")
    try:
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        if length > MAX_MESSAGE:
            raise WebSocketError(f"frame of {length} bytes is too big")
        key = await reader.readexactly(4) if masked else b""
        payload = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise WebSocketError("connection ended inside a frame") from None
    opcode = Opcode(opcode_value)
    if opcode >= Opcode.CLOSE and (not fin or length > 125):
        raise WebSocketError("control frames must be whole and at most 125 bytes")
    return Frame(opcode, _unmask(payload, key) if masked else payload, bool(fin))


def _nothing() -> None:
    pass


class WebSocket:
    """One established WebSocket connection: send and receive whole messages."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, client: bool
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.client = client
        self.closed = False
        self._send_lock = asyncio.Lock()
        self.on_activity: Callable[[], None] = _nothing

    async def send(self, payload: bytes, opcode: Opcode = Opcode.BINARY) -> None:
        if self.closed:
            raise ConnectionClosed(1006, "already closed")
        self.on_activity()
        async with self._send_lock:
            self.writer.write(encode_frame(opcode, payload, mask=self.client))
            await self.writer.drain()

    async def receive(self) -> tuple[Opcode, bytes]:
        """The next text or binary message; pings are answered on the way.

        Raises ConnectionClosed when the peer closes (after answering its close frame)."""
        parts: list[bytes] = []
        opcode: Opcode | None = None
        while True:
            frame = await read_frame(self.reader, expect_mask=not self.client)
            self.on_activity()
            if frame.opcode == Opcode.PING:
                await self._control(Opcode.PONG, frame.payload)
                continue
            if frame.opcode == Opcode.PONG:
                continue
            if frame.opcode == Opcode.CLOSE:
                await self._answer_close(frame.payload)
            if frame.opcode == Opcode.CONTINUATION:
                if opcode is None:
                    raise WebSocketError("continuation frame without a message")
            elif opcode is not None:
                raise WebSocketError("new message inside a fragmented one")
            else:
                opcode = frame.opcode
            parts.append(frame.payload)
            if sum(len(p) for p in parts) > MAX_MESSAGE:
                raise WebSocketError("message too big")
            if frame.fin:
                return opcode, b"".join(parts)

    async def _answer_close(self, payload: bytes) -> None:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        reason = payload[2:].decode("utf-8", "replace")
        if not self.closed:
            await self._control(Opcode.CLOSE, payload[:2])
            self.closed = True
        raise ConnectionClosed(code, reason)

    async def _control(self, opcode: Opcode, payload: bytes) -> None:
        async with self._send_lock:
            self.writer.write(encode_frame(opcode, payload, mask=self.client))
            await self.writer.drain()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (once) and close the transport."""
        if not self.closed:
            self.closed = True
            payload = struct.pack("!H", code) + reason.encode("utf-8")[:120]
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._control(Opcode.CLOSE, payload)
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
