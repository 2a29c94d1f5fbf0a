"""The composition root: build the services, serve CRI on the unix socket, shut down cleanly.

Shaped like uvicorn's `server.py`: `Daemon.run()` is `startup()`, `main_loop()`, `shutdown()`
inside `capture_signals()`, which puts the previous signal handlers back afterwards.

- startup: bind the socket (parent dir created, a stale socket replaced, a live one refused,
  mode 0660 and the configured owner, as containerd's `sys.GetLocalListener`), start the grpc
  server (RPCs answer UNAVAILABLE "crio-py is starting"), open the image service, build the
  object graph (`build_services`) and serve its RPC table, then tell systemd `READY=1`;
- SIGTERM / SIGINT: stop accepting RPCs, give those in flight `GRACE_S`, close the image service.
  A second signal cancels what is still running;
- SIGHUP: re-read the configuration file and say which changes need a restart (nothing is
  applied live yet);
- background tasks (the exit watcher, reloads) run under `BackgroundTasks`: a failure is
  logged, and a critical task that ends stops the daemon, as containerd exits when one of
  its event loops dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import stat
import threading
from collections.abc import Awaitable, Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Protocol

import grpc  # type: ignore[import-untyped,unused-ignore]
import grpc.aio  # type: ignore[import-untyped,unused-ignore]

from crio_py import crashpoint, log
from crio_py.backends.cni import CniExecPlugin
from crio_py.config.diagnostics import Diagnostic
from crio_py.config.load import load_settings
from crio_py.config.model import RuntimeHandler, RuntimeSettings
from crio_py.config.redact import settings_json
from crio_py.cri.container import (
    ContainerContext,
    ContainerOps,
    ImageSource,
    PodContainers,
    cdi,
    host,
    images_in_use,
    recover,
    rpc_table,
)
from crio_py.cri.container.layout import Layout
from crio_py.cri.image import ImageService
from crio_py.cri.inspect import InspectApi, serve_inspect
from crio_py.cri.instrument import STARTING_MESSAGE
from crio_py.cri.metrics_server import MetricsServer, start_metrics, stop_metrics
from crio_py.cri.rpcs import ImageRpcs, RpcTable, image_rpcs, merged
from crio_py.cri.runtime_info import RuntimeInfo
from crio_py.cri.sandbox import NamespaceOps, SandboxRecords, SandboxService
from crio_py.cri.servicer import Routes, add_to_server
from crio_py.errors import ConfigError, PermissionDeniedError, UnavailableError
from crio_py.listener import SharedSocket
from crio_py.ocispec import HostFeatures
from crio_py.store import dirs
from crio_py.store.objects import ObjectStore
from crio_py.store.records import ContainerMetadata, ContainerStatus
from crio_py.streaming.http import error_response
from crio_py.streaming.server import StreamServer

logger = logging.getLogger(__name__)

GRACE_S = 5.0
"""How long RPCs in flight may run on after SIGTERM before they are cancelled."""
SOCKET_MODE = 0o660
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LIVE_SETTINGS = frozenset(
    {
        "log_level",
        "log_format",
        "registry",
        "sandbox_image",
        "image_pull_progress_timeout_s",
        "pinned_images",
        "signature_policy",
        "signature_policy_dir",
        "container_defaults",
        "security",
        "stop_timeout_s",
        "timeouts_s",
    }
)
"""What SIGHUP applies at once: each is read afresh by the next pull, pod or container."""


class Reloadable(Protocol):
    """A service that takes new settings on SIGHUP (only LIVE_SETTINGS ever change)."""

    def reload_settings(self, settings: RuntimeSettings) -> None:
        """Use `settings` from the next request on."""


class ImageServiceLike(ImageRpcs, ImageSource, Reloadable, Protocol):
    """What the daemon needs of the image service: the RPC handlers, what containers need of
    images, and `close()`."""

    async def close(self) -> None:
        """Release what `open` acquired."""


ImageServiceFactory = Callable[[RuntimeSettings], Awaitable[ImageServiceLike]]


async def open_image_service(settings: RuntimeSettings) -> ImageServiceLike:
    """The production factory: `cri/image.py`'s `ImageService.open`."""

    return await ImageService.open(settings)


def watch_children_by_pidfd() -> None:
    """Have asyncio learn of child exits through pidfds (Linux 5.3+) instead of starting a
    thread for every child, which costs each pod start and exec. Only for `crio-py serve`:
    the watcher is process-wide and holds the running loop."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # an older kernel: keep the threaded watcher
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)


async def serve(
    settings: RuntimeSettings,
    *,
    config_path: Path | None = None,
    image_service_factory: ImageServiceFactory = open_image_service,
) -> None:
    """Serve CRI until SIGTERM or SIGINT. `config_path` is what SIGHUP re-reads."""
    if crashpoint.armed():
        if crashpoint.armed() not in crashpoint.STEPS:
            raise UnavailableError(
                f"{crashpoint.ENV}={crashpoint.armed()!r} names no crash point; "
                f"known: {', '.join(crashpoint.STEPS)}"
            )
        logger.warning("Armed to crash at %s (%s)", crashpoint.armed(), crashpoint.ENV)
    daemon = Daemon(settings, config_path=config_path, image_service_factory=image_service_factory)
    await daemon.run()


class Daemon:
    """One run of the CRI server; see the module docstring for its life cycle."""

    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        config_path: Path | None = None,
        image_service_factory: ImageServiceFactory = open_image_service,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.image_service_factory = image_service_factory
        self.routes = Routes()
        self.image_service: ImageServiceLike | None = None
        self.server: grpc.aio.Server | None = None
        self.should_exit = asyncio.Event()
        self.started = asyncio.Event()
        self._signals_seen = 0
        self.tasks = BackgroundTasks(self._critical_task_ended)
        self.failed_task = ""
        self._reloadable: list[Reloadable] = []
        self._end_at_stop: list[Callable[[], None]] = []  # what must end before the server
        self.stream_server: StreamServer | None = None
        self.shared_socket: SharedSocket | None = None
        self.inspect: InspectApi | None = None
        self.metrics_server: MetricsServer | None = None

    @property
    def socket_path(self) -> Path:
        """Where the CRI socket is."""
        return self.settings.socket.path

    async def run(self) -> None:
        """Start, serve until told to stop, then stop."""
        with self.capture_signals():
            try:
                await self.startup()
                await self.main_loop()
            finally:
                await self.shutdown()
        if self.failed_task:
            raise UnavailableError(f"the {self.failed_task} stopped; see the log")

    async def startup(self) -> None:
        """Bind and start the server, then open the services and serve their RPC table."""
        logger.debug("Effective settings: %s", settings_json(self.settings))
        self.server = grpc.aio.server(options=self._grpc_options())
        add_to_server(self.server, self.routes)
        self._bind(self.server)
        await self.server.start()
        if self.shared_socket is not None:
            os.chmod(self.shared_socket.grpc_path, 0o600)
            await self.shared_socket.start()
        set_socket_owner(self.socket_path, self.settings.socket.uid, self.settings.socket.gid)
        logger.info("Listening for CRI on unix://%s", self.socket_path)
        dirs.secure(self.settings.root_dir, self.settings.state_dir)
        self.metrics_server = await start_metrics(self.settings)
        self.image_service = await self.image_service_factory(self.settings)
        features = await host.probe_host_fully(self.settings.root_dir, self.settings.state_dir)
        await asyncio.to_thread(cdi.report_specs, self.settings.cdi_spec_dirs)
        self.stream_server = StreamServer(
            self.settings.stream, cert_dir=self.settings.state_dir / "streaming"
        )
        await self.stream_server.start()
        self.routes.serve(
            await self.build_services(self.image_service, features, self.stream_server)
        )
        self.started.set()
        notify_systemd("READY=1")
        logger.info("crio-py is ready")

    def _bind(self, server: grpc.aio.Server) -> None:
        """gRPC on the CRI socket; on a CRI-O configuration, gRPC on a private socket behind
        one that also serves CRI-O's inspect API on the CRI socket, as CRI-O does."""
        prepare_socket_path(self.socket_path)
        if self.settings.source_format != "crio":
            server.add_insecure_port(f"unix://{self.socket_path}")
            return
        private = self.settings.state_dir / "grpc.sock"
        http = self.settings.state_dir / "inspect.sock"
        for path in (private, http):
            prepare_socket_path(path)
        server.add_insecure_port(f"unix://{private}")
        self.shared_socket = SharedSocket(self.socket_path, private, http, self._serve_inspect)

    async def _serve_inspect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.inspect is None:
            writer.write(error_response(HTTPStatus.SERVICE_UNAVAILABLE, STARTING_MESSAGE))
            await writer.drain()
            return
        await serve_inspect(self.inspect, reader, writer)

    async def build_services(
        self, images: ImageServiceLike, features: HostFeatures, streams: StreamServer
    ) -> RpcTable:
        """The object graph, its records loaded; the RPC table of all of it."""
        settings = self.settings
        network = CniExecPlugin.from_settings(settings.cni, settings.root_dir / "cni-cache")
        info = RuntimeInfo(settings, network, features)
        records = SandboxRecords(settings)
        containers = container_context(settings, records, images, features)

        def user_namespaces(handler: RuntimeHandler) -> bool:
            return host.handler_features(handler, features).user_namespaces

        sandboxes = SandboxService(
            settings,
            records,
            network=network,
            members=PodContainers(containers),
            namespaces=NamespaceOps(),
            user_namespaces=user_namespaces,
        )
        await sandboxes.load()
        await recover.load(containers)
        self.inspect = InspectApi(settings, containers)
        self._reloadable = [images, sandboxes, containers, self.inspect]
        self._end_at_stop.append(containers.events.close)  # streams would hold the grace time
        self.tasks.spawn(recover.watch_exits(containers), name="exit watcher", critical=True)
        return merged(
            info.rpcs(),
            image_rpcs(images, functools.partial(images_in_use, containers)),
            sandboxes.rpcs(),
            rpc_table(containers, streams),
        )

    async def main_loop(self) -> None:
        """Wait for SIGTERM or SIGINT."""
        await self.should_exit.wait()

    async def shutdown(self) -> None:
        """Stop the server (in-flight RPCs get `GRACE_S`), then close the image service."""
        notify_systemd("STOPPING=1")
        for end in self._end_at_stop:
            end()
        if self.server is not None:
            logger.info("Stopping; RPCs in flight have %.0fs to finish", GRACE_S)
            await self.server.stop(GRACE_S)
        if self.shared_socket is not None:
            await self.shared_socket.close()
        if self.stream_server is not None:
            await self.stream_server.close()
        if self.image_service is not None:
            await self.image_service.close()
        await stop_metrics(self.metrics_server)
        await self.tasks.close()
        logger.info("Stopped")

    def _grpc_options(self) -> list[tuple[str, int]]:
        sizes = self.settings.socket
        return [
            ("grpc.max_send_message_length", sizes.max_send_message_size),
            ("grpc.max_receive_message_length", sizes.max_recv_message_size),
        ]

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGTERM/SIGINT/SIGHUP to this daemon for the block; restore the handlers after.

        Only the main thread can own signals; elsewhere (an embedding test) nothing is installed.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        previous = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
        for sig in HANDLED_SIGNALS:
            loop.add_signal_handler(sig, self.handle_signal, sig)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                if handler is not None:  # None: installed outside Python, cannot be restored
                    signal.signal(sig, handler)

    def handle_signal(self, sig: signal.Signals) -> None:
        """SIGHUP reloads; the first SIGTERM/SIGINT stops gracefully, the second at once."""
        if sig == signal.SIGHUP:
            self.tasks.spawn(self.reload(), name="reload")
            return
        self._signals_seen += 1
        if self._signals_seen == 1:
            logger.info("Received %s; shutting down", sig.name)
            self.should_exit.set()
        elif self.server is not None:
            logger.warning("Received %s again; cancelling the RPCs in flight", sig.name)
            self.tasks.spawn(self.server.stop(None), name="server stop")

    def _critical_task_ended(self, name: str) -> None:
        if not self.should_exit.is_set():
            logger.critical("The %s stopped; shutting down", name)
            self.failed_task = name
            self.should_exit.set()

    async def reload(self) -> None:
        """SIGHUP: re-read the configuration and log what would need a restart."""
        if self.config_path is None:
            logger.info("Received SIGHUP; the embedded default configuration cannot change")
            return
        try:
            settings, warnings = await asyncio.to_thread(load_settings, self.config_path)
        except ConfigError as exc:
            logger.error("Cannot reload configuration %s: %s", self.config_path, exc)
            for diagnostic in exc.diagnostics:
                logger.error("%s", format_diagnostic(diagnostic))
            return
        for diagnostic in warnings:
            logger.warning("%s", format_diagnostic(diagnostic))
        logger.debug("Settings read on SIGHUP: %s", settings_json(settings))
        changed = changed_settings(self.settings, settings)
        live = [name for name in changed if name in LIVE_SETTINGS]
        later = [name for name in changed if name not in LIVE_SETTINGS]
        if live:
            self.apply_settings(settings, live)
            logger.info("Reloaded configuration; applied changes to %s", ", ".join(live))
        if later:
            logger.warning("Reloaded configuration; changes to %s need a restart", ", ".join(later))
        if not changed:
            logger.info("Reloaded configuration; nothing changed")

    def apply_settings(self, settings: RuntimeSettings, names: list[str]) -> None:
        """Take the values of `names` from `settings` and hand them to every service."""
        self.settings = self.settings.model_copy(
            update={name: getattr(settings, name) for name in names}
        )
        if "log_level" in names or "log_format" in names:
            log.setup(self.settings.log_level, self.settings.log_format)
        for service in self._reloadable:
            service.reload_settings(self.settings)


def container_context(
    settings: RuntimeSettings,
    records: SandboxRecords,
    images: ImageSource,
    features: HostFeatures,
) -> ContainerContext:
    """The container RPCs' context on the real runtime, conmon and clock."""
    layout = Layout(settings.state_dir, settings.root_dir)
    return ContainerContext(
        settings,
        records,
        images,
        host_features=features,
        layout=layout,
        store=ObjectStore(layout.records_dir, ContainerMetadata, ContainerStatus),
        ops=ContainerOps(),
    )


class BackgroundTasks:
    """The tasks that run beside the RPCs. Each one's failure is logged; a critical one that
    ends at all (it should run until cancelled) calls `on_critical_end` with its name."""

    def __init__(self, on_critical_end: Callable[[str], None]) -> None:
        self._on_critical_end = on_critical_end
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def spawn(self, coroutine: Awaitable[None], *, name: str, critical: bool = False) -> None:
        """Run `coroutine` until it ends or `close` cancels it."""
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._ended(done, name, critical))

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task and wait until all have ended."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _ended(self, task: asyncio.Task[None], name: str, critical: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            if critical and not self._closing:
                self._on_critical_end(name)
            return
        error = task.exception()
        if error is not None:
            logger.error("The %s failed", name, exc_info=error)
        if critical and not self._closing:
            self._on_critical_end(name)


def changed_settings(old: RuntimeSettings, new: RuntimeSettings) -> list[str]:
    """The top-level settings whose values differ."""
    return [name for name in type(old).model_fields if getattr(old, name) != getattr(new, name)]


def format_diagnostic(d: Diagnostic) -> str:
    """`file:line:col: severity[code] message` for one log record."""
    return f"{d.file}:{d.line}:{d.column}: {d.severity}[{d.code}] {d.message}"


def prepare_socket_path(path: Path) -> None:
    """Create the socket's parent dir and remove a stale socket; refuse anything else there.

    grpc would silently unlink a socket that another daemon still listens on, so a socket that
    accepts a connection is refused, and a path that is not a socket is never deleted.
    """
    path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise UnavailableError(f"{path} exists and is not a socket; not removing it")
    if _socket_is_live(path):
        raise UnavailableError(f"another process is serving on {path}")
    logger.info("Removing stale socket %s", path)
    path.unlink()


def _socket_is_live(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


def set_socket_owner(path: Path, uid: int, gid: int) -> None:
    """Mode 0660 and the configured owner, so that only root (or that group) can talk CRI."""
    try:
        os.chmod(path, SOCKET_MODE)
        info = path.stat()
        if (info.st_uid, info.st_gid) != (uid, gid):
            os.chown(path, uid, gid)
    except PermissionError as exc:
        raise PermissionDeniedError(
            f"cannot set the owner of {path} to {uid}:{gid}: {exc}"
        ) from exc


def notify_systemd(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send `state` to `$NOTIFY_SOCKET` (sd_notify); False when it is unset or unreachable.

    The address is a path or, with a leading `@`, an abstract socket (systemd's sd_notify(3)).
    """
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode(), target)
    except OSError as exc:
        logger.warning("Cannot notify systemd at %s: %s", address, exc)
        return False
    return True
