"""One unix socket for gRPC and for plain HTTP/1.1, told apart by each connection's first bytes.

CRI-O serves its inspect API (`/info`, `/containers/<id>`, …) on the CRI socket beside gRPC
(with cmux), and cAdvisor, inside the kubelet, asks it there. grpc-python can only listen on a
path of its own, so on a CRI-O configuration the daemon binds the CRI socket itself and hands
it to a relay process (`python -m crio_py.relay`): a connection that opens with the HTTP/2
preface goes to gRPC's private socket, any other to the daemon's private HTTP socket, the bytes
moved by splice(2) in the kernel. The relay is its own process so that moving bytes never
waits for the daemon's interpreter lock; it dies with the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

logger = logging.getLogger(__name__)

HttpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
STOP_TIMEOUT_S = 5.0


class SharedSocket:
    """`public` relayed to gRPC on `grpc_path` and to `serve_http` on `http_path`."""

    def __init__(
        self, public: Path, grpc_path: Path, http_path: Path, serve_http: HttpHandler
    ) -> None:
        self.public = public
        self.grpc_path = grpc_path
        self.http_path = http_path
        self.serve_http = serve_http
        self._http: asyncio.Server | None = None
        self._relay: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        """Serve HTTP on the private socket, bind the public one (its path made free by the
        caller) and start the relay on it."""
        self._http = await asyncio.start_unix_server(self._serve, path=str(self.http_path))
        self.http_path.chmod(0o600)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(self.public))
            listener.listen(socket.SOMAXCONN)
            self._relay = subprocess.Popen(
                [
                    sys.executable, "-m", "crio_py.relay", str(listener.fileno()),
                    str(self.grpc_path), str(self.http_path),
                ],
                pass_fds=(listener.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        logger.debug("Relaying %s (pid %d)", self.public, self._relay.pid)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.serve_http(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        """Stop the relay (its connections close with it) and the HTTP server."""
        if self._relay is not None:
            self._relay.terminate()
            try:
                await asyncio.to_thread(self._relay.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._relay.kill()
                await asyncio.to_thread(self._relay.wait)
        if self._http is not None:
            self._http.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._http.wait_closed(), STOP_TIMEOUT_S)
