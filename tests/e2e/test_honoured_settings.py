"""Settings whose effect only a real pod shows: containerd's unprivileged port and ping
sysctls (on by default in a version 3 file), a CDI device injected from a spec file, and
conmon placed in the pod's cgroup (CRI-O's conmon_cgroup = "pod") and that cgroup removed
with the container. One containerd node and one CRI-O node for the module; nothing may be
left behind (mounts, pins, cgroups, processes).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2

from tests.e2e.node import (
    CGROUP_ROOT,
    Node,
    busybox_node,
    cgroups_named,
    container_config,
    pod_config,
)
from tests.fixtures.catalog import PushedImages

pytestmark = pytest.mark.e2e

SLEEPER = ("/bin/sleep", "1000")
CDI_SPEC = {
    "cdiVersion": "0.6.0",
    "kind": "example.com/device",
    "devices": [
        {
            "name": "zero",
            "containerEdits": {
                "deviceNodes": [{"path": "/dev/vendor-zero", "hostPath": "/dev/zero"}],
                "env": ["EXAMPLE_DEVICE=zero"],
            },
        }
    ],
    "containerEdits": {
        "env": ["EXAMPLE_VENDOR=example.com"],
        "mounts": [{"containerPath": "/opt/vendor", "options": ["ro"]}],  # hostPath: below
    },
}


@pytest.fixture(scope="module")
def cdi_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CDI spec directory with the fake vendor device, its mount source beside it."""
    base = tmp_path_factory.mktemp("cdi")
    vendor = base / "vendor"
    vendor.mkdir()
    (vendor / "release").write_text("vendor-1.0\n", encoding="utf-8")
    spec = json.loads(json.dumps(CDI_SPEC))
    spec["containerEdits"]["mounts"][0]["hostPath"] = str(vendor)
    specs = base / "specs"
    specs.mkdir()
    (specs / "example.json").write_text(json.dumps(spec), encoding="utf-8")
    return specs


@pytest.fixture(scope="module")
def containerd_node(
    tmp_path_factory: pytest.TempPathFactory, pushed_images: PushedImages, cdi_dir: Path
) -> Iterator[Node]:
    """A containerd v3 node: unprivileged sysctls at their 2.x default, CDI from `cdi_dir`."""
    extra = f'[plugins."io.containerd.cri.v1.runtime"]\n  cdi_spec_dirs = ["{cdi_dir}"]\n'
    with busybox_node(tmp_path_factory.mktemp("containerd-node"), pushed_images, extra) as current:
        yield current


def _exec_out(cluster: Node, container_id: str, *cmd: str) -> str:
    reply = cluster.exec(container_id, *cmd)
    assert reply.exit_code == 0, reply.stderr.decode()
    return reply.stdout.decode()


def _running(cluster: Node, name: str, **fields: object) -> tuple[str, str]:
    pod_id, pod = cluster.run_pod(name)
    container_id = cluster.create(
        pod_id, pod, container_config("app", cluster.busybox, *SLEEPER, **fields)
    )
    cluster.start(container_id)
    return pod_id, container_id


def _remove_pod(cluster: Node, pod_id: str) -> None:
    cluster.runtime.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    cluster.runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id))


def test_a_pod_can_bind_low_ports_and_ping_by_default(containerd_node: Node) -> None:
    pod_id, container_id = _running(containerd_node, "unprivileged")
    port_start = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
    assert _exec_out(containerd_node, container_id, "cat", port_start).strip() == "0"
    ping_range = _exec_out(
        containerd_node, container_id, "cat", "/proc/sys/net/ipv4/ping_group_range"
    )
    assert ping_range.split() == ["0", "2147483647"]
    _remove_pod(containerd_node, pod_id)


def test_a_cdi_device_its_env_and_its_mount_reach_the_container(containerd_node: Node) -> None:
    devices = [api_pb2.CDIDevice(name="example.com/device=zero")]
    pod_id, container_id = _running(containerd_node, "cdi", CDI_devices=devices)
    listing = _exec_out(containerd_node, container_id, "ls", "-l", "/dev/vendor-zero")
    assert listing.startswith("c") and "1,   5" in listing
    read = _exec_out(
        containerd_node, container_id, "sh", "-c", "head -c 16 /dev/vendor-zero | wc -c"
    )
    assert read.strip() == "16"
    env = _exec_out(containerd_node, container_id, "env").split()
    assert "EXAMPLE_DEVICE=zero" in env and "EXAMPLE_VENDOR=example.com" in env
    assert _exec_out(containerd_node, container_id, "cat", "/opt/vendor/release") == "vendor-1.0\n"
    written = _exec_out(
        containerd_node, container_id, "sh", "-c", "echo x > /opt/vendor/f || echo ro"
    )
    assert written.strip() == "ro"
    _remove_pod(containerd_node, pod_id)


def test_an_unknown_cdi_device_is_an_invalid_argument(containerd_node: Node) -> None:
    pod_id, pod = containerd_node.run_pod("cdi-unknown")
    config = container_config("app", containerd_node.busybox, *SLEEPER)
    config.CDI_devices.add(name="example.com/device=missing")
    with pytest.raises(grpc.RpcError) as caught:
        containerd_node.create(pod_id, pod, config)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "example.com/device=missing" in str(caught.value.details())
    _remove_pod(containerd_node, pod_id)


@pytest.fixture
def crio_node(tmp_path: Path, pushed_images: PushedImages) -> Iterator[Node]:
    with busybox_node(tmp_path, pushed_images, crio='conmon_cgroup = "pod"\n') as current:
        yield current


def _cgroups_of(pid: int) -> dict[str, str]:
    """controller list → path, from /proc/<pid>/cgroup."""
    lines = Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii").splitlines()
    return {line.split(":")[1]: line.split(":", 2)[2] for line in lines}


def test_conmon_runs_in_the_pods_cgroup_and_it_goes_with_the_container(crio_node: Node) -> None:
    parent = f"/crio-py-e2e-{secrets.token_hex(4)}"
    pod = pod_config("monitored", crio_node.log_dir)
    pod.linux.cgroup_parent = parent
    pod_id = crio_node.runtime.RunPodSandbox(
        api_pb2.RunPodSandboxRequest(config=pod)
    ).pod_sandbox_id
    container_id = crio_node.create(
        pod_id, pod, container_config("app", crio_node.busybox, *SLEEPER)
    )
    crio_node.start(container_id)
    bundle = crio_node.daemon.state / "containers" / container_id
    conmon_pid = int((bundle / "conmon.pid").read_text(encoding="ascii"))
    expected = f"{parent}/crio-conmon-{container_id}"
    cgroups = _cgroups_of(conmon_pid)
    assert (cgroups["memory"], cgroups["pids"], cgroups["cpuset"]) == (expected,) * 3
    assert (CGROUP_ROOT / "memory" / expected.lstrip("/") / "cgroup.procs").read_text().split()
    crio_node.runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=container_id))
    assert cgroups_named({container_id}) == []  # its own cgroup and conmon's
    _remove_pod(crio_node, pod_id)
    for hierarchy in CGROUP_ROOT.iterdir():  # the pod's parent is the kubelet's to remove
        if (hierarchy / parent.lstrip("/")).is_dir() and not hierarchy.is_symlink():
            os.rmdir(hierarchy / parent.lstrip("/"))
