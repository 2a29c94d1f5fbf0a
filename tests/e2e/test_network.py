"""Pinned namespaces and CNI end to end: the real unshare and Debian's CNI plugins (bridge,
host-local, portmap, loopback) attaching a pinned network namespace to a bridge of its own.

Each test network has its own bridge (`cnitest<random>`) and a random 10.x.y.0/24 subnet
(never 10.88.0.0/16); the only traffic goes from the host to the pod address and to
127.0.0.1. Afterwards nothing may be left: no bridge, veth, namespace pin, iptables rule
naming the sandbox, or process (the autouse fixture in conftest checks processes).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crio_py.backends import _exec, netns
from crio_py.backends.cni import CniExecPlugin
from crio_py.backends.cni_types import CniSandbox, NetworkConfig, PortMapping
from crio_py.errors import AlreadyExistsError
from tests.fixtures.cninet import (
    IP_FORWARD,
    PLUGIN_DIR,
    free_subnet,
    iptables_rules,
    nat_chains,
    remove_hostport_chains,
    sh,
)

pytestmark = pytest.mark.e2e

PLUGINS = ("bridge", "host-local", "portmap", "loopback")
TOOLS = (
    "unshare",
    "mount",
    "umount",
    "nsenter",
    "hostname",
    "ip",
    "iptables",
    "iptables-save",
    "busybox",
)
CONTAINER_PORT = 8080

if os.geteuid() != 0:
    pytest.skip("namespaces, bridges and iptables rules need root", allow_module_level=True)
if missing := [p for p in PLUGINS if not (PLUGIN_DIR / p).is_file()]:
    pytest.skip(
        f"needs the CNI plugins {', '.join(missing)} in {PLUGIN_DIR} (containernetworking-plugins)",
        allow_module_level=True,
    )
if missing := [t for t in TOOLS if shutil.which(t) is None]:
    pytest.skip(f"needs {', '.join(missing)}", allow_module_level=True)


@dataclass(frozen=True)
class BridgeNetwork:
    name: str
    bridge: str
    subnet: ipaddress.IPv4Network
    conf_dir: Path
    ipam_dir: Path
    cache_dir: Path
    pin_dir: Path

    def plugin(self) -> CniExecPlugin:
        return CniExecPlugin(
            conf_dir=self.conf_dir, bin_dirs=[PLUGIN_DIR], cache_dir=self.cache_dir
        )


@pytest.fixture
def network(tmp_path: Path) -> Iterator[BridgeNetwork]:
    """A conflist of bridge + portmap + loopback on a bridge and subnet of its own; removes
    the bridge (the bridge plugin leaves it) and portmap's shared chains afterwards, and
    restores the host's IPv4 forwarding setting."""
    suffix = secrets.token_hex(3)
    net = BridgeNetwork(
        name=f"cnitest-{suffix}",
        bridge=f"cnitest{suffix}",
        subnet=free_subnet(),
        conf_dir=tmp_path / "net.d",
        ipam_dir=tmp_path / "ipam",
        cache_dir=tmp_path / "cache",
        pin_dir=tmp_path / "pins",
    )
    net.conf_dir.mkdir()
    conflist = {
        "cniVersion": "1.0.0",
        "name": net.name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": net.bridge,
                "isGateway": True,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": str(net.subnet)}]],
                    "dataDir": str(net.ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }
    (net.conf_dir / "10-test.conflist").write_text(json.dumps(conflist, indent=1))
    chains_before = nat_chains()
    forwarding = IP_FORWARD.read_text()
    try:
        yield net
    finally:
        sh("ip", "link", "del", net.bridge, check=False)
        remove_hostport_chains(chains_before)
        IP_FORWARD.write_text(forwarding)
    assert net.bridge not in sh("ip", "-o", "link")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _get(host: str, port: int, path: str, *, deadline_s: float = 10.0) -> str:
    """The body of an HTTP/1.0 GET, retried until the server answers."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + deadline_s
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        except (OSError, TimeoutError):
            if loop.time() > stop:
                raise
            await asyncio.sleep(0.1)
            continue
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await writer.wait_closed()
        head, _, body = response.decode().partition("\r\n\r\n")
        assert head.startswith("HTTP/1.") and " 200 " in head.splitlines()[0], head
        return body


def _link_flags(netns_path: Path, device: str) -> str:
    line = sh("nsenter", f"--net={netns_path}", "ip", "-o", "link", "show", "dev", device)
    return line.split("<", 1)[1].split(">", 1)[0]


def _pins_mounted(pin_dir: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as stream:
        return [line.split()[4] for line in stream if line.split()[4].startswith(f"{pin_dir}/")]


@pytest.fixture(params=["private", "shared"])
def pin_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own with the given propagation, unmounted afterwards."""
    mount_point = tmp_path / "pins"
    mount_point.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=1m", "crio-py-e2e-pins", str(mount_point))
    try:
        sh("mount", f"--make-{request.param}", str(mount_point))
        yield mount_point
    finally:
        sh("umount", str(mount_point))


async def test_pinned_namespaces_outlive_their_creator(pin_dir: Path) -> None:
    sandbox_id = secrets.token_hex(32)
    paths = await netns.create_namespaces(pin_dir, sandbox_id, hostname="e2e-pod")
    try:
        assert paths == netns.namespace_paths(pin_dir, sandbox_id)
        assert all(netns.is_pinned(p) for p in paths.values())
        for kind, path in paths.items():  # new namespaces, not the host's
            assert os.stat(path).st_ino != os.stat(f"/proc/self/ns/{kind}").st_ino
        uts = f"--uts={paths['uts']}"
        assert sh("nsenter", uts, "hostname").strip() == "e2e-pod"
        assert sh("hostname").strip() != "e2e-pod"
        assert "state DOWN" in sh("nsenter", f"--net={paths['net']}", "ip", "link", "show", "lo")
        with pytest.raises(AlreadyExistsError, match="already has pinned namespaces"):
            await netns.create_namespaces(pin_dir, sandbox_id)
    finally:
        await netns.remove_namespaces(paths)
    await netns.remove_namespaces(paths)  # idempotent
    assert not any(p.exists() for p in paths.values())
    assert _pins_mounted(pin_dir) == []


async def test_attach_reach_and_detach_a_sandbox(network: BridgeNetwork, tmp_path: Path) -> None:
    sandbox_id = secrets.token_hex(32)
    paths = await netns.create_namespaces(network.pin_dir, sandbox_id, hostname="web")
    plugin = network.plugin()
    assert (await plugin.status()).ready
    loaded = plugin.load()
    assert loaded is not None and loaded.name == network.name
    host_port = _free_port()
    sandbox = CniSandbox(
        container_id=sandbox_id,
        netns_path=str(paths["net"]),
        pod_namespace="e2e",
        pod_name="web",
        pod_uid=secrets.token_hex(8),
        port_mappings=(PortMapping(host_port=host_port, container_port=CONTAINER_PORT),),
    )
    www = tmp_path / "www"
    www.mkdir()
    token = secrets.token_hex(16)
    (www / "token.txt").write_text(token)
    server: asyncio.subprocess.Process | None = None
    try:
        result = await plugin.add(loaded, sandbox)
        (pod_ip,) = result.pod_ips()
        assert ipaddress.IPv4Address(pod_ip) in network.subnet
        assert result.ips[0].gateway == str(network.subnet[1])  # isGateway
        assert plugin.cache_path(network.name, sandbox_id).is_file()
        assert "UP" in _link_flags(paths["net"], "lo").split(",")
        assert "UP" in _link_flags(paths["net"], "eth0").split(",")
        addresses = sh(
            "nsenter", f"--net={paths['net']}", "ip", "-o", "-4", "addr", "show", "dev", "eth0"
        )
        assert f"{pod_ip}/{network.subnet.prefixlen}" in addresses
        assert sandbox_id in iptables_rules()  # portmap's DNAT chain names the sandbox

        # CHECK against the real plugins; portmap is left out because its CHECK looks for
        # IPv6 rules an IPv4-only sandbox never gets (containernetworking/plugins#819).
        without_portmap = NetworkConfig(
            name=loaded.name,
            cni_version=loaded.cni_version,
            plugins=tuple(p for p in loaded.plugins if p.type != "portmap"),
        )
        await plugin.check(without_portmap, sandbox)

        server = await _exec.spawn(
            [
                "nsenter",
                f"--net={paths['net']}",
                "busybox",
                "httpd",
                "-f",
                "-p",
                f"0.0.0.0:{CONTAINER_PORT}",
                "-h",
                str(www),
            ],
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await _get(pod_ip, CONTAINER_PORT, "/token.txt") == token
        assert await _get("127.0.0.1", host_port, "/token.txt") == token  # via portmap
    finally:
        if server is not None:
            server.terminate()
            await server.wait()
        await plugin.delete(loaded, sandbox)
        await netns.remove_namespaces(paths)

    veth = next(i.name for i in result.interfaces if i.name.startswith("veth"))
    assert sh("ip", "link", "show", "dev", veth, check=False) == ""
    assert sh("ip", "-o", "link", "show", "master", network.bridge, check=False) == ""
    assert sandbox_id not in iptables_rules()
    assert not plugin.cache_path(network.name, sandbox_id).exists()
    assert not (network.ipam_dir / network.name / pod_ip).exists()  # address released
    assert _pins_mounted(network.pin_dir) == []
    assert not any(p.exists() for p in paths.values())
    await plugin.delete(loaded, sandbox)  # idempotent, with the netns gone


async def test_delete_after_a_restart_uses_the_cache(network: BridgeNetwork) -> None:
    sandbox_id = secrets.token_hex(32)
    paths = await netns.create_namespaces(network.pin_dir, sandbox_id, kinds=("net",))
    try:
        loaded = network.plugin().load()
        assert loaded is not None
        await network.plugin().add(
            loaded, CniSandbox(container_id=sandbox_id, netns_path=str(paths["net"]))
        )
        # A new plugin object, as after a daemon restart, and no network config to hand.
        restarted = network.plugin()
        assert [a.network.name for a in restarted.cached_attachments(sandbox_id)] == [network.name]
        await restarted.delete(None, CniSandbox(container_id=sandbox_id, netns_path=""))
        assert restarted.cached_attachments(sandbox_id) == []
        assert sh("ip", "-o", "link", "show", "master", network.bridge, check=False) == ""
    finally:
        await netns.remove_namespaces(paths)
    assert _pins_mounted(network.pin_dir) == []
