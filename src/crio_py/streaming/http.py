"""Just enough HTTP/1.1 for the streaming server: read one request head, answer with an
error or switch protocols (WebSocket, SPDY/3.1)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 16 * 1024
HEAD_TIMEOUT_S = 30.0


class BadRequest(Exception):
    """The request cannot be served; `status` says how to answer."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "

    def header_list(self, name: str) -> list[str]:
        """A comma-separated header as a list of its values."""
        return [v.strip() for v in self.headers.get(name, "").split(",") if v.strip()]

    def flag(self, name: str) -> bool:
        """A query flag as kubectl sends it (`stdin=true`, `tty=1`)."""
        return self.query.get(name, [""])[-1].lower() in ("1", "true")

    @property
    def wants_websocket(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "websocket"

    @property
    def wants_spdy(self) -> bool:
        return self.headers.get("upgrade", "").lower().startswith("spdy/3.1")


async def read_request(reader: asyncio.StreamReader) -> Request:
    """The request line and headers (the body of an upgrade request is empty)."""
    try:
        async with asyncio.timeout(HEAD_TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "incomplete request head") from None
    if len(head) > MAX_HEAD:
        raise BadRequest(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too big")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"bad request line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(HTTPStatus.BAD_REQUEST, f"bad header line {line[:80]!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    url = urlsplit(parts[1])
    return Request(parts[0], url.path, parse_qs(url.query), headers)


def error_response(status: HTTPStatus, message: str) -> bytes:
    body = (message + "\n").encode("utf-8")
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def switching_protocols(headers: dict[str, str]) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
