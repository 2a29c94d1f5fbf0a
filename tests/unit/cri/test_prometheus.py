"""The Prometheus metrics: CRI-O's and containerd's names and counts, RPCs reported by the
@rpc wrapper, pulls and OOM kills, and the endpoint over TCP, TLS-less, and a unix socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc.aio
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from crio_py.cri import metrics
from crio_py.cri.metrics import Metrics, PullOutcome
from crio_py.cri.metrics_server import MetricsServer, split_address
from crio_py.errors import InvalidArgumentError
from tests.unit.cri.fakes import FakeImageService, image, sample_images, serve_fake


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def active() -> Iterator[Metrics]:
    recorder = Metrics("crio")
    metrics.install(recorder)
    yield recorder
    metrics.install(None)


def test_crio_operations_under_both_prefixes() -> None:
    recorder = Metrics("crio")
    recorder.rpc_finished("RunPodSandbox", 0.5, "OK")
    recorder.rpc_finished("RunPodSandbox", 0.25, "OK")
    recorder.rpc_finished("RunPodSandbox", 1.0, "NOT_FOUND")
    found = samples(recorder.render())
    op = (("operation", "RunPodSandbox"),)
    for prefix in ("crio_", "container_runtime_crio_"):
        assert found[(f"{prefix}operations_total", op)] == 3
        assert found[(f"{prefix}operations_errors_total", op)] == 1
        assert found[(f"{prefix}operations_latency_seconds_total_count", op)] == 3
        assert found[(f"{prefix}operations_latency_seconds_total_sum", op)] == 1.75
        assert found[(f"{prefix}operations_latency_seconds", op)] == 1.0
    assert ("process_resident_memory_bytes", ()) in found


def test_crio_pulls_and_ooms() -> None:
    recorder = Metrics("crio")
    recorder.pull_started()
    recorder.pull_finished(
        PullOutcome("docker.io/library/app:1", 2.0, fetched=(("tar", 2048),), skipped=(10,))
    )
    recorder.pull_started()
    recorder.pull_finished(PullOutcome("docker.io/library/gone:1", 0.1, error="NotFound"))
    recorder.container_oom("hog_pod_ns_uid_0")
    recorder.container_oom("hog_pod_ns_uid_0")
    found = samples(recorder.render())
    assert found[("crio_image_pulls_success_total", (("name", "docker.io/library/app:1"),))] == 1
    failure = (("error", "NotFound"), ("name", "docker.io/library/gone:1"))
    assert found[("crio_image_pulls_failure_total", failure)] == 1
    assert (
        found[("crio_image_pulls_bytes_total", (("mediatype", "tar"), ("size", "1048576")))] == 2048
    )
    assert found[("crio_image_pulls_skipped_bytes_total", (("size", "1024"),))] == 10
    assert found[("crio_image_pulls_layer_size_count", ())] == 1
    assert found[("crio_containers_oom_total", ())] == 2
    assert found[("crio_containers_oom_count_total", (("name", "hog_pod_ns_uid_0"),))] == 2


def test_metrics_collectors_choose_the_families(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Metrics(
        "crio", collectors=["operations_total", "crio_containers_oom_total", "no_such_thing"]
    )
    recorder.rpc_finished("Version", 0.001, "OK")
    names = {name for name, _ in samples(recorder.render())}
    assert {"crio_operations_total", "crio_containers_oom_total"} <= names
    assert not any("latency" in name or "image_pulls" in name for name in names)
    assert "no_such_thing" in caplog.text


def test_containerd_timers_grpc_counters_and_pulls() -> None:
    recorder = Metrics(
        "containerd",
        runtime_types={"runc": "io.containerd.runc.v2", "gvisor": "io.containerd.runsc.v1"},
        default_runtime="runc",
    )
    recorder.rpc_finished("RunPodSandbox", 0.3, "OK", "gvisor")
    recorder.rpc_finished("CreateContainer", 0.2, "OK")
    recorder.rpc_finished("CreateContainer", 0.2, "INVALID_ARGUMENT")  # no timer: failed
    recorder.rpc_finished("ListContainers", 0.001, "OK")
    recorder.rpc_finished("ImageStatus", 0.001, "OK")
    recorder.pull_started()
    recorder.pull_finished(PullOutcome("app:1", 1.0, fetched=(("tar", 2 * 1024 * 1024),)))
    found = samples(recorder.render())
    gvisor = (("runtime", "io.containerd.runsc.v1"),)
    assert found[("containerd_cri_sandbox_runtime_create_seconds_count", gvisor)] == 1
    runc = (("runtime", "io.containerd.runc.v2"),)
    assert found[("containerd_cri_container_create_seconds_count", runc)] == 1
    assert found[("containerd_cri_container_list_seconds_count", ())] == 1
    create = (("grpc_method", "CreateContainer"), ("grpc_service", "runtime.v1.RuntimeService"))
    unary = (("grpc_type", "unary"),)
    assert found[("grpc_server_started_total", (*create, *unary))] == 2
    assert (
        found[("grpc_server_handled_total", (("grpc_code", "InvalidArgument"), *create, *unary))]
        == 1
    )
    status = (("grpc_method", "ImageStatus"), ("grpc_service", "runtime.v1.ImageService"))
    assert found[("grpc_server_handled_total", (("grpc_code", "OK"), *status, *unary))] == 1
    assert found[("containerd_cri_sandboxed_image_pulls_total", (("status", "success"),))] == 1
    assert found[("containerd_cri_sandboxed_in_progress_image_pulls_total", ())] == 0
    assert found[("containerd_cri_sandboxed_image_pulling_throughput_mibps_sum", ())] == 2.0


async def test_the_rpc_wrapper_reports_successes_and_failures(active: Metrics) -> None:
    fake = FakeImageService(sample_images())
    fake.pullable["busybox:1.37"] = image("sha256:" + "e" * 64, ["busybox:1.37"])
    async with serve_fake(fake) as server, grpc.aio.insecure_channel(server.endpoint) as channel:
        stub = api_pb2_grpc.ImageServiceStub(channel)
        await stub.PullImage(
            api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image="busybox:1.37"))
        )
        await stub.ListImages(api_pb2.ListImagesRequest())
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image="nope:1")))
    assert active.operations["PullImage"].count == 2
    assert active.operations["PullImage"].errors == 1
    assert active.operations["ListImages"].count == 1  # the quiet path counts too


async def _get(
    reader_writer: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str
) -> bytes:
    reader, writer = reader_writer
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_the_endpoint_serves_both_paths_over_tcp() -> None:
    server = MetricsServer("127.0.0.1:0", lambda: b"crio_x 1\n")
    await server.start()
    try:
        host, port = server.bound.split(":")
        for path in ("/metrics", "/v1/metrics"):
            answer = await _get(await asyncio.open_connection(host, int(port)), path)
            assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"crio_x 1\n")
        answer = await _get(await asyncio.open_connection(host, int(port)), "/other")
        assert answer.startswith(b"HTTP/1.1 404")
    finally:
        await server.close()


async def test_the_endpoint_serves_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "metrics.sock"
    path.write_text("stale")
    server = MetricsServer(f"unix://{path}", lambda: b"crio_x 1\n")
    await server.start()
    try:
        answer = await _get(await asyncio.open_unix_connection(path), "/metrics")
        assert answer.endswith(b"crio_x 1\n")
        assert path.stat().st_mode & 0o777 == 0o660
    finally:
        await server.close()


@pytest.mark.parametrize("address", ["nothing", "host:port", "1.2.3.4:70000"])
def test_a_bad_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not host:port"):
        split_address(address)


def test_addresses() -> None:
    assert split_address(":9090") == (None, 9090)
    assert split_address("[::1]:1338") == ("::1", 1338)
