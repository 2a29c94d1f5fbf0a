"""CNI plugin runner: the exact plugin path, CNI environment and stdin of each call, result
chaining, the result cache, error translation, and which network configuration is chosen."""

from __future__ import annotations

import dataclasses
import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from crio_py.backends.cni import CniExecPlugin
from crio_py.backends.cni_types import (
    Bandwidth,
    CniSandbox,
    DnsConfig,
    IpRange,
    NetworkConfig,
    PortMapping,
    load_network,
    parse_network,
    parse_result,
)
from crio_py.config.model import CniSettings
from crio_py.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    UnavailableError,
    UnimplementedError,
)

CID = "a" * 64
PATH = "/usr/sbin:/usr/bin"
CNI_ARGS = (
    f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
    f"K8S_POD_INFRA_CONTAINER_ID={CID};K8S_POD_UID=uid-1"
)
BRIDGE = {
    "type": "bridge",
    "bridge": "cni0",
    "isGateway": True,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.22.0.0/24"}]]},
}
PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True, "bandwidth": False}}
LOOPBACK = {"type": "loopback"}
CONFLIST = {"cniVersion": "1.0.0", "name": "podnet", "plugins": [BRIDGE, PORTMAP, LOOPBACK]}


def _result(*names: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": n, "mac": "aa:bb:cc:dd:ee:0" + str(i)} for i, n in enumerate(names)
        ],
        "ips": [{"address": "10.22.0.5/24", "gateway": "10.22.0.1", "interface": 2}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.22.0.1"}],
        "dns": {"nameservers": ["10.22.0.1"], "search": ["svc"]},
    }


BRIDGE_RESULT = _result("cni0", "veth1", "eth0")
PORTMAP_RESULT = {**BRIDGE_RESULT, "note": "passed on by portmap"}


@pytest.fixture(autouse=True)
def path_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", PATH)


@pytest.fixture
def bin_dirs(tmp_path: Path) -> list[Path]:
    """Two plugin directories: bridge and loopback in the first, portmap in the second."""
    dirs = [tmp_path / "opt-cni-bin", tmp_path / "usr-lib-cni"]
    for directory, names in zip(dirs, (("bridge", "loopback"), ("portmap", "bridge")), strict=True):
        directory.mkdir()
        for name in names:
            (directory / name).write_text("#!/bin/sh\n")
            (directory / name).chmod(0o755)
    return dirs


@pytest.fixture
def netns(tmp_path: Path) -> Path:
    path = tmp_path / "netns" / CID
    path.parent.mkdir()
    path.touch()
    return path


@pytest.fixture
def plugin(tmp_path: Path, bin_dirs: list[Path]) -> CniExecPlugin:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "10-podnet.conflist").write_text(json.dumps(CONFLIST))
    return CniExecPlugin(conf_dir=conf_dir, bin_dirs=bin_dirs, cache_dir=tmp_path / "cache")


@pytest.fixture
def network(plugin: CniExecPlugin) -> NetworkConfig:
    loaded = plugin.load()
    assert loaded is not None
    return loaded


@pytest.fixture
def sandbox(netns: Path) -> CniSandbox:
    return CniSandbox(
        container_id=CID,
        netns_path=str(netns),
        pod_namespace="default",
        pod_name="web",
        pod_uid="uid-1",
        port_mappings=(
            PortMapping(host_port=8080, container_port=80, protocol="TCP"),
            PortMapping(host_port=5353, container_port=53, protocol="udp", host_ip="127.0.0.1"),
            PortMapping(host_port=0, container_port=9000),  # not published: left out
        ),
        bandwidth=Bandwidth(ingress_rate=1000, egress_rate=2000),
    )


PORT_MAPPINGS = [
    {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
    {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"},
]


class Calls:
    """Fakes plugin binaries and records each call in order: name, stdin JSON, environment."""

    def __init__(self, fp: FakeProcess) -> None:
        self.fp = fp
        self.stdin: list[tuple[str, dict[str, Any]]] = []
        self.envs: list[dict[str, str]] = []

    def register(
        self, binary: Path, *, stdout: object = "", returncode: int = 0, stderr: str = ""
    ) -> None:
        text = stdout if isinstance(stdout, str) else json.dumps(stdout)

        def read_stdin(data: bytes) -> None:
            process = recorder.calls[-1]  # the call now reading its stdin
            assert process.args == [str(binary)]
            assert process.kwargs is not None
            self.stdin.append((binary.name, json.loads(data)))
            self.envs.append(dict(process.kwargs["env"]))

        recorder = self.fp.register(
            [str(binary)],
            stdout=text,
            stderr=stderr,
            returncode=returncode,
            stdin_callable=read_stdin,
        )

    def names(self) -> list[str]:
        return [name for name, _ in self.stdin]

    def commands(self) -> list[str]:
        return [env["CNI_COMMAND"] for env in self.envs]


@pytest.fixture
def calls(fp: FakeProcess) -> Calls:
    return Calls(fp)


def _register_add(calls: Calls, bin_dirs: list[Path]) -> None:
    calls.register(bin_dirs[0] / "bridge", stdout=BRIDGE_RESULT)
    calls.register(bin_dirs[1] / "portmap", stdout=PORTMAP_RESULT)
    calls.register(bin_dirs[0] / "loopback", stdout=PORTMAP_RESULT)


def _register_del(calls: Calls, bin_dirs: list[Path]) -> None:
    for binary in (bin_dirs[0] / "loopback", bin_dirs[1] / "portmap", bin_dirs[0] / "bridge"):
        calls.register(binary)


async def test_add_chains_results_and_passes_only_declared_capabilities(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
    netns: Path,
) -> None:
    _register_add(calls, bin_dirs)

    result = await plugin.add(network, sandbox)

    # Each plugin is the first match in bin_dirs ("bridge" is in both: the first wins);
    # Calls.register checks the argv is exactly that path.
    assert calls.names() == ["bridge", "portmap", "loopback"]
    assert calls.envs[0] == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": CID,
        "CNI_NETNS": str(netns),
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": CNI_ARGS,
        "CNI_PATH": f"{bin_dirs[0]}:{bin_dirs[1]}",
        "PATH": PATH,
    }
    assert calls.envs[1] == calls.envs[0] == calls.envs[2]
    assert calls.stdin == [
        ("bridge", {**BRIDGE, "name": "podnet", "cniVersion": "1.0.0"}),
        (
            "portmap",
            {
                **PORTMAP,
                "name": "podnet",
                "cniVersion": "1.0.0",
                "prevResult": BRIDGE_RESULT,
                "runtimeConfig": {"portMappings": PORT_MAPPINGS},
            },
        ),
        (
            "loopback",
            {**LOOPBACK, "name": "podnet", "cniVersion": "1.0.0", "prevResult": PORTMAP_RESULT},
        ),
    ]
    assert result.pod_ips() == ("10.22.0.5",)
    assert result.ips[0].gateway == "10.22.0.1"
    assert [i.name for i in result.interfaces] == ["cni0", "veth1", "eth0"]
    assert result.routes[0].dst == "0.0.0.0/0"
    assert result.dns.nameservers == ("10.22.0.1",)


async def test_add_caches_the_result_for_a_later_delete(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
    netns: Path,
    tmp_path: Path,
) -> None:
    _register_add(calls, bin_dirs)
    await plugin.add(network, sandbox)

    path = tmp_path / "cache" / "podnet" / f"{CID}.json"
    assert plugin.cache_path("podnet", CID) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "kind": "cniCacheV1",
        "containerId": CID,
        "ifName": "eth0",
        "networkName": "podnet",
        "netns": str(netns),
        "cniArgs": [pair.split("=") for pair in CNI_ARGS.split(";")],
        "capabilityArgs": {
            "portMappings": PORT_MAPPINGS,
            "bandwidth": {
                "ingressRate": 1000,
                "ingressBurst": 0,
                "egressRate": 2000,
                "egressBurst": 0,
            },
        },
        "config": {**CONFLIST, "disableCheck": False},
        "result": PORTMAP_RESULT,
    }
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


async def test_delete_runs_in_reverse_with_the_cached_result_then_drops_it(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    _register_add(calls, bin_dirs)
    await plugin.add(network, sandbox)
    _register_del(calls, bin_dirs)

    # A bare sandbox, as after a restart: the cache supplies CNI_ARGS and capability args.
    await plugin.delete(network, CniSandbox(container_id=CID, netns_path=sandbox.netns_path))

    assert calls.names()[3:] == ["loopback", "portmap", "bridge"]
    deletes = [conf for _, conf in calls.stdin[3:]]
    assert all(conf["prevResult"] == PORTMAP_RESULT for conf in deletes)
    assert deletes[1]["runtimeConfig"] == {"portMappings": PORT_MAPPINGS}
    assert "runtimeConfig" not in deletes[0]
    assert calls.envs[3] == {**calls.envs[0], "CNI_COMMAND": "DEL"}
    assert not plugin.cache_path("podnet", CID).exists()


async def test_delete_without_a_cache_is_idempotent(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    _register_del(calls, bin_dirs)
    _register_del(calls, bin_dirs)
    await plugin.delete(network, sandbox)
    await plugin.delete(network, sandbox)
    assert calls.names() == ["loopback", "portmap", "bridge"] * 2
    assert not any("prevResult" in conf for _, conf in calls.stdin)
    # Without a cache the sandbox's own capability args are used.
    assert calls.stdin[1][1]["runtimeConfig"] == {"portMappings": PORT_MAPPINGS}
    assert calls.commands() == ["DEL"] * 6


async def test_delete_with_the_netns_gone_passes_no_netns(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    bin_dirs: list[Path],
    tmp_path: Path,
) -> None:
    _register_del(calls, bin_dirs)
    gone = CniSandbox(container_id=CID, netns_path=str(tmp_path / "no-such-netns"))
    await plugin.delete(network, gone)
    assert [env["CNI_NETNS"] for env in calls.envs] == ["", "", ""]


async def test_delete_failure_keeps_the_cache_and_still_runs_the_other_plugins(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    _register_add(calls, bin_dirs)
    await plugin.add(network, sandbox)
    calls.register(bin_dirs[0] / "loopback")
    calls.register(
        bin_dirs[1] / "portmap",
        returncode=1,
        stdout={"cniVersion": "1.0.0", "code": 5, "msg": "iptables is locked"},
    )
    calls.register(bin_dirs[0] / "bridge")
    with pytest.raises(UnavailableError, match=r'"portmap" \(DEL.*iptables is locked'):
        await plugin.delete(network, sandbox)
    assert calls.names()[3:] == ["loopback", "portmap", "bridge"]
    assert plugin.cache_path("podnet", CID).exists()


async def test_delete_with_no_network_uses_the_cached_configuration(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    _register_add(calls, bin_dirs)
    await plugin.add(network, sandbox)
    for path in plugin.conf_dir.iterdir():  # the configuration is gone since
        path.unlink()
    _register_del(calls, bin_dirs)
    restarted = CniExecPlugin(
        conf_dir=plugin.conf_dir, bin_dirs=bin_dirs, cache_dir=plugin.cache_dir
    )
    assert [a.network.name for a in restarted.cached_attachments(CID)] == ["podnet"]
    await restarted.delete(None, CniSandbox(container_id=CID, netns_path=""))
    assert calls.names()[3:] == ["loopback", "portmap", "bridge"]
    assert calls.envs[3] == {**calls.envs[0], "CNI_COMMAND": "DEL"}  # netns, args: cached
    assert restarted.cached_attachments(CID) == []
    await restarted.delete(None, CniSandbox(container_id=CID, netns_path=""))  # nothing left
    assert len(calls.envs) == 6


async def test_an_unreadable_cache_is_ignored(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = plugin.cache_path("podnet", CID)
    path.parent.mkdir(parents=True)
    path.write_text('{"kind": "somethingElse"}')
    _register_del(calls, bin_dirs)
    await plugin.delete(network, sandbox)
    assert not any("prevResult" in conf for _, conf in calls.stdin)
    assert "Ignoring unreadable CNI result cache" in caplog.text
    assert not path.exists()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (7, InvalidArgumentError),
        (1, InvalidArgumentError),
        (11, UnavailableError),
        (999, UnavailableError),
    ],
)
async def test_a_cni_error_names_the_plugin_and_the_add_is_undone(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
    code: int,
    error: type[Exception],
) -> None:
    calls.register(bin_dirs[0] / "bridge", stdout=BRIDGE_RESULT)
    calls.register(
        bin_dirs[1] / "portmap",
        returncode=1,
        stdout={
            "cniVersion": "1.0.0",
            "code": code,
            "msg": "bad portMappings",
            "details": "port 0",
        },
    )
    _register_del(calls, bin_dirs)

    with pytest.raises(error) as caught:
        await plugin.add(network, sandbox)

    assert str(caught.value) == (
        'CNI plugin "portmap" (ADD, network "podnet"): bad portMappings: port 0 '
        f"(CNI error code {code})"
    )
    # SPEC.md: a failed ADD is followed by a DEL of the whole list, in reverse.
    assert calls.names() == ["bridge", "portmap", "loopback", "portmap", "bridge"]
    assert calls.commands() == ["ADD"] * 2 + ["DEL"] * 3
    assert not plugin.cache_path("podnet", CID).exists()


async def test_a_failure_without_a_cni_error_shows_stderr(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    calls.register(bin_dirs[0] / "bridge", returncode=2, stderr="panic: netlink\n")
    _register_del(calls, bin_dirs)
    with pytest.raises(UnavailableError, match=r'"bridge" \(ADD.*exited with 2: panic: netlink'):
        await plugin.add(network, sandbox)


async def test_an_add_without_a_valid_result_fails(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    calls.register(bin_dirs[0] / "bridge", stdout="not json")
    _register_del(calls, bin_dirs)
    with pytest.raises(UnavailableError, match="returned no valid result"):
        await plugin.add(network, sandbox)


async def test_a_missing_plugin_is_named_and_nothing_runs(
    fp: FakeProcess,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    (bin_dirs[1] / "portmap").unlink()
    with pytest.raises(UnavailableError) as caught:
        await plugin.add(network, sandbox)
    assert str(caught.value) == (
        f'CNI plugin "portmap" (network "podnet") is in none of: {bin_dirs[0]}, {bin_dirs[1]}'
    )
    assert len(fp.calls) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"container_id": "../etc"},
        {"ifname": "eth0/x"},
        {"ifname": "a" * 16},
        {"pod_name": "a;b"},
        {"netns_path": ""},
    ],
)
async def test_invalid_arguments_run_nothing(
    fp: FakeProcess,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    changes: dict[str, str],
) -> None:
    with pytest.raises(InvalidArgumentError):
        await plugin.add(network, dataclasses.replace(sandbox, **changes))
    assert len(fp.calls) == 0


def test_capability_args_of_every_kind(sandbox: CniSandbox) -> None:
    full = dataclasses.replace(
        sandbox,
        ip_ranges=((IpRange(subnet="10.1.0.0/16", gateway="10.1.0.1"),),),
        dns=DnsConfig(servers=("10.96.0.10",), searches=("svc.local",), options=("ndots:5",)),
    )
    assert full.capability_args() == {
        "portMappings": PORT_MAPPINGS,
        "bandwidth": {"ingressRate": 1000, "ingressBurst": 0, "egressRate": 2000, "egressBurst": 0},
        "ipRanges": [[{"subnet": "10.1.0.0/16", "gateway": "10.1.0.1"}]],
        "dns": {"servers": ["10.96.0.10"], "searches": ["svc.local"], "options": ["ndots:5"]},
    }
    assert CniSandbox(container_id=CID, netns_path="").capability_args() == {}


async def test_check_runs_every_plugin_in_order_with_the_cached_result(
    calls: Calls,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
    bin_dirs: list[Path],
) -> None:
    _register_add(calls, bin_dirs)
    await plugin.add(network, sandbox)
    _register_add(calls, bin_dirs)
    await plugin.check(network, sandbox)
    assert calls.names()[3:] == ["bridge", "portmap", "loopback"]
    assert all(conf["prevResult"] == PORTMAP_RESULT for _, conf in calls.stdin[3:])
    assert calls.commands()[3:] == ["CHECK"] * 3


async def test_check_needs_a_cache_a_new_enough_version_and_may_be_disabled(
    fp: FakeProcess,
    plugin: CniExecPlugin,
    network: NetworkConfig,
    sandbox: CniSandbox,
) -> None:
    with pytest.raises(FailedPreconditionError, match="no cached result"):
        await plugin.check(network, sandbox)
    old = NetworkConfig(name="podnet", cni_version="0.3.1", plugins=network.plugins)
    with pytest.raises(UnimplementedError, match=r"0\.4\.0"):
        await plugin.check(old, sandbox)
    disabled = NetworkConfig(
        name="podnet", cni_version="1.0.0", plugins=network.plugins, disable_check=True
    )
    await plugin.check(disabled, sandbox)
    assert len(fp.calls) == 0


async def test_status(fp: FakeProcess, plugin: CniExecPlugin, bin_dirs: list[Path]) -> None:
    assert (await plugin.status()).ready
    (bin_dirs[0] / "loopback").unlink()
    missing = await plugin.status()
    assert (missing.ready, missing.reason) == (False, "NetworkPluginNotReady")
    assert 'CNI plugin "loopback"' in missing.message
    for path in plugin.conf_dir.iterdir():
        path.unlink()
    empty = await plugin.status()
    assert not empty.ready
    assert empty.message == f"no CNI network configuration in {plugin.conf_dir}"
    assert len(fp.calls) == 0  # spec 1.0.0 has no STATUS verb


async def test_status_asks_the_plugins_of_a_spec_1_1_network(
    calls: Calls,
    plugin: CniExecPlugin,
    bin_dirs: list[Path],
) -> None:
    (plugin.conf_dir / "10-podnet.conflist").write_text(
        json.dumps({**CONFLIST, "cniVersion": "1.1.0"})
    )
    calls.register(bin_dirs[0] / "bridge")
    calls.register(
        bin_dirs[1] / "portmap",
        returncode=1,
        stdout={"code": 50, "msg": "the plugin is not available"},
    )
    status = await plugin.status()
    assert not status.ready
    assert "not available (CNI error code 50)" in status.message
    assert calls.stdin[0][1] == {**BRIDGE, "name": "podnet", "cniVersion": "1.1.0"}
    assert calls.envs[0] == {
        "CNI_COMMAND": "STATUS",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_IFNAME": "",
        "CNI_ARGS": "",
        "CNI_PATH": f"{bin_dirs[0]}:{bin_dirs[1]}",
        "PATH": PATH,
    }


def test_from_settings(tmp_path: Path) -> None:
    settings = CniSettings(
        bin_dirs=(Path("/opt/cni/bin"),),
        conf_dir=Path("/etc/cni/net.d"),
        max_conf_num=0,
        default_network="podnet",
    )
    made = CniExecPlugin.from_settings(settings, tmp_path)
    assert (made.bin_dirs, made.conf_dir, made.max_conf_num, made.default_network) == (
        (Path("/opt/cni/bin"),),
        Path("/etc/cni/net.d"),
        0,
        "podnet",
    )


# Which configuration is chosen (libcni ConfFiles + ocicni/go-cni loadFromConfDir).


def _write(conf_dir: Path, name: str, content: object) -> None:
    conf_dir.mkdir(exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (conf_dir / name).write_text(text)


def _net(name: str, version: str = "1.0.0") -> dict[str, Any]:
    return {"cniVersion": version, "name": name, "plugins": [{"type": "bridge"}]}


def test_the_first_file_in_lexical_order_wins(tmp_path: Path) -> None:
    _write(tmp_path, "20-b.conflist", _net("b"))
    _write(tmp_path, "10-a.conflist", _net("a"))
    _write(tmp_path, "05-z.conflist.bak", _net("z"))  # wrong suffix: ignored
    _write(tmp_path, "README", "no network here")
    (tmp_path / "00-dir.conflist").mkdir()  # a directory: ignored
    network = load_network(tmp_path, 1)
    assert network is not None
    assert (network.name, network.path) == ("a", tmp_path / "10-a.conflist")


def test_a_single_plugin_conf_is_wrapped_into_a_list(tmp_path: Path) -> None:
    conf = {"cniVersion": "0.4.0", "name": "single", "type": "bridge", "bridge": "br9"}
    _write(tmp_path, "10-single.conf", conf)
    _write(tmp_path, "20-other.conflist", _net("other"))
    network = load_network(tmp_path, 1)
    assert network is not None
    assert (network.name, network.cni_version) == ("single", "0.4.0")
    assert [dict(p.conf) for p in network.plugins] == [conf]
    _write(tmp_path, "05-json.json", {"cniVersion": "0.3.1", "name": "js", "type": "ptp"})
    loaded = load_network(tmp_path, 1)
    assert loaded is not None and loaded.name == "js"


def test_invalid_files_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, "01-broken.conflist", "{not json")
    _write(tmp_path, "02-empty.conflist", {"cniVersion": "1.0.0", "name": "e", "plugins": []})
    _write(tmp_path, "03-list-in-conf.conf", _net("misplaced"))
    _write(tmp_path, "04-no-name.conflist", {"cniVersion": "1.0.0", "plugins": [{"type": "x"}]})
    _write(tmp_path, "05-bad-type.conflist", {"name": "t", "plugins": [{"type": "../sh"}]})
    _write(tmp_path, "06-bad-version.conflist", _net("v", version="one"))
    _write(tmp_path, "09-good.conflist", _net("good"))
    with caplog.at_level(logging.WARNING, logger="crio_py.backends.cni"):
        network = load_network(tmp_path, 1)
    assert network is not None and network.name == "good"
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 6
    assert all(m.startswith("Skipping CNI network configuration") for m in skipped)
    assert "perhaps this is a .conflist?" in skipped[2]


def test_the_default_network_is_found_by_name_anywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, "10-a.conflist", _net("a"))
    _write(tmp_path, "90-wanted.conflist", _net("wanted"))
    network = load_network(tmp_path, 1, "wanted")
    assert network is not None and network.name == "wanted"
    with caplog.at_level(logging.WARNING, logger="crio_py.backends.cni"):
        assert load_network(tmp_path, 1, "absent") is None
    assert "No CNI network named absent" in caplog.text


def test_no_directory_or_no_file_means_no_network(tmp_path: Path) -> None:
    assert load_network(tmp_path / "missing", 1) is None
    assert load_network(tmp_path, 1) is None


def test_more_networks_than_one_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, "10-a.conflist", _net("a"))
    _write(tmp_path, "20-b.conflist", _net("b"))
    with caplog.at_level(logging.WARNING, logger="crio_py.backends.cni"):
        network = load_network(tmp_path, 0)
    assert network is not None and network.name == "a"
    assert "not attaching b" in caplog.text


def test_parse_network_picks_the_newest_usable_cni_version() -> None:
    text = json.dumps(
        {
            "name": "n",
            "cniVersion": "0.4.0",
            "cniVersions": ["1.0.0", "9.0.0"],
            "plugins": [{"type": "bridge"}],
            "disableCheck": "true",
        }
    )
    network = parse_network(text)
    assert (network.cni_version, network.disable_check) == ("1.0.0", True)
    capabilities = parse_network(json.dumps(CONFLIST)).plugins[1].capabilities
    assert capabilities == frozenset({"portMappings"})


def test_parse_result_of_old_and_dual_stack_results() -> None:
    old = parse_result(
        {
            "cniVersion": "0.2.0",
            "ip4": {"ip": "10.1.0.4/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
            "dns": {"nameservers": ["1.1.1.1"]},
        }
    )
    assert old.pod_ips() == ("10.1.0.4",)
    assert old.routes[0].dst == "0.0.0.0/0"
    dual = parse_result(
        {
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "cni0"}, {"name": "eth0", "sandbox": "/run/netns/x"}],
            "ips": [
                {"address": "fd00::4/64", "interface": 1},
                {"address": "10.1.0.4/16", "interface": 1},
                {"address": "10.9.9.9/32", "interface": 0},
            ],
        }
    )
    assert dual.pod_ips() == ("10.1.0.4", "fd00::4")
    assert dual.pod_ips("eth1") == ()
