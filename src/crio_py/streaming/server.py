"""`StreamServer`: the HTTP server the Exec, Attach and PortForward URLs point at.

A URL is `http(s)://<address>:<port>/<exec|attach|portforward>/<token>`. The first request
for a token takes it (a second one, or one after a minute, gets 404); the request must ask
to upgrade to WebSocket (or SPDY/3.1) with a subprotocol this server speaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from http import HTTPStatus
from pathlib import Path

from crio_py.backends import certs
from crio_py.config.model import StreamSettings
from crio_py.errors import ConfigError, UnavailableError
from crio_py.streaming import portforward, remotecommand, spdy_sessions
from crio_py.streaming.channels import ChannelSocket
from crio_py.streaming.http import (
    BadRequest,
    Request,
    error_response,
    read_request,
    switching_protocols,
)
from crio_py.streaming.requests import CommandRequest, PortForwardRequest
from crio_py.streaming.spdy import SpdyConnection
from crio_py.streaming.tokens import TokenStore
from crio_py.websocket import WebSocket, accept_key

logger = logging.getLogger(__name__)

Parked = CommandRequest | PortForwardRequest
KINDS = ("exec", "attach", "portforward")


class IdleTimer:
    """`async with`: TimeoutError out of the block once `touch` has not been called for
    `timeout_s` (the stream idle timeout of the configuration)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._timeout: asyncio.Timeout | None = None

    def touch(self) -> None:
        if self._timeout is not None and self.timeout_s > 0:
            self._timeout.reschedule(asyncio.get_running_loop().time() + self.timeout_s)

    async def __aenter__(self) -> IdleTimer:
        self._timeout = asyncio.timeout(self.timeout_s if self.timeout_s > 0 else None)
        await self._timeout.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._timeout is not None
        await self._timeout.__aexit__(*exc)  # type: ignore[arg-type]


class StreamServer:
    """Serves the streaming URLs of one daemon."""

    def __init__(self, settings: StreamSettings, cert_dir: Path | None = None) -> None:
        self.settings = settings
        self.cert_dir = cert_dir
        self.tokens: TokenStore[Parked] = TokenStore()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self.port = settings.port

    async def start(self) -> None:
        """Listen on the configured address (a port of 0 picks a free one). TLS without a
        configured certificate gets a self-signed one, as containerd does."""
        s = self.settings
        if s.tls_enabled and (s.tls_cert is None or s.tls_key is None):
            if self.cert_dir is None:
                raise ConfigError("TLS streaming needs a certificate or a directory for one")
            cert, key = await certs.self_signed(self.cert_dir, s.address or "127.0.0.1")
            self.settings = s.model_copy(update={"tls_cert": cert, "tls_key": key})
        try:
            self._server = await asyncio.start_server(
                self._serve_connection,
                self.settings.address,
                self.settings.port,
                ssl=self._ssl_context(),
            )
        except (OSError, ssl.SSLError) as exc:
            where = f"{self.settings.address}:{self.settings.port}"
            raise UnavailableError(f"the streaming server cannot listen on {where}: {exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("Streaming server listening on %s", self.base_url)

    def _ssl_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls_enabled or s.tls_cert is None or s.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(s.tls_cert, s.tls_key)
        if s.tls_ca is not None:
            context.load_verify_locations(s.tls_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    @property
    def base_url(self) -> str:
        scheme = "https" if self._ssl_context() is not None else "http"
        host = self.settings.address or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    def url_for(self, kind: str, request: Parked) -> str:
        """Park `request` and return the URL that takes it."""
        return f"{self.base_url}/{kind}/{self.tokens.put(request)}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for session in list(self._sessions):
            session.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await self._serve(reader, writer)
        except TimeoutError:
            logger.info("Closed a streaming session idle for %g s", self.settings.idle_timeout_s)
        except BadRequest as exc:
            with contextlib.suppress(ConnectionError):
                writer.write(error_response(exc.status, str(exc)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            logger.exception("Streaming session failed")
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        parked = self._route(request)
        if request.wants_spdy:
            await self._serve_spdy(request, reader, writer, parked)
            return
        if not request.wants_websocket:
            raise BadRequest(
                HTTPStatus.BAD_REQUEST, "this endpoint needs a WebSocket or SPDY/3.1 upgrade"
            )
        offered = request.header_list("sec-websocket-protocol")
        if isinstance(parked, CommandRequest):
            protocol = remotecommand.choose_protocol(offered)
        else:
            protocol = next((p for p in offered if p in portforward.PROTOCOLS), None)
        if protocol is None and not offered:
            protocol = ""  # no subprotocol: the plain channel framing, as the kubelet allows
        if protocol is None:
            raise BadRequest(
                HTTPStatus.BAD_REQUEST, f"none of the subprotocols {offered} is supported"
            )
        ws = await self._accept(request, writer, reader, protocol)
        idle = IdleTimer(self.settings.idle_timeout_s)
        ws.on_activity = idle.touch
        async with idle:
            await self._serve_websocket(ws, request, protocol, parked)

    async def _serve_websocket(
        self, ws: WebSocket, request: Request, protocol: str, parked: Parked
    ) -> None:
        if isinstance(parked, CommandRequest):
            await remotecommand.serve_command(ws, protocol, parked)
        else:
            try:  # the ports of the CRI request, else those of the URL
                ports = list(parked.ports) or portforward.requested_ports(request.query)
            except ValueError as exc:
                channels = ChannelSocket(ws, protocol)
                await channels.send(1, str(exc).encode())
                await channels.close()
                return
            await portforward.serve_ports(ws, protocol, parked, ports)

    async def _serve_spdy(
        self,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parked: Parked,
    ) -> None:
        offered = request.header_list("x-stream-protocol-version")
        if not offered:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "X-Stream-Protocol-Version is required")
        served = (
            spdy_sessions.COMMAND_PROTOCOLS
            if isinstance(parked, CommandRequest)
            else spdy_sessions.PORT_PROTOCOLS
        )
        protocol = next((p for p in offered if p in served), None)
        if protocol is None:
            raise BadRequest(
                HTTPStatus.FORBIDDEN,
                f"unable to negotiate protocol: client supports {offered}, server accepts "
                f"{list(served)}",
            )
        upgrade = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}
        writer.write(switching_protocols({**upgrade, "X-Stream-Protocol-Version": protocol}))
        await writer.drain()
        connection = SpdyConnection(reader, writer)
        idle = IdleTimer(self.settings.idle_timeout_s)
        connection.on_activity = idle.touch
        async with idle:
            if isinstance(parked, CommandRequest):
                await spdy_sessions.serve_command(connection, protocol, parked)
            else:
                await spdy_sessions.serve_ports(connection, parked)

    def _route(self, request: Request) -> Parked:
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in KINDS:
            raise BadRequest(HTTPStatus.NOT_FOUND, f"no such endpoint {request.path!r}")
        if request.method != "GET" and request.method != "POST":
            raise BadRequest(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} is not allowed")
        parked = self.tokens.take(parts[1])
        wanted = PortForwardRequest if parts[0] == "portforward" else CommandRequest
        if parked is None or not isinstance(parked, wanted):
            raise BadRequest(HTTPStatus.NOT_FOUND, "unknown, used or expired token")
        if isinstance(parked, CommandRequest) and parked.kind != parts[0]:
            raise BadRequest(HTTPStatus.NOT_FOUND, "unknown, used or expired token")
        return parked

    async def _accept(
        self,
        request: Request,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        protocol: str,
    ) -> WebSocket:
        key = request.headers.get("sec-websocket-key", "")
        if not key:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "missing Sec-WebSocket-Key")
        writer.write(
            switching_protocols(
                {
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "Sec-WebSocket-Accept": accept_key(key),
                    **({"Sec-WebSocket-Protocol": protocol} if protocol else {}),
                }
            )
        )
        await writer.drain()
        return WebSocket(reader, writer, client=False)
