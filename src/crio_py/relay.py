"""The relay behind a shared CRI socket (see listener.py): `python -m crio_py.relay FD GRPC HTTP`.

It accepts on the listening socket FD; each connection that opens with the HTTP/2 preface is
joined to the unix socket GRPC, any other to HTTP, by two threads that splice(2) the bytes
each way. Only the standard library, so that it starts fast; it dies with its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import threading

HTTP2_PREFACE = b"PRI * HTTP/2.0"
SNIFF_TIMEOUT_S = 30.0
_CHUNK = 1 << 16
_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[0].isdigit():
        print("usage: python -m crio_py.relay FD GRPC_SOCKET HTTP_SOCKET", file=sys.stderr)
        return 2
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        return 1
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    listener = socket.socket(fileno=int(argv[0]))
    grpc_path, http_path = argv[1], argv[2]
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        except OSError:
            return 1
        threading.Thread(target=_route, args=(conn, grpc_path, http_path), daemon=True).start()


def _route(conn: socket.socket, grpc_path: str, http_path: str) -> None:
    try:
        conn.settimeout(SNIFF_TIMEOUT_S)
        first = conn.recv(len(HTTP2_PREFACE), socket.MSG_PEEK | socket.MSG_WAITALL)
        conn.settimeout(None)
    except OSError:
        conn.close()
        return
    if not first:
        conn.close()
        return
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(grpc_path if first == HTTP2_PREFACE else http_path)
    except OSError:
        upstream.close()
        conn.close()
        return
    pair = _Pair(conn, upstream)
    threading.Thread(target=pair.pump, args=(upstream, conn), daemon=True).start()
    pair.pump(conn, upstream)


class _Pair:
    """The two sockets of one connection; the second direction to end closes both."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.sockets = (client, upstream)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
