"""The pod sandbox RPCs end to end: the real daemon (`crio-py serve`), real unshare and
Debian's CNI plugins (bridge, host-local, portmap, loopback), driven through gRPC.

The daemon gets a CRI-O configuration (`drop_infra_ctr = true`: sandboxes without an infra
container), a bridge of its own and a random 10.x.y.0/24 subnet (never 10.88.0.0/16).
Afterwards nothing may be left: no namespace pin, veth, iptables rule naming the sandbox, or
process; the bridge, portmap's shared chains and IPv4 forwarding are put back.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from tests.e2e.test_network import _free_port
from tests.fixtures.cninet import PLUGIN_DIR, cni_network, iptables_rules, sh
from tests.fixtures.daemon import Daemon

pytestmark = pytest.mark.e2e  # root, plugins and tools are checked by test_network's import


@dataclass
class Pod:
    daemon: Daemon
    stub: api_pb2_grpc.RuntimeServiceStub
    subnet: ipaddress.IPv4Network
    bridge: str


def _crio_conf(daemon: Daemon, net_dir: Path) -> str:
    return (
        f'[crio]\nroot = "{daemon.root}"\nrunroot = "{daemon.state}"\n'
        f'[crio.api]\nlisten = "{daemon.socket}"\n'
        '[crio.image]\npause_image = "127.0.0.1:1/pause:1"\n'  # nothing listens there
        '[crio.runtime]\ndefault_runtime = "runc"\ndrop_infra_ctr = true\n'
        'cgroup_manager = "cgroupfs"\n[crio.runtime.runtimes.runc]\n'
        f'[crio.network]\nnetwork_dir = "{net_dir}"\nplugin_dirs = ["{PLUGIN_DIR}"]\n'
    )


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[Pod]:
    with cni_network(tmp_path) as network:
        daemon = Daemon(tmp_path / "crio")
        daemon.config.write_text(_crio_conf(daemon, network.conf_dir), encoding="utf-8")
        with daemon, daemon.channel() as channel:
            stub = api_pb2_grpc.RuntimeServiceStub(channel)
            try:
                yield Pod(daemon, stub, network.subnet, network.bridge)
            finally:  # a failed test must not leave its sandboxes behind
                for item in stub.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items:
                    stub.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=item.id))


def _config(name: str, host_port: int) -> api_pb2.PodSandboxConfig:
    options = api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, namespace="e2e", uid=secrets.token_hex(8)),
        hostname=name,
        labels={"app": name},
        port_mappings=[api_pb2.PortMapping(container_port=8080, host_port=host_port)],
        dns_config=api_pb2.DNSConfig(servers=["10.0.0.10"], searches=["e2e.svc"]),
        linux=api_pb2.LinuxPodSandboxConfig(
            security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=options)
        ),
    )


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as stream:
        return {line.split()[4] for line in stream}


def test_sandbox_lifecycle(pod: Pod) -> None:
    stub = pod.stub
    config = _config("web", _free_port())
    sandbox_id = stub.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config)).pod_sandbox_id
    status = stub.PodSandboxStatus(
        api_pb2.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True)
    )
    assert status.status.state == api_pb2.SANDBOX_READY
    pod_ip = status.status.network.ip
    assert ipaddress.IPv4Address(pod_ip) in pod.subnet
    assert status.status.metadata.name == "web" and status.status.runtime_handler == "runc"
    info = json.loads(status.info["info"])
    pins = {kind: Path(path) for kind, path in info["namespaces"].items()}
    assert set(pins) == {"net", "ipc", "uts"}
    assert all(p.is_file() and str(p) in _mounts() for p in pins.values())
    assert sh("nsenter", f"--uts={pins['uts']}", "hostname").strip() == "web"
    assert pod_ip in sh("nsenter", f"--net={pins['net']}", "ip", "-o", "-4", "addr")
    assert sandbox_id in iptables_rules()  # portmap's chain names the sandbox
    files = pod.daemon.root / "sandboxes" / sandbox_id
    assert f"{pod_ip}\tweb" in (files / "hosts").read_text()
    assert "nameserver 10.0.0.10" in (files / "resolv.conf").read_text()

    web = api_pb2.PodSandboxFilter(label_selector={"app": "web"})
    listed = stub.ListPodSandbox(api_pb2.ListPodSandboxRequest(filter=web))
    assert [item.id for item in listed.items] == [sandbox_id]

    with pytest.raises(grpc.RpcError) as clash:
        stub.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config))
    assert clash.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert sandbox_id in (clash.value.details() or "")

    veths = sh("ip", "-o", "link", "show", "master", pod.bridge)
    assert veths
    stub.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))
    stub.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))
    stopped = stub.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))
    assert stopped.status.state == api_pb2.SANDBOX_NOTREADY
    assert not any(str(p) in _mounts() for p in pins.values())
    assert sh("ip", "-o", "link", "show", "master", pod.bridge, check=False) == ""
    assert sandbox_id not in iptables_rules()

    stub.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
    stub.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
    assert list(stub.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items) == []
    with pytest.raises(grpc.RpcError) as gone:
        stub.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert not files.exists()
    assert not any(p.exists() for p in pins.values())
    # The name is free again.
    again = stub.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config)).pod_sandbox_id
    stub.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=again))
    assert not any(sandbox_id in m or again in m for m in _mounts())


def test_an_unreachable_pause_image_fails_cleanly(pod: Pod) -> None:
    config = _config("shared", _free_port())
    config.linux.security_context.namespace_options.pid = api_pb2.POD
    before = _mounts()
    with pytest.raises(grpc.RpcError) as raised:
        pod.stub.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config))
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "127.0.0.1:1" in (raised.value.details() or "")
    assert list(pod.stub.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items) == []
    assert _mounts() <= before
    assert sh("ip", "-o", "link", "show", "master", pod.bridge, check=False) == ""
