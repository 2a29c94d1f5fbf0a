"""The shared CRI socket: HTTP/2 connections relayed byte for byte, HTTP/1.1 ones served."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path

from crio_py.listener import HTTP2_PREFACE, SharedSocket


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


async def test_http2_is_relayed_and_http1_is_served(tmp_path: Path) -> None:
    upstream = _echo_server(tmp_path / "grpc.sock")
    served: list[bytes] = []

    async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    shared = SharedSocket(
        tmp_path / "cri.sock", tmp_path / "grpc.sock", serve_http, asyncio.get_running_loop()
    )
    shared.start()
    try:
        body = HTTP2_PREFACE + b" and frames" * 10_000
        relayed = await _exchange(tmp_path / "cri.sock", body, len(body))
        assert relayed == body.upper()
        answer = await _exchange(tmp_path / "cri.sock", b"GET /info HTTP/1.1\r\n\r\n", 27)
        assert answer == b"HTTP/1.1 204 No Content\r\n\r\n"
        assert served == [b"GET /info HTTP/1.1\r\n\r\n"]
    finally:
        shared.close()
        upstream.close()


async def test_a_connection_that_closes_at_once_is_dropped(tmp_path: Path) -> None:
    async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("nothing to serve")

    shared = SharedSocket(
        tmp_path / "cri.sock", tmp_path / "none.sock", serve_http, asyncio.get_running_loop()
    )
    shared.start()
    try:
        _, writer = await asyncio.open_unix_connection(str(tmp_path / "cri.sock"))
        writer.close()
        # gRPC's private socket is gone: the client's connection is closed, not hung.
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "cri.sock"))
        writer.write(HTTP2_PREFACE)
        with contextlib.suppress(ConnectionResetError):  # closed with data unread: a reset
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        shared.close()
