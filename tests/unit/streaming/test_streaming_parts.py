"""The streaming server's parts: tokens, HTTP heads, statuses, protocol choice, ports, SPDY
header blocks and frames, and whole sessions against a fake command or port."""

from __future__ import annotations

import asyncio
import base64
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

import pytest

from crio_py.config.model import StreamSettings
from crio_py.ctl.stream import COMMAND_PROTOCOLS, exit_code_of, open_websocket
from crio_py.errors import UnavailableError
from crio_py.streaming import remotecommand, spdy_sessions
from crio_py.streaming.http import BadRequest, read_request
from crio_py.streaming.portforward import requested_ports
from crio_py.streaming.requests import CommandRequest, CommandStreams, PortForwardRequest
from crio_py.streaming.server import StreamServer
from crio_py.streaming.spdy import SPDY3_DICT, decode_headers, encode_headers
from crio_py.streaming.tokens import TokenStore
from crio_py.websocket import ConnectionClosed, Opcode
from tests.fixtures import spdy_client


def test_tokens_are_single_use_and_expire() -> None:
    now = [100.0]
    store: TokenStore[str] = TokenStore(ttl_s=60, clock=lambda: now[0])
    first, second = store.put("a"), store.put("b")
    assert first != second and len(first) >= 32
    assert store.take(first) == "a" and store.take(first) is None
    now[0] += 61
    assert store.take(second) is None and len(store) == 0


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_request_heads() -> None:
    request = await read_request(
        _reader(
            b"GET /exec/tok?command=sh&command=-c&stdin=1 HTTP/1.1\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Protocol: c\r\n\r\n"
        )
    )
    assert request.path == "/exec/tok" and request.query["command"] == ["sh", "-c"]
    assert request.flag("stdin") and not request.flag("tty")
    assert request.wants_websocket and not request.wants_spdy
    assert request.header_list("sec-websocket-protocol") == ["a", "b", "c"]
    with pytest.raises(BadRequest) as bad:
        await read_request(_reader(b"NONSENSE\r\n\r\n"))
    assert bad.value.status == HTTPStatus.BAD_REQUEST
    with pytest.raises(BadRequest):
        await read_request(_reader(b"GET / HTTP/1.1\r\n"))


def test_statuses() -> None:
    assert remotecommand.exit_status(0) == {"metadata": {}, "status": "Success"}
    failed = remotecommand.exit_status(3)
    assert failed["reason"] == "NonZeroExitCode" and exit_code_of(failed) == 3
    assert failed["message"] == "command terminated with non-zero exit code: exit status 3"
    internal = remotecommand.internal_error("attach", "gone")
    assert internal["code"] == 500 and "error attaching to container: gone" in str(internal)
    assert exit_code_of(internal) == 1


def test_protocol_choice_follows_the_client() -> None:
    choose = remotecommand.choose_protocol
    assert choose(["v4.channel.k8s.io", "v5.channel.k8s.io"]) == "v4.channel.k8s.io"
    assert choose(["base64.channel.k8s.io"]) == "base64.channel.k8s.io"
    assert choose(["v9.channel.k8s.io"]) is None


def test_requested_ports() -> None:
    assert requested_ports({"port": ["80,443", "8080"]}) == [80, 443, 8080]
    for bad in ({}, {"port": ["0"]}, {"port": ["x"]}, {"port": ["70000"]}):
        with pytest.raises(ValueError):
            requested_ports(bad)


def test_spdy_header_blocks() -> None:
    headers = {"streamtype": "stdout", "port": "80"}
    assert decode_headers(encode_headers({"StreamType": "stdout", "port": "80"})) == headers
    assert len(SPDY3_DICT) == 1423 and zlib.adler32(SPDY3_DICT) == 0xE3C6A7C2
    deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, SPDY3_DICT)
    empty = deflate.compress(encode_headers({})) + deflate.flush(zlib.Z_SYNC_FLUSH)
    assert empty == bytes.fromhex("78f9e3c6a7c202a6230600000000ffff")
    with pytest.raises(Exception, match="bad header block"):
        decode_headers(b"\x00\x00\x00\x01\x00\x00\x00\x09ab")


def test_expected_spdy_streams() -> None:
    async def run(_: CommandStreams) -> int | None:
        return 0

    tty = CommandRequest("exec", "c", True, True, True, False, run)
    assert spdy_sessions.expected_streams(tty, "v4.channel.k8s.io") == {
        "error",
        "stdin",
        "stdout",
        "resize",
    }
    assert spdy_sessions.expected_streams(tty, "v2.channel.k8s.io") == {"error", "stdin", "stdout"}


@asynccontextmanager
async def _server() -> AsyncIterator[StreamServer]:
    server = StreamServer(StreamSettings(address="127.0.0.1", port=0))
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def _echo_request(exit_code: int) -> CommandRequest:
    async def run(streams: CommandStreams) -> int | None:
        assert streams.stdin is not None and streams.stdout is not None
        while (data := await streams.stdin.get()) is not None:
            await streams.stdout(data.upper())
        return exit_code

    return CommandRequest("exec", "c" * 64, False, True, True, False, run)


async def test_a_websocket_session_against_a_fake_command() -> None:
    async with _server() as server:
        url = server.url_for("exec", _echo_request(4))
        ws, protocol = await open_websocket(url, COMMAND_PROTOCOLS)
        assert protocol == "v5.channel.k8s.io"
        await ws.send(b"\x00hello")
        await ws.send(b"\xff\x00")  # v5: close stdin
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append((await ws.receive())[1])
        assert messages[0] == b"\x01"  # the first, empty message
        assert b"\x01HELLO" in messages
        assert exit_code_of(json.loads(messages[-1][1:])) == 4
        await ws.close()
        with pytest.raises(Exception, match="404"):
            await open_websocket(url, COMMAND_PROTOCOLS)  # used


async def test_a_spdy_session_against_a_fake_command() -> None:
    async with _server() as server:
        url = server.url_for("exec", _echo_request(0))
        client, protocol = await spdy_client.connect(url, ["v4.channel.k8s.io"])
        assert protocol == "v4.channel.k8s.io"
        error = await client.open_stream({"streamType": "error"})
        stdin = await client.open_stream({"streamType": "stdin"})
        stdout = await client.open_stream({"streamType": "stdout"})
        await client.send(stdin, b"spdy", fin=True)
        await asyncio.wait_for(error.finished.wait(), 5)
        assert bytes(stdout.data) == b"SPDY"
        assert json.loads(bytes(error.data)) == {"metadata": {}, "status": "Success"}
        await asyncio.wait_for(client.goaway.wait(), 5)
        await client.close()


async def test_spdy_negotiation_errors() -> None:
    async with _server() as server:
        url = server.url_for("exec", _echo_request(0))
        with pytest.raises(ConnectionError, match="403"):
            await spdy_client.connect(url, ["v9.channel.k8s.io"])


class _Loopback:
    """A fake forwarded connection that answers what it gets, reversed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.queue.get()

    async def write(self, data: bytes) -> None:
        await self.queue.put(data[::-1])

    async def close_write(self) -> None:
        await self.queue.put(b"")

    async def close(self) -> None:
        pass


async def test_port_forward_pairs_over_spdy() -> None:
    async def connect(port: int) -> _Loopback:
        if port == 9:
            raise ConnectionRefusedError("nothing listens")
        return _Loopback()

    async with _server() as server:
        url = server.url_for("portforward", PortForwardRequest("s" * 64, (80,), connect))
        client, _ = await spdy_client.connect(url, ["portforward.k8s.io"])
        streams = []
        for request_id, port in enumerate((80, 80, 9)):
            headers = {"port": str(port), "requestID": str(request_id)}
            error = await client.open_stream({**headers, "streamType": "error"})
            data = await client.open_stream({**headers, "streamType": "data"})
            streams.append((error, data))
        bad = await client.open_stream({"streamType": "data"})  # no port
        for index, (_, data) in enumerate(streams[:2]):
            await client.send(data, f"abc{index}".encode(), fin=True)
        for error, data in streams:
            await asyncio.wait_for(data.finished.wait(), 5)
            await asyncio.wait_for(error.finished.wait(), 5)
        assert [bytes(d.data) for _, d in streams[:2]] == [b"0cba", b"1cba"]
        assert b"nothing listens" in bytes(streams[2][0].data)
        await asyncio.wait_for(bad.finished.wait(), 5)
        assert bad.reset == 5  # CANCEL
        await client.close()


async def test_tls_without_a_certificate_gets_a_self_signed_one(tmp_path: Path) -> None:
    server = StreamServer(StreamSettings(address="127.0.0.1", port=0, tls_enabled=True), tmp_path)
    await server.start()
    try:
        assert server.base_url.startswith("https://127.0.0.1:")
        assert (tmp_path / "stream.key").stat().st_mode & 0o777 == 0o600
        url = server.url_for("exec", _echo_request(0))
        ws, _ = await open_websocket(url, COMMAND_PROTOCOLS)
        await ws.send(b"\xff\x00")
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.receive()
        await ws.close()
    finally:
        await server.close()


async def test_a_websocket_without_a_subprotocol_gets_plain_channels() -> None:
    async with _server() as server:
        url = server.url_for("exec", _echo_request(2))
        ws, protocol = await open_websocket(url, ())
        assert protocol == ""
        await ws.send(b"\x00x")
        messages = [(await ws.receive())[1] for _ in range(2)]
        assert messages == [b"\x01", b"\x01X"]
        await ws.close()


async def test_an_idle_session_is_closed() -> None:
    stopped = asyncio.Event()

    async def run(streams: CommandStreams) -> int | None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return 0

    settings = StreamSettings(address="127.0.0.1", port=0, idle_timeout_s=0.3)
    server = StreamServer(settings)
    await server.start()
    try:
        url = server.url_for("exec", CommandRequest("exec", "c", False, False, True, False, run))
        ws, _ = await open_websocket(url, COMMAND_PROTOCOLS)
        assert (await ws.receive())[1] == b"\x01"
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.receive(), 5)
        await asyncio.wait_for(stopped.wait(), 5)  # the command was stopped too
        await ws.close()
    finally:
        await server.close()


async def test_an_address_it_cannot_bind_is_a_clear_error(tmp_path: Path) -> None:
    server = StreamServer(StreamSettings(address="203.0.113.1", port=10010))
    with pytest.raises(UnavailableError, match=r"cannot listen on 203\.0\.113\.1:10010"):
        await server.start()
    missing = StreamSettings(
        address="127.0.0.1",
        port=0,
        tls_enabled=True,
        tls_cert=tmp_path / "none.crt",
        tls_key=tmp_path / "none.key",
    )
    with pytest.raises(UnavailableError, match="cannot listen"):
        await StreamServer(missing).start()


async def test_base64_channels() -> None:
    async with _server() as server:
        url = server.url_for("exec", _echo_request(0))
        ws, protocol = await open_websocket(url, ("v4.base64.channel.k8s.io",))
        assert protocol == "v4.base64.channel.k8s.io"
        assert await ws.receive() == (Opcode.TEXT, b"1")  # empty, on stdout
        await ws.send(b"0" + base64.b64encode(b"hi"), Opcode.TEXT)
        assert await ws.receive() == (Opcode.TEXT, b"1" + base64.b64encode(b"HI"))
        await ws.send(b"0!!not base64", Opcode.TEXT)  # ends the session
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.receive()
        await ws.close()
