"""SPDY/3.1 framing as the Kubernetes streaming clients speak it (moby/spdystream): control
frames (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE),
DATA frames, and name/value header blocks compressed with one zlib stream per direction
primed with the SPDY/3 dictionary and sync-flushed after each block.

There is no flow control (spdystream neither sends nor honours WINDOW_UPDATE). The server
side is all that is here: clients open streams (odd ids), the server replies to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable
from enum import IntEnum

logger = logging.getLogger(__name__)

VERSION = 3
FLAG_FIN = 0x01
MAX_FRAME = (1 << 24) - 1


class FrameType(IntEnum):
    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    CANCEL = 5
    INTERNAL_ERROR = 6


class SpdyError(Exception):
    """The peer broke the framing; the connection cannot go on."""


SPDY3_DICT = (
    b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put"
    b"\x00\x00\x00\x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\x00\x00\x00\x0eac"
    b"cept-charset\x00\x00\x00\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00"
    b"\x00\raccept-ranges\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\rauthorizat"
    b"ion\x00\x00\x00\rcache-control\x00\x00\x00\nconnection\x00\x00\x00\x0ccontent-base"
    b"\x00\x00\x00\x10content-encoding\x00\x00\x00\x10content-language\x00\x00\x00\x0econ"
    b"tent-length\x00\x00\x00\x10content-location\x00\x00\x00\x0bcontent-md5\x00\x00\x00"
    b"\rcontent-range\x00\x00\x00\x0ccontent-type\x00\x00\x00\x04date\x00\x00\x00\x04etag"
    b"\x00\x00\x00\x06expect\x00\x00\x00\x07expires\x00\x00\x00\x04from\x00\x00\x00\x04ho"
    b"st\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since\x00\x00\x00\rif-none-ma"
    b"tch\x00\x00\x00\x08if-range\x00\x00\x00\x13if-unmodified-since\x00\x00\x00\rlast-mo"
    b"dified\x00\x00\x00\x08location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma"
    b"\x00\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization\x00\x00\x00"
    b"\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after\x00\x00\x00\x06server"
    b"\x00\x00\x00\x02te\x00\x00\x00\x07trailer\x00\x00\x00\x11transfer-encoding\x00\x00"
    b"\x00\x07upgrade\x00\x00\x00\nuser-agent\x00\x00\x00\x04vary\x00\x00\x00\x03via\x00"
    b"\x00\x00\x07warning\x00\x00\x00\x10www-authenticate\x00\x00\x00\x06method\x00\x00"
    b"\x00\x03get\x00\x00\x00\x06status\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\x00"
    b"\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url\x00\x00\x00\x06public\x00\x00\x00\nset-cook"
    b"ie\x00\x00\x00\nkeep-alive\x00\x00\x00\x06origin10010120120220520630030230330430530"
    b"6307402405406407408409410411412413414415416417502504505203 Non-Authoritative Inform"
    b"ation204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidde"
    b"n404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJa"
    b"n Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sa"
    b"t, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,applicat"
    b"ion/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchchar"
    b"set=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
"""The SPDY/3 header compression dictionary (a protocol constant: 1423 bytes)."""


def encode_headers(headers: dict[str, str]) -> bytes:
    """An uncompressed name/value block: u32 count, then u32-length-prefixed names and values."""
    parts = [struct.pack("!I", len(headers))]
    for name, value in headers.items():
        for item in (name.lower().encode(), value.encode()):
            parts += [struct.pack("!I", len(item)), item]
    return b"".join(parts)


def decode_headers(block: bytes) -> dict[str, str]:
    """Names lower-cased; several values of one name stay joined by NUL."""
    try:
        (count,) = struct.unpack_from("!I", block)
        offset, headers = 4, {}
        for _ in range(count):
            items = []
            for _ in range(2):
                (length,) = struct.unpack_from("!I", block, offset)
                items.append(block[offset + 4 : offset + 4 + length].decode("utf-8"))
                offset += 4 + length
            headers[items[0].lower()] = items[1]
    except (struct.error, UnicodeDecodeError) as exc:
        raise SpdyError(f"bad header block: {exc}") from None
    return headers


class SpdyStream:
    """One stream the client opened: its headers, what it sent, and writing back."""

    def __init__(self, connection: SpdyConnection, stream_id: int, headers: dict[str, str]):
        self.connection = connection
        self.id = stream_id
        self.headers = headers
        self._received: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_closed = False
        self.local_closed = False

    async def read(self) -> bytes:
        """The next data from the client; b"" once it half-closed (or reset) the stream."""
        if self.remote_closed and self._received.empty():
            return b""
        return await self._received.get()

    def _feed(self, data: bytes, fin: bool) -> None:
        if data:
            self._received.put_nowait(data)
        if fin and not self.remote_closed:
            self.remote_closed = True
            self._received.put_nowait(b"")

    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), MAX_FRAME):
            await self.connection.send_data(self.id, data[start : start + MAX_FRAME], fin=False)

    async def close(self) -> None:
        """Half-close: an empty DATA frame with FIN."""
        if not self.local_closed:
            self.local_closed = True
            await self.connection.send_data(self.id, b"", fin=True)

    async def reset(self, status: RstStatus = RstStatus.CANCEL) -> None:
        if not self.local_closed:
            self.local_closed = True
            self._feed(b"", fin=True)
            await self.connection.send_control(
                FrameType.RST_STREAM, struct.pack("!II", self.id, status)
            )


NewStream = Callable[[SpdyStream], Awaitable[bool]]
"""Decides about a new stream: True to accept it (SYN_REPLY), False to refuse it (RST)."""


class SpdyConnection:
    """The server end of a SPDY/3.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, SpdyStream] = {}
        self._compress = zlib.compressobj(
            9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, SPDY3_DICT
        )
        self._decompress = zlib.decompressobj(zdict=SPDY3_DICT)
        self._send_lock = asyncio.Lock()
        self._last_id = 0
        self.closed = False
        self.on_activity: Callable[[], None] = lambda: None

    async def serve(self, new_stream: NewStream) -> None:
        """Read frames until the client goes away or says GOAWAY."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while not self.closed:
                head = await self.reader.readexactly(8)
                self.on_activity()
                if head[0] & 0x80:
                    if not await self._control(head, new_stream):
                        break
                else:
                    await self._data(head)
        for stream in self.streams.values():
            stream._feed(b"", fin=True)

    async def _control(self, head: bytes, new_stream: NewStream) -> bool:
        kind, flags, length = struct.unpack("!H", head[2:4])[0], head[4], int.from_bytes(head[5:8])
        payload = await self.reader.readexactly(length)
        if kind == FrameType.SYN_STREAM:
            await self._syn_stream(payload, flags, new_stream)
        elif kind == FrameType.RST_STREAM:
            (stream_id,) = struct.unpack_from("!I", payload)
            stream = self.streams.pop(stream_id & 0x7FFFFFFF, None)
            if stream is not None:
                stream.local_closed = True
                stream._feed(b"", fin=True)
        elif kind == FrameType.PING:
            (ping_id,) = struct.unpack_from("!I", payload)
            if ping_id % 2:  # the client's ping: echo it
                await self.send_control(FrameType.PING, payload)
        elif kind == FrameType.GOAWAY:
            return False
        elif kind == FrameType.HEADERS:
            self._decompress.decompress(payload[4:])  # keeps the zlib stream in step
        return True

    async def _syn_stream(self, payload: bytes, flags: int, new_stream: NewStream) -> None:
        (stream_id,) = struct.unpack_from("!I", payload)
        stream_id &= 0x7FFFFFFF
        headers = decode_headers(self._decompress.decompress(payload[10:]))
        if stream_id <= self._last_id or stream_id % 2 == 0:
            await self.send_control(
                FrameType.RST_STREAM, struct.pack("!II", stream_id, RstStatus.PROTOCOL_ERROR)
            )
            return
        self._last_id = stream_id
        stream = SpdyStream(self, stream_id, headers)
        if flags & FLAG_FIN:
            stream._feed(b"", fin=True)
        self.streams[stream_id] = stream
        if await new_stream(stream):
            await self.send_control(
                FrameType.SYN_REPLY, struct.pack("!I", stream_id) + self._block({})
            )
        else:
            del self.streams[stream_id]
            await stream.reset()

    async def _data(self, head: bytes) -> None:
        (stream_id,) = struct.unpack_from("!I", head)
        flags, length = head[4], int.from_bytes(head[5:8])
        data = await self.reader.readexactly(length)
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream._feed(data, fin=bool(flags & FLAG_FIN))

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = encode_headers(headers)
        return self._compress.compress(raw) + self._compress.flush(zlib.Z_SYNC_FLUSH)

    async def send_control(self, kind: FrameType, payload: bytes, flags: int = 0) -> None:
        head = struct.pack("!HHB", 0x8000 | VERSION, kind, flags) + len(payload).to_bytes(3)
        await self._send(head + payload)

    async def send_data(self, stream_id: int, data: bytes, *, fin: bool) -> None:
        head = struct.pack("!IB", stream_id, FLAG_FIN if fin else 0) + len(data).to_bytes(3)
        await self._send(head + data)

    async def _send(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionError("the SPDY connection is closed")
        self.on_activity()
        async with self._send_lock:
            self.writer.write(frame)
            await self.writer.drain()

    async def close(self) -> None:
        """Reset what is still open, say GOAWAY and close the transport."""
        if self.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            for stream in list(self.streams.values()):
                if not stream.local_closed:
                    await stream.reset()
            await self.send_control(FrameType.GOAWAY, struct.pack("!II", self._last_id, 0))
        self.closed = True
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
