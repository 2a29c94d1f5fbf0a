"""WebSocket framing (RFC 6455): the accept key, frames of every length class, masking,
fragments, control frames between them, and protocol errors."""

from __future__ import annotations

import asyncio
import struct

import pytest

from crio_py.websocket import (
    ConnectionClosed,
    Opcode,
    WebSocket,
    WebSocketError,
    accept_key,
    encode_frame,
    read_frame,
)


def test_accept_key_of_the_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
async def test_frames_round_trip(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for mask in (False, True):
        frame = await read_frame(
            _reader(encode_frame(Opcode.BINARY, payload, mask=mask)), expect_mask=mask
        )
        assert (frame.opcode, frame.payload, frame.fin) == (Opcode.BINARY, payload, True)


async def test_masking_must_match_the_role() -> None:
    with pytest.raises(WebSocketError, match="masking"):
        await read_frame(_reader(encode_frame(Opcode.TEXT, b"x", mask=False)), expect_mask=True)


async def test_bad_frames() -> None:
    with pytest.raises(WebSocketError, match="reserved"):
        await read_frame(_reader(b"\xc2\x00"), expect_mask=False)
    with pytest.raises(WebSocketError, match="opcode"):
        await read_frame(_reader(b"\x83\x00"), expect_mask=False)
    with pytest.raises(WebSocketError, match="inside a frame"):
        await read_frame(_reader(b"\x82\x05ab"), expect_mask=False)
    with pytest.raises(WebSocketError, match="control frames"):
        await read_frame(_reader(b"\x09\x00"), expect_mask=False)  # a fragmented ping
    with pytest.raises(ConnectionClosed):
        await read_frame(_reader(b""), expect_mask=False)


class _Sink:
    """A StreamWriter stand-in that keeps what is written."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        pass


async def test_messages_are_reassembled_and_pings_answered() -> None:
    wire = (
        encode_frame(Opcode.BINARY, b"hel", mask=True, fin=False)
        + encode_frame(Opcode.PING, b"are you there", mask=True)
        + encode_frame(Opcode.CONTINUATION, b"lo", mask=True)
        + encode_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye", mask=True)
    )
    sink = _Sink()
    ws = WebSocket(_reader(wire), sink, client=False)  # type: ignore[arg-type]
    assert await ws.receive() == (Opcode.BINARY, b"hello")
    with pytest.raises(ConnectionClosed) as closed:
        await ws.receive()
    assert (closed.value.code, closed.value.reason) == (1000, "bye")
    sent = _reader(bytes(sink.data))
    pong = await read_frame(sent, expect_mask=False)
    assert (pong.opcode, pong.payload) == (Opcode.PONG, b"are you there")
    answer = await read_frame(sent, expect_mask=False)
    assert (answer.opcode, answer.payload) == (Opcode.CLOSE, struct.pack("!H", 1000))
    assert ws.closed


async def test_a_continuation_without_a_message_is_an_error() -> None:
    wire = encode_frame(Opcode.CONTINUATION, b"x", mask=True)
    ws = WebSocket(_reader(wire), _Sink(), client=False)  # type: ignore[arg-type]
    with pytest.raises(WebSocketError, match="continuation"):
        await ws.receive()
