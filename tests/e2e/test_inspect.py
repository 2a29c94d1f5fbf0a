"""CRI-O's inspect API on the CRI socket, beside gRPC, on a CRI-O configuration: what
cAdvisor (in the kubelet) and `crio status` ask over HTTP/1.1, with real pods and containers.
On a containerd configuration the socket speaks gRPC only, as containerd's does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2

from tests.e2e.node import Node, container_config, crio_node_with_busybox
from tests.fixtures.catalog import PushedImages
from tests.fixtures.daemon import Daemon, crio_config
from tests.fixtures.procs import descendants


@pytest.fixture(scope="module")
def crio_node(
    tmp_path_factory: pytest.TempPathFactory, pushed_images: PushedImages
) -> Iterator[Node]:
    with crio_node_with_busybox(tmp_path_factory.mktemp("inspect"), pushed_images) as current:
        yield current


def _sleeper(current: Node) -> api_pb2.ContainerConfig:
    return container_config(
        "app", current.busybox, "/bin/busybox", "sleep", "600", labels={"tier": "web"}
    )


def _get(sock: Path, path: str, raw: bytes | None = None) -> tuple[int, bytes]:
    """One HTTP/1.1 exchange on the unix socket, as Go's net/http sends it."""
    request = raw or f"GET {path} HTTP/1.1\r\nHost: crio\r\nConnection: close\r\n\r\n".encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(sock))
        client.sendall(request)
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_info_names_the_storage_root_and_cgroup_driver(crio_node: Node) -> None:
    status, body = _get(crio_node.daemon.socket, "/info")
    info = json.loads(body)
    assert status == 200
    assert info["storage_driver"] == "overlay"
    assert info["storage_root"] == str(crio_node.daemon.root)
    assert info["cgroup_driver"] == "cgroupfs"
    assert os.path.ismount(info["storage_root"]) or Path(info["storage_root"]).is_dir()


def test_curl_reads_the_config_as_toml(crio_node: Node) -> None:
    found = subprocess.run(
        ["curl", "-sf", "--unix-socket", str(crio_node.daemon.socket), "http://crio/config"],
        capture_output=True, check=True, timeout=20,
    )
    assert tomllib.loads(found.stdout.decode())["root_dir"] == str(crio_node.daemon.root)


def test_a_container_and_its_pod_as_cadvisor_reads_them(crio_node: Node) -> None:
    pod_id, pod = crio_node.run_pod("inspected")
    config = _sleeper(crio_node)
    container_id = crio_node.create(pod_id, pod, config)
    crio_node.start(container_id)
    sock = crio_node.daemon.socket
    try:
        status, body = _get(sock, f"/containers/{container_id}")
        info = json.loads(body)
        assert status == 200
        assert info["name"].startswith("k8s_app_inspected_")
        assert info["pid"] > 0 and Path(f"/proc/{info['pid']}").exists()
        # cAdvisor reports only cgroups named as CRI-O names them, and asks for their id.
        memory = _cgroup_of(info["pid"], "memory")
        assert memory.endswith(f"/crio-{container_id}")
        assert info["sandbox"] == pod_id
        assert info["labels"] == dict(config.labels)
        assert info["image_ref"] == crio_node.busybox
        assert info["root"].endswith("/merged") and Path(info["root"]).is_dir()
        diff = Path(info["root"]).parent / "diff"  # where cAdvisor measures the writes
        crio_node.exec(container_id, "/bin/busybox", "sh", "-c", "echo hi > /written")
        assert (diff / "written").read_text() == "hi\n"
        ips = crio_node.runtime.PodSandboxStatus(
            api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id)
        ).status.network
        assert info["ip_addresses"] == [ips.ip, *[x.ip for x in ips.additional_ips]]
        status, body = _get(sock, f"/containers/{pod_id}")
        pod_info = json.loads(body)
        assert status == 200
        assert pod_info["labels"]["io.kubernetes.container.name"] == "POD"
        assert pod_info["name"].startswith("k8s_POD_inspected_")
        assert pod_info["crio_annotations"]["io.kubernetes.cri-o.ContainerType"] == "sandbox"
    finally:
        crio_node.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))


def test_pause_and_unpause_freeze_the_container(crio_node: Node) -> None:
    pod_id, pod = crio_node.run_pod("paused")
    container_id = crio_node.create(
        pod_id, pod, _sleeper(crio_node)
    )
    crio_node.start(container_id)
    sock = crio_node.daemon.socket
    try:
        assert _get(sock, f"/pause/{container_id}")[0] == 200
        pid = json.loads(_get(sock, f"/containers/{container_id}")[1])["pid"]
        assert _frozen(pid)
        assert _get(sock, f"/unpause/{container_id}")[0] == 200
        assert crio_node.exec(container_id, "/bin/busybox", "true").exit_code == 0
    finally:
        crio_node.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    status, body = _get(sock, f"/pause/{container_id}")
    assert status == 404 and b"not found" in body


def _cgroup_of(pid: int, controller: str) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return ""


def _frozen(pid: int) -> bool:
    state = Path("/sys/fs/cgroup/freezer") / _cgroup_of(pid, "freezer").lstrip("/")
    return (state / "freezer.state").read_text().strip() == "FROZEN"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n", 404),
        (b"POST /info HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 405),
        (b"GET /info HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"GARBAGE IN\r\n\r\n", 400),
        (b"GET /containers/" + b"f" * 64 + b" HTTP/1.1\r\nConnection: close\r\n\r\n", 404),
    ],
)
def test_bad_requests_get_an_http_error(crio_node: Node, raw: bytes, code: int) -> None:
    assert _get(crio_node.daemon.socket, "", raw)[0] == code


def test_grpc_and_http_share_the_socket_and_keep_alive(crio_node: Node) -> None:
    sock = crio_node.daemon.socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(sock))
        for _ in range(3):  # one connection, three requests (cAdvisor's keep-alive client)
            client.sendall(b"GET /info HTTP/1.1\r\nHost: crio\r\n\r\n")
            head = client.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 OK")
        version = crio_node.runtime.Version(api_pb2.VersionRequest())
    assert version.runtime_name == "crio-py"
    assert oct(os.stat(crio_node.daemon.state / "grpc.sock").st_mode & 0o777) == "0o600"


def test_a_containerd_configuration_keeps_grpc_alone_on_the_socket(cluster: Node) -> None:
    assert not (cluster.daemon.state / "grpc.sock").exists()
    with pytest.raises((ConnectionError, OSError, ValueError, IndexError)):
        _get(cluster.daemon.socket, "/info")
    with cluster.daemon.channel() as channel:
        grpc.channel_ready_future(channel).result(timeout=10)


@pytest.mark.parametrize("end", ["stop", "kill"])
def test_the_relay_ends_with_the_daemon(tmp_path: Path, end: str) -> None:
    daemon = Daemon(tmp_path / "crio")
    daemon.config.write_text(crio_config(daemon, tmp_path, "127.0.0.1:1"), encoding="utf-8")
    daemon.start()
    assert daemon.process is not None
    relays = [p for p in descendants(daemon.process.pid).values() if "crio_py.relay" in p.cmdline()]
    assert len(relays) == 1
    getattr(daemon, end)()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{relays[0].pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{relays[0].pid}").exists()
