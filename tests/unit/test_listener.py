"""The shared CRI socket: HTTP/2 connections relayed byte for byte to gRPC's socket, the rest
to the HTTP server, by the relay process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path

from crio_py.daemon import _socket_is_live
from crio_py.listener import SharedSocket
from crio_py.relay import HTTP2_PREFACE


def _echo_server(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return server


async def _exchange(path: Path, payload: bytes, expected: int) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(payload)
    await writer.drain()
    got = await reader.readexactly(expected)
    writer.write_eof()
    rest = await asyncio.wait_for(reader.read(), 5)  # the relay passes the close on
    writer.close()
    return got + rest


async def _serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 204 No Content\r\nX-Seen: " + str(len(head)).encode() + b"\r\n\r\n")
    await writer.drain()


async def test_http2_is_relayed_and_http1_is_served(tmp_path: Path) -> None:
    upstream = _echo_server(tmp_path / "grpc.sock")
    shared = SharedSocket(
        tmp_path / "cri.sock", tmp_path / "grpc.sock", tmp_path / "http.sock", _serve_http
    )
    await shared.start()
    try:
        body = HTTP2_PREFACE + b" and frames" * 10_000
        relayed = await _exchange(tmp_path / "cri.sock", body, len(body))
        assert relayed == body.upper()
        answer = await _exchange(tmp_path / "cri.sock", b"GET /info HTTP/1.1\r\n\r\n", 39)
        assert answer == b"HTTP/1.1 204 No Content\r\nX-Seen: 22\r\n\r\n"
        assert oct((tmp_path / "http.sock").stat().st_mode & 0o777) == "0o600"
    finally:
        await shared.close()
        upstream.close()
    assert not _socket_is_live(tmp_path / "cri.sock")  # the relay is gone


async def test_a_connection_whose_upstream_is_gone_is_closed(tmp_path: Path) -> None:
    shared = SharedSocket(
        tmp_path / "cri.sock", tmp_path / "none.sock", tmp_path / "http.sock", _serve_http
    )
    await shared.start()
    try:
        _, writer = await asyncio.open_unix_connection(str(tmp_path / "cri.sock"))
        writer.close()  # closes at once: dropped
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "cri.sock"))
        writer.write(HTTP2_PREFACE)
        with contextlib.suppress(ConnectionResetError):  # closed with data unread: a reset
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await shared.close()

