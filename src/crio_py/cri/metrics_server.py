"""The Prometheus endpoint: HTTP GET `/metrics` (CRI-O's path) and `/v1/metrics` (containerd's)
on a TCP address (`host:port`, TLS when a certificate and key are given) or a unix socket
(`unix://PATH`, CRI-O's `metrics_socket`).

It runs on the daemon's event loop but never blocks it: a scrape's text is rendered in a
worker thread, and a client that sends no request line within `REQUEST_TIMEOUT_S` is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST

from crio_py.config.model import RuntimeSettings
from crio_py.cri import metrics
from crio_py.errors import InvalidArgumentError, UnavailableError

logger = logging.getLogger(__name__)

PATHS = frozenset({"/metrics", "/v1/metrics"})
REQUEST_TIMEOUT_S = 10.0
HEADER_LIMIT = 16 * 1024
SOCKET_MODE = 0o660


def split_address(address: str) -> tuple[str | None, int]:
    """`host:port` (`[v6]:port`, or `:port` for every interface) → (host, port)."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise InvalidArgumentError(f"metrics address {address!r} is not host:port")
    host = host.removeprefix("[").removesuffix("]")
    return host or None, int(port)


class MetricsServer:
    """Serves `render()` to scrapers until `close`."""

    def __init__(
        self,
        address: str,
        render: Callable[[], bytes],
        *,
        cert: Path | None = None,
        key: Path | None = None,
    ) -> None:
        self.address = address
        self.render = render
        self.cert = cert
        self.key = key
        self._server: asyncio.Server | None = None

    @property
    def bound(self) -> str:
        """Where it listens: the socket path, or host:port with the port it was given."""
        if self._server is None or not self._server.sockets:
            return ""
        name = self._server.sockets[0].getsockname()
        return str(name) if isinstance(name, str) else f"{name[0]}:{name[1]}"

    async def start(self) -> None:
        """Listen; UnavailableError when the address cannot be bound or TLS files read."""
        try:
            if self.address.startswith("unix://"):
                path = Path(self.address.removeprefix("unix://"))
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # a socket a previous daemon left
                self._server = await asyncio.start_unix_server(self._serve, path)
                os.chmod(path, SOCKET_MODE)
            else:
                host, port = split_address(self.address)
                self._server = await asyncio.start_server(self._serve, host, port, ssl=self._tls())
        except (OSError, ssl.SSLError) as exc:
            raise UnavailableError(
                f"cannot serve metrics on {self.address}: {exc.strerror or exc}"
            ) from exc
        scheme = "https" if self.cert else "http"
        logger.info("Serving metrics on %s://%s/metrics", scheme, self.bound)

    def _tls(self) -> ssl.SSLContext | None:
        if self.cert is None or self.key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            status, body, content_type = await self._answer(head)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + (b"" if head.startswith(b"HEAD ") else body)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that sent no complete request gets no answer
        except (ConnectionError, ssl.SSLError) as exc:
            logger.debug("Metrics client went away: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _answer(self, head: bytes) -> tuple[str, bytes, str]:
        if len(head) > HEADER_LIMIT:
            return "431 Request Header Fields Too Large", b"", "text/plain"
        method, _, rest = head.partition(b" ")
        target = rest.split(b" ", 1)[0].split(b"?", 1)[0].decode("latin-1")
        if method not in (b"GET", b"HEAD"):
            return "405 Method Not Allowed", b"only GET\n", "text/plain"
        if target not in PATHS:
            return "404 Not Found", b"metrics are at /metrics and /v1/metrics\n", "text/plain"
        body = await asyncio.to_thread(self.render)
        return "200 OK", body, CONTENT_TYPE_LATEST


async def start_metrics(settings: RuntimeSettings) -> MetricsServer | None:
    """The endpoint the settings ask for, serving and made the active metrics (None when
    they ask for none)."""
    if not settings.metrics_address:
        return None
    recorder = metrics.Metrics(
        "crio" if settings.source_format == "crio" else "containerd",
        collectors=settings.metrics_collectors,
        runtime_types={name: h.runtime_type for name, h in settings.runtimes.items()},
        default_runtime=settings.default_runtime,
    )
    server = MetricsServer(
        settings.metrics_address,
        recorder.render,
        cert=settings.metrics_cert,
        key=settings.metrics_key,
    )
    await server.start()
    metrics.install(recorder)
    return server


async def stop_metrics(server: MetricsServer | None) -> None:
    """Stop serving and reporting."""
    metrics.install(None)
    if server is not None:
        await server.close()
