"""The daemon on a temporary socket with the fake image service: socket set-up, Version,
SIGTERM/SIGINT/SIGHUP, sd_notify; and the `crio-py serve` command line around it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py import cli, daemon, log
from crio_py.config.defaults import default_text
from crio_py.config.load import load_settings
from crio_py.config.model import RuntimeSettings
from crio_py.daemon import Daemon, notify_systemd, prepare_socket_path
from crio_py.errors import UnavailableError, UnimplementedError
from tests.unit.cri.fakes import FakeImageService, sample_images, short_tmp_dir

DEFAULT, _ = load_settings(None)


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    with short_tmp_dir() as path:
        yield path


def settings_for(socket_path: Path) -> RuntimeSettings:
    """The embedded default, serving on `socket_path` as the current user."""
    sock = DEFAULT.socket.model_copy(
        update={"path": socket_path, "uid": os.getuid(), "gid": os.getgid()}
    )
    return DEFAULT.model_copy(update={"socket": sock})


class Running:
    """A daemon started in the test's event loop."""

    def __init__(
        self, instance: Daemon, task: asyncio.Task[None], handlers: dict[int, object]
    ) -> None:
        self.daemon = instance
        self.task = task
        self.handlers_before = handlers
        self.fake: FakeImageService | None = None

    async def stopped(self, timeout_s: float = 10.0) -> None:
        await asyncio.wait_for(asyncio.shield(self.task), timeout_s)


@pytest.fixture
async def running(tmp_dir: Path) -> AsyncIterator[Running]:
    fakes: list[FakeImageService] = []

    async def factory(settings: RuntimeSettings) -> FakeImageService:
        fakes.append(FakeImageService(sample_images()))
        return fakes[-1]

    instance = Daemon(
        settings_for(tmp_dir / "run" / "crio-py.sock"),
        config_path=None,
        image_service_factory=factory,
    )
    handlers = {sig: signal.getsignal(sig) for sig in daemon.HANDLED_SIGNALS}
    task = asyncio.create_task(instance.run())
    started = asyncio.create_task(instance.started.wait())
    await asyncio.wait({task, started}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # startup failed: raise its error
    started.cancel()
    handle = Running(instance, task, handlers)
    handle.fake = fakes[0]
    yield handle
    if not task.done():
        instance.should_exit.set()
        await handle.stopped()


async def version(socket_path: Path) -> api_pb2.VersionResponse:
    async with grpc.aio.insecure_channel(f"unix://{socket_path}") as channel:
        response: api_pb2.VersionResponse = await api_pb2_grpc.RuntimeServiceStub(channel).Version(
            api_pb2.VersionRequest(), timeout=5
        )
        return response


async def test_the_socket_is_0660_and_version_answers(running: Running) -> None:
    path = running.daemon.socket_path
    mode = path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660
    assert (path.stat().st_uid, path.stat().st_gid) == (os.getuid(), os.getgid())
    response = await version(path)
    assert response.runtime_name == "crio-py"
    assert running.daemon.routes.ready


UNSERVED = {"CheckpointContainer"}


async def test_the_daemon_serves_every_rpc_but_the_unimplemented_ones(running: Running) -> None:
    names = {
        method.name
        for service in ("RuntimeService", "ImageService")
        for method in api_pb2.DESCRIPTOR.services_by_name[service].methods
    }
    for name in names - UNSERVED:
        assert callable(running.daemon.routes.handler(name)), name
    for name in UNSERVED:
        with pytest.raises(UnimplementedError, match=f"{name} is not implemented"):
            running.daemon.routes.handler(name)


async def test_sigterm_stops_gracefully_and_keeps_the_state_dir(running: Running) -> None:
    path = running.daemon.socket_path
    keep = path.parent / "keep.json"
    keep.write_text("{}")
    os.kill(os.getpid(), signal.SIGTERM)
    await running.stopped()
    assert running.fake is not None and running.fake.closed
    assert keep.read_text() == "{}"
    assert path.parent.is_dir()
    assert not path.exists()  # grpc unlinks its own socket
    for sig, handler in running.handlers_before.items():
        assert signal.getsignal(sig) is handler


async def test_an_open_events_stream_ends_unavailable_and_does_not_hold_the_stop(
    running: Running,
) -> None:
    async with grpc.aio.insecure_channel(f"unix://{running.daemon.socket_path}") as channel:
        call = api_pb2_grpc.RuntimeServiceStub(channel).GetContainerEvents(
            api_pb2.GetEventsRequest()
        )
        await asyncio.sleep(0.5)  # the server subscribes it (no metadata comes before an event)
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await asyncio.wait_for(call.read(), daemon.GRACE_S)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        await running.stopped()
    assert time.monotonic() - started < daemon.GRACE_S


async def test_sigint_stops_too(running: Running) -> None:
    os.kill(os.getpid(), signal.SIGINT)
    await running.stopped()
    assert signal.getsignal(signal.SIGINT) is running.handlers_before[signal.SIGINT]


async def test_sighup_without_a_config_file_changes_nothing(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="crio_py.daemon"):
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            if "SIGHUP" in caplog.text:
                break
            await asyncio.sleep(0.01)
    assert "embedded default configuration cannot change" in caplog.text
    assert not running.task.done()
    assert (await version(running.daemon.socket_path)).runtime_name == "crio-py"


def _daemon_on_default_file(tmp_dir: Path) -> tuple[Path, str, Daemon]:
    """A daemon (not started) whose config file holds the default text; SIGHUP re-reads it."""
    config = tmp_dir / "config.toml"
    text = default_text("containerd", 3)
    config.write_text(text)
    return config, text, Daemon(load_settings(config)[0], config_path=config)


async def test_reload_names_the_settings_that_need_a_restart(
    tmp_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, text, instance = _daemon_on_default_file(tmp_dir)
    with caplog.at_level(logging.INFO, logger="crio_py.daemon"):
        await instance.reload()
        assert "Reloaded configuration; nothing changed" in caplog.text
        config.write_text(
            text.replace(
                'address = "/run/crio-py/crio-py.sock"', 'address = "/run/x.sock"'
            ).replace("max_concurrent_downloads = 3", "max_concurrent_downloads = 5")
        )
        await instance.reload()
    assert (
        "Reloaded configuration; changes to socket, max_concurrent_downloads need a restart"
        in caplog.text
    )


async def test_reload_applies_what_it_can_at_once(
    tmp_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, text, instance = _daemon_on_default_file(tmp_dir)
    image_service = FakeImageService()
    instance._reloadable = [image_service]
    config.write_text(
        text.replace('sandbox = "registry.k8s.io/pause:3.10"', 'sandbox = "local/pause:1"')
    )
    with caplog.at_level(logging.INFO, logger="crio_py.daemon"):
        await instance.reload()
    assert "Reloaded configuration; applied changes to sandbox_image" in caplog.text
    assert "need a restart" not in caplog.text
    assert instance.settings.sandbox_image == "local/pause:1"
    assert image_service.reloaded.sandbox_image == "local/pause:1"


async def test_reload_of_a_broken_file_keeps_running(
    tmp_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_dir / "config.toml"
    config.write_text("version = [\n")
    instance = Daemon(settings_for(tmp_dir / "crio.sock"), config_path=config)
    with caplog.at_level(logging.INFO, logger="crio_py.daemon"):
        await instance.reload()
    assert "Cannot reload configuration" in caplog.text


async def test_notify_socket_gets_ready(tmp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notify = tmp_dir / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify))
        listener.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", str(notify))
        instance = Daemon(
            settings_for(tmp_dir / "crio.sock"), image_service_factory=FakeImageService.open
        )
        task = asyncio.create_task(instance.run())
        loop = asyncio.get_running_loop()
        message = await asyncio.wait_for(loop.sock_recv(listener, 64), 10)
        assert message == b"READY=1"
        assert instance.routes.ready
        instance.should_exit.set()
        await asyncio.wait_for(task, 10)
        assert await asyncio.wait_for(loop.sock_recv(listener, 64), 10) == b"STOPPING=1"


def test_notify_supports_abstract_sockets() -> None:
    name = f"crio-py-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        assert notify_systemd("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert listener.recv(64) == b"READY=1"


def test_notify_without_a_socket_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert not notify_systemd("READY=1", {})
    assert not notify_systemd("READY=1", {"NOTIFY_SOCKET": "/nonexistent/notify"})
    assert "Cannot notify systemd" in caplog.text


def test_a_stale_socket_is_replaced(tmp_dir: Path) -> None:
    path = tmp_dir / "crio.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))  # bound, never listening: what a killed daemon leaves
    prepare_socket_path(path)
    assert not path.exists()


def test_a_live_socket_is_refused(tmp_dir: Path) -> None:
    path = tmp_dir / "crio.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(str(path))
        live.listen()
        with pytest.raises(UnavailableError, match="another process is serving"):
            prepare_socket_path(path)
    assert path.exists()


def test_a_file_that_is_not_a_socket_is_kept(tmp_dir: Path) -> None:
    path = tmp_dir / "crio.sock"
    path.write_text("not a socket")
    with pytest.raises(UnavailableError, match="not a socket"):
        prepare_socket_path(path)
    assert path.read_text() == "not a socket"


async def test_a_failed_start_stops_the_server_and_closes_nothing_it_did_not_open(
    tmp_dir: Path,
) -> None:
    async def failing(settings: RuntimeSettings) -> FakeImageService:
        raise UnavailableError("the image store is locked")

    instance = Daemon(settings_for(tmp_dir / "crio.sock"), image_service_factory=failing)
    before = {sig: signal.getsignal(sig) for sig in daemon.HANDLED_SIGNALS}
    with pytest.raises(UnavailableError, match="locked"):
        await instance.run()
    assert not (tmp_dir / "crio.sock").exists()
    assert {sig: signal.getsignal(sig) for sig in daemon.HANDLED_SIGNALS} == before


async def test_message_sizes_come_from_the_settings(tmp_dir: Path) -> None:
    settings = settings_for(tmp_dir / "crio.sock")
    sock = settings.socket.model_copy(update={"max_send_message_size": 1234})
    instance = Daemon(settings.model_copy(update={"socket": sock}))
    assert ("grpc.max_send_message_length", 1234) in instance._grpc_options()


# The `crio-py serve` command line.


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`serve` configures logging; put the root logger and the library levels back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    libraries = {name: logging.getLogger(name).level for name in log.NOISY_LIBRARIES}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, value in libraries.items():
        logging.getLogger(name).setLevel(value)


def test_serve_with_config_errors_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'version = 3\n[plugins."io.containerd.cri.v1.runtime"]\nmax_container_log_line_size = "x"\n'
    )
    assert cli.main(["serve", "--config", str(config)]) == 1
    assert "config.toml" in capsys.readouterr().err


def test_serve_with_an_unreadable_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err


@pytest.mark.usefixtures("restore_logging")
def test_serve_passes_the_settings_and_config_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    async def fake_serve(settings: RuntimeSettings, *, config_path: Path | None = None) -> None:
        seen["settings"], seen["config_path"] = settings, config_path
        seen["level"] = logging.getLogger().level

    monkeypatch.setattr(daemon, "serve", fake_serve)
    assert cli.main(["serve", "--log-level", "debug", "--log-format", "json"]) == 0
    assert seen["config_path"] is None
    assert seen["settings"] == DEFAULT
    assert seen["level"] == logging.DEBUG


@pytest.mark.usefixtures("restore_logging")
def test_serve_reports_a_start_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_serve(settings: RuntimeSettings, *, config_path: Path | None = None) -> None:
        raise UnavailableError("another process is serving on /run/crio-py/crio-py.sock")

    monkeypatch.setattr(daemon, "serve", fake_serve)
    assert cli.main(["serve"]) == 1


async def test_a_second_daemon_on_a_live_socket_refuses_to_start(running: Running) -> None:
    second = Daemon(running.daemon.settings, image_service_factory=FakeImageService.open)
    # startup/shutdown rather than run(): one event loop cannot route a signal to two daemons.
    with pytest.raises(UnavailableError, match="another process is serving"):
        await second.startup()
    await second.shutdown()
    assert (await version(running.daemon.socket_path)).runtime_name == "crio-py"


async def test_a_second_signal_cancels_the_rpcs_in_flight(running: Running) -> None:
    assert running.fake is not None
    running.fake.block = True
    async with grpc.aio.insecure_channel(f"unix://{running.daemon.socket_path}") as channel:
        stub = api_pb2_grpc.ImageServiceStub(channel)
        pull = asyncio.ensure_future(
            stub.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image="busybox")))
        )
        while not running.fake.calls:
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        started = loop.time()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)
        await running.stopped()
        assert loop.time() - started < daemon.GRACE_S
        with pytest.raises(grpc.aio.AioRpcError):
            await pull
    assert running.fake.cancelled == ["pull_image"]
    assert running.fake.closed


async def test_reload_logs_at_debug_show_no_credential(
    tmp_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, text, instance = _daemon_on_default_file(tmp_dir)
    auth = '[plugins."io.containerd.cri.v1.images".registry.configs."r.example.com".auth]\n'
    with caplog.at_level(logging.DEBUG):
        config.write_text(f'{text}{auth}  username = "u5er-d1"\n  password = "s3cr3t-d2"\n')
        await instance.reload()
        config.write_text(f"{text}{auth}  password = 918273645\n")  # an error lint reports
        await instance.reload()
    assert "Settings read on SIGHUP" in caplog.text and "<redacted>" in caplog.text
    assert "applied changes to registry" in caplog.text
    assert "Cannot reload configuration" in caplog.text
    for secret in ("u5er-d1", "s3cr3t-d2", "918273645"):
        assert secret not in caplog.text


async def test_a_critical_task_that_dies_stops_the_daemon(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise OSError("inotify went away")

    running.daemon.tasks.spawn(broken(), name="exit watcher", critical=True)
    with pytest.raises(UnavailableError, match="the exit watcher stopped"):
        await running.stopped()
    assert "The exit watcher failed" in caplog.text
    assert "inotify went away" in caplog.text


async def test_background_failures_are_logged_and_only_critical_ends_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []
    tasks = daemon.BackgroundTasks(ended.append)

    async def fails() -> None:
        raise RuntimeError("boom")

    async def returns() -> None:
        return None

    tasks.spawn(fails(), name="reload")
    tasks.spawn(returns(), name="watcher", critical=True)
    tasks.spawn(asyncio.sleep(3600), name="sleeper", critical=True)
    await asyncio.sleep(0.01)
    assert ended == ["watcher"]
    assert "The reload failed" in caplog.text and "boom" in caplog.text
    assert len(tasks) == 1
    await tasks.close()  # cancelled at shutdown: not an unexpected end
    assert ended == ["watcher"] and len(tasks) == 0
