"""Settings that change what the daemon does, proven on a running daemon: the metrics
endpoint (names and counts after real RPCs, scrape time with 50 containers), a pull that
stalls mid-layer cancelled after image_pull_progress_timeout (and after a new value SIGHUP
applied), a signature policy that rejects, and pinned images re-pinned on SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import http.server
import os
import signal
import socket
import ssl
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2
from prometheus_client.parser import text_string_to_metric_families

from crio_py.backends.certs import self_signed
from tests.e2e.node import Node, container_config, node
from tests.fixtures.catalog import PushedImages
from tests.fixtures.daemon import Daemon, crio_config
from tests.fixtures.http_server import serving
from tests.fixtures.images import BuiltImage, BuiltIndex

pytestmark = pytest.mark.e2e

CONTAINERS = 50
SCRAPES = 10
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(url: str, context: ssl.SSLContext | None = None) -> Samples:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return _parsed(response.read().decode())


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.path))


def _scrape_socket(path: Path) -> Samples:
    connection = _UnixConnection(path)
    try:
        connection.request("GET", "/metrics")
        return _parsed(connection.getresponse().read().decode())
    finally:
        connection.close()


def _parsed(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _reload(daemon: Daemon) -> None:
    """SIGHUP, and wait until the daemon has logged the settings it read (once more)."""
    assert daemon.process is not None
    seen = daemon.log_path.read_text().count("Settings read on SIGHUP")
    daemon.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while daemon.log_path.read_text().count("Settings read on SIGHUP") == seen:
        assert time.monotonic() < deadline, "the daemon did not reload"
        time.sleep(0.05)


def _pull(daemon: Daemon, image: str, namespace: str = "") -> str:
    request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=image))
    if namespace:
        request.sandbox_config.metadata.namespace = namespace
    with daemon.channel() as channel:
        return str(daemon.images(channel).PullImage(request, timeout=120).image_ref)


def _store(daemon: Daemon) -> set[str]:
    """Every file under the daemon's root (the pull scratch dir included)."""
    return {
        str(Path(directory, name).relative_to(daemon.root))
        for directory, _, names in os.walk(daemon.root)
        for name in names
    }


# -- metrics with 50 containers (containerd config) ------------------------------------------
@pytest.fixture(scope="module")
def metrics_node(
    tmp_path_factory: pytest.TempPathFactory, pushed_images: PushedImages
) -> Iterator[tuple[Node, str]]:
    port = _free_port()
    registry = pushed_images.registries["plain"].host
    workdir = tmp_path_factory.mktemp("metrics")
    with node(workdir, registry, f'[metrics]\n  address = "127.0.0.1:{port}"\n') as current:
        current.busybox = current.pull(pushed_images.ref("plain", "busybox"))
        yield current, f"http://127.0.0.1:{port}"
        current.remove_everything()
        assert current.leaks() == []


def test_containerd_metrics_count_real_rpcs_and_scrape_fast_with_50_containers(
    metrics_node: tuple[Node, str],
) -> None:
    cluster, url = metrics_node
    pod_id, pod = cluster.run_pod("metered")
    for index in range(CONTAINERS):
        config = container_config(f"c{index}", cluster.busybox, "/bin/sleep", "1000")
        cluster.start(cluster.create(pod_id, pod, config))
    with pytest.raises(grpc.RpcError):
        cluster.runtime.StartContainer(api_pb2.StartContainerRequest(container_id="f" * 64))
    durations = []
    for _ in range(SCRAPES):
        started = time.monotonic()
        found = _scrape(f"{url}/v1/metrics")
        durations.append(time.monotonic() - started)
    runc = (("runtime", "io.containerd.runc.v2"),)
    assert found[("containerd_cri_container_create_seconds_count", runc)] == CONTAINERS
    assert found[("containerd_cri_container_start_seconds_count", runc)] == CONTAINERS
    assert found[("containerd_cri_sandbox_runtime_create_seconds_count", runc)] == 1
    service = (("grpc_service", "runtime.v1.RuntimeService"), ("grpc_type", "unary"))
    create = (("grpc_code", "OK"), ("grpc_method", "CreateContainer"), *service)
    assert found[("grpc_server_handled_total", create)] == CONTAINERS
    missing = (("grpc_code", "NotFound"), ("grpc_method", "StartContainer"), *service)
    assert found[("grpc_server_handled_total", missing)] == 1
    assert (
        found[("containerd_cri_sandboxed_image_pulls_total", (("status", "success"),))] == 1
    )  # busybox
    assert found[("process_resident_memory_bytes", ())] > 0
    assert _scrape(f"{url}/metrics").keys() >= found.keys() - {("process_cpu_seconds_total", ())}
    median = statistics.median(durations)
    print(f"scrape with {CONTAINERS} containers: median {median * 1000:.1f} ms")
    assert median < 0.5, durations


# -- a pull that stalls mid-layer (containerd config) ----------------------------------------
class _StallingProxy(http.server.BaseHTTPRequestHandler):
    """Forwards to the registry, but sends only half of the one layer blob, then stalls."""

    upstream = ""
    stalled = ""
    release = threading.Event()

    def do_GET(self) -> None:
        headers = {
            key: ", ".join(self.headers.get_all(key) or [])
            for key in set(self.headers.keys())
            if key.lower() != "host"
        }
        request = urllib.request.Request(f"{self.upstream}{self.path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("transfer-encoding", "connection"):
                self.send_header(key, value)
        self.end_headers()
        if not self.path.endswith(self.stalled):
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.release.wait(120)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _stalling(upstream: str, layer: str) -> Iterator[str]:
    release = threading.Event()
    attrs = {"upstream": upstream, "stalled": layer.removeprefix("sha256:"), "release": release}
    handler = type("Stalling", (_StallingProxy,), attrs)
    with serving(handler) as address:
        try:
            yield address
        finally:
            release.set()


def _timed_failure(daemon: Daemon, image: str) -> tuple[grpc.RpcError, float]:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        _pull(daemon, image)
    return caught.value, time.monotonic() - started


def test_a_stalled_pull_is_cancelled_after_the_timeout_sighup_applies_a_new_one(
    tmp_path: Path, pushed_images: PushedImages, built_images: dict[str, BuiltImage | BuiltIndex]
) -> None:
    busybox = built_images["busybox"]
    assert isinstance(busybox, BuiltImage)
    registry = pushed_images.registries["plain"]
    daemon = Daemon(tmp_path / "crio")
    setting = "  max_concurrent_downloads = 3\n"
    template = daemon.config.read_text()
    daemon.config.write_text(
        template.replace(setting, f'{setting}  image_pull_progress_timeout = "1s"\n')
    )
    with _stalling(registry.url, busybox.layers[0].digest) as host, daemon:
        daemon.trust(host, plain_http=True)
        image = f"{host}/busybox:{busybox.tag}"
        before = _store(daemon)
        error, elapsed_s = _timed_failure(daemon, image)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.details()
        assert "no progress for 1 s" in str(error.details())
        assert 1.0 <= elapsed_s < 15.0
        assert _store(daemon) == before  # nothing half-stored
        daemon.config.write_text(
            template.replace(setting, f'{setting}  image_pull_progress_timeout = "4s"\n')
        )
        _reload(daemon)
        error, elapsed_s = _timed_failure(daemon, image)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.details()
        assert "no progress for 4 s" in str(error.details())
        assert elapsed_s >= 4.0
        assert _store(daemon) == before


# -- signature policy, pins and CRI-O metrics (CRI-O config) ---------------------------------
def _crio_daemon(workdir: Path, registry: str, metrics_keys: str, image_keys: str) -> Daemon:
    daemon = Daemon(workdir / "crio")
    daemon.trust(registry, plain_http=True)
    net_dir = workdir / "net.d"
    net_dir.mkdir(exist_ok=True)
    metrics = f"[crio.metrics]\nenable_metrics = true\n{metrics_keys}"
    text = crio_config(daemon, net_dir, registry, metrics)
    daemon.config.write_text(text.replace("[crio.image]\n", f"[crio.image]\n{image_keys}"))
    return daemon


def test_a_reject_policy_refuses_pulls_and_crio_metrics_count_them(
    tmp_path: Path, pushed_images: PushedImages
) -> None:
    registry = pushed_images.registries["plain"].host
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "open.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    reject = tmp_path / "reject.json"
    reject.write_text('{"default": [{"type": "reject"}]}')
    port = _free_port()
    cert, key = asyncio.run(self_signed(tmp_path / "tls", "127.0.0.1"))
    tls = f'metrics_port = {port}\nmetrics_cert = "{cert}"\nmetrics_key = "{key}"\n'
    keys = f'signature_policy = "{reject}"\nsignature_policy_dir = "{policies}"\n'
    image = pushed_images.ref("plain", "busybox")
    with _crio_daemon(tmp_path, registry, tls, keys) as daemon:
        before = _store(daemon)
        with pytest.raises(grpc.RpcError) as caught:
            _pull(daemon, image, namespace="locked")
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "signature policy refuses" in str(caught.value.details())
        assert _store(daemon) == before
        _pull(daemon, image, namespace="open")  # open.json accepts anything
        trusting = ssl.create_default_context(cafile=cert)
        trusting.check_hostname = False  # the certificate names 127.0.0.1 in its CN only
        found = _scrape(f"https://127.0.0.1:{port}/metrics", trusting)
    pull = (("operation", "PullImage"),)
    for prefix in ("crio_", "container_runtime_crio_"):
        assert found[(f"{prefix}operations_total", pull)] == 2
        assert found[(f"{prefix}operations_errors_total", pull)] == 1
        assert found[(f"{prefix}operations_latency_seconds_total_count", pull)] == 2
    failure = (("error", "FailedPrecondition"), ("name", image))
    assert found[("crio_image_pulls_failure_total", failure)] == 1
    assert found[("crio_image_pulls_success_total", (("name", image),))] == 1
    assert sum(v for (name, _), v in found.items() if name == "crio_image_pulls_bytes_total") > 0


def _pins(daemon: Daemon) -> dict[str, bool]:
    with daemon.channel() as channel:
        images = daemon.images(channel).ListImages(api_pb2.ListImagesRequest()).images
    return {tag.rsplit("/", 1)[-1]: image.pinned for image in images for tag in image.repo_tags}


def test_pinned_images_and_a_new_sandbox_image_pinned_after_sighup(
    tmp_path: Path, pushed_images: PushedImages
) -> None:
    registry = pushed_images.registries["plain"].host
    keys = 'pinned_images = ["*layered*"]\n'
    socket_path = tmp_path / "metrics.sock"
    daemon = _crio_daemon(tmp_path, registry, f'metrics_socket = "{socket_path}"\n', keys)
    with daemon:
        for name in ("pause", "busybox", "layered"):
            _pull(daemon, pushed_images.ref("plain", name))
        assert _pins(daemon) == {"pause:1": True, "busybox:1": False, "layered:1": True}
        text = daemon.config.read_text()
        daemon.config.write_text(
            text.replace(
                f'pause_image = "{registry}/pause:1"', f'pause_image = "{registry}/busybox:1"'
            )
        )
        _reload(daemon)
        assert _pins(daemon) == {"pause:1": False, "busybox:1": True, "layered:1": True}
        with daemon.channel() as channel:
            status = daemon.images(channel).ImageStatus(
                api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=f"{registry}/busybox:1"))
            )
        assert status.image.pinned
        found = _scrape_socket(socket_path)
    assert found[("crio_operations_total", (("operation", "ListImages"),))] == 2
