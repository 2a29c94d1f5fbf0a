"""One unix socket for gRPC and for plain HTTP/1.1, told apart by each connection's first bytes.

CRI-O serves its inspect API (`/info`, `/containers/<id>`, …) on the CRI socket beside gRPC
(with cmux), and cAdvisor, inside the kubelet, asks it there. grpc-python can only listen on a
path of its own, so on a CRI-O configuration the daemon listens on the CRI socket itself: a
connection whose first bytes are the HTTP/2 preface is relayed to gRPC's private socket by two
threads that move the bytes with splice(2) in the kernel (the event loop never sees them);
any other connection is an HTTP/1.1 client, handed to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

logger = logging.getLogger(__name__)

HTTP2_PREFACE = b"PRI * HTTP/2.0"
SNIFF_TIMEOUT_S = 30.0
_CHUNK = 1 << 16

HttpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class SharedSocket:
    """Listens on `public`; relays gRPC connections to `grpc_path`, serves the rest with
    `serve_http` on `loop`."""

    def __init__(
        self,
        public: Path,
        grpc_path: Path,
        serve_http: HttpHandler,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.public = public
        self.grpc_path = grpc_path
        self.serve_http = serve_http
        self.loop = loop
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = False

    def start(self) -> None:
        """Bind and listen (the caller has made the path free), then accept in a thread."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.public))
        listener.listen(socket.SOMAXCONN)
        self._listener = listener
        threading.Thread(target=self._accept, name="socket accept", daemon=True).start()

    def stop_accepting(self) -> None:
        """Accept no new connection; those open go on (in-flight RPCs finish)."""
        self._closing = True
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def close(self) -> None:
        """Stop accepting and cut every connection still open."""
        self.stop_accepting()
        with self._lock:
            live = list(self._open)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        listener = self._listener
        while listener is not None and not self._closing:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._route, args=(conn,), daemon=True).start()

    def _route(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(SNIFF_TIMEOUT_S)
            first = conn.recv(len(HTTP2_PREFACE), socket.MSG_PEEK | socket.MSG_WAITALL)
        except OSError:
            conn.close()
            return
        if not first:
            conn.close()
        elif first == HTTP2_PREFACE:
            self._relay(conn)
        else:
            conn.setblocking(False)
            asyncio.run_coroutine_threadsafe(self._http(conn), self.loop)

    async def _http(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(sock=conn)
        except OSError:
            conn.close()
            return
        try:
            await self.serve_http(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _relay(self, conn: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(str(self.grpc_path))
        except OSError as exc:
            logger.warning("Cannot reach the gRPC server at %s: %s", self.grpc_path, exc)
            upstream.close()
            conn.close()
            return
        conn.settimeout(None)
        pair = _Pair(conn, upstream, self)
        self._track(conn, upstream)
        threading.Thread(target=pair.pump, args=(upstream, conn), daemon=True).start()
        pair.pump(conn, upstream)

    def _track(self, *conns: socket.socket) -> None:
        with self._lock:
            self._open.update(conns)

    def _forget(self, *conns: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(conns)


class _Pair:
    """The two sockets of one relayed connection; the second direction to end closes both."""

    def __init__(self, client: socket.socket, upstream: socket.socket, owner: SharedSocket):
        self.sockets = (client, upstream)
        self.owner = owner
        self._running = 2
        self._lock = threading.Lock()

    def pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            _splice_all(source.fileno(), target.fileno())
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.owner._forget(*self.sockets)
            for sock in self.sockets:
                sock.close()


def _splice_all(source: int, target: int) -> None:
    """Move bytes from `source` to `target` through a pipe until `source` ends."""
    read_end, write_end = os.pipe()
    try:
        while True:
            moved = os.splice(source, write_end, _CHUNK)
            if moved == 0:
                return
            while moved:
                moved -= os.splice(read_end, target, moved)
    finally:
        os.close(read_end)
        os.close(write_end)
