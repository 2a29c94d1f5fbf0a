"""CNI values: network configurations (conflists) and how they are chosen, the sandbox a
plugin is run for, and the results plugins return, parsed from every spec version."""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]

# libcni utils.ValidateContainerID / ValidateNetworkName; both also name cache files.
VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")


SUFFIXES = (".conf", ".conflist", ".json")


NEWEST_VERSION = (1, 1, 0)  # the newest spec version this runtime speaks


@dataclass(frozen=True)
class PluginConfig:
    """One plugin of a network: its type and its JSON object as the file wrote it."""

    type: str
    conf: Mapping[str, Any]

    @property
    def capabilities(self) -> frozenset[str]:
        """The capability arguments the plugin asks for (`"capabilities": {"x": true}`)."""
        declared = self.conf.get("capabilities")
        if not isinstance(declared, dict):
            return frozenset()
        return frozenset(name for name, wanted in declared.items() if wanted is True)


@dataclass(frozen=True)
class NetworkConfig:
    """A network: a named list of plugins run in order."""

    name: str
    cni_version: str
    plugins: tuple[PluginConfig, ...]
    disable_check: bool = False
    path: Path | None = None  # the file it came from, if any

    def to_json(self) -> JsonObject:
        """The network as a conflist document (kept in the result cache)."""
        return {
            "cniVersion": self.cni_version,
            "name": self.name,
            "disableCheck": self.disable_check,
            "plugins": [copy.deepcopy(dict(p.conf)) for p in self.plugins],
        }


LOOPBACK_NETWORK = NetworkConfig(
    name="cni-loopback",
    cni_version="0.3.1",
    plugins=(PluginConfig("loopback", {"type": "loopback"}),),
)
"""Brings `lo` up in every pod's network namespace before the configured network: containerd
(go-cni's WithLoNetwork) and CRI-O (ocicni) always attach it, so a pod reaches 127.0.0.1
whatever the conf dir holds."""
LOOPBACK_IFNAME = "lo"


@dataclass(frozen=True, kw_only=True)
class PortMapping:
    """CNI capability `portMappings` entry (CONVENTIONS.md)."""

    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""


@dataclass(frozen=True, kw_only=True)
class Bandwidth:
    """CNI capability `bandwidth`: rates in bits per second, bursts in bits."""

    ingress_rate: int = 0
    ingress_burst: int = 0
    egress_rate: int = 0
    egress_burst: int = 0


@dataclass(frozen=True, kw_only=True)
class IpRange:
    """One range of the CNI capability `ipRanges`."""

    subnet: str
    range_start: str = ""
    range_end: str = ""
    gateway: str = ""


@dataclass(frozen=True, kw_only=True)
class DnsConfig:
    """CNI capability `dns` (the sandbox's DNS settings)."""

    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CniSandbox:
    """What one plugin call needs to know about a sandbox."""

    container_id: str  # the sandbox id: CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID
    netns_path: str  # CNI_NETNS; may be "" for a DEL after the namespace is gone
    ifname: str = "eth0"
    pod_namespace: str = ""
    pod_name: str = ""
    pod_uid: str = ""
    port_mappings: tuple[PortMapping, ...] = ()
    bandwidth: Bandwidth | None = None
    ip_ranges: tuple[tuple[IpRange, ...], ...] = ()
    dns: DnsConfig | None = None
    extra_args: tuple[tuple[str, str], ...] = ()

    def cni_args(self) -> list[tuple[str, str]]:
        """CNI_ARGS as pairs, in the order CRI-O's ocicni sends them."""
        return [
            ("IgnoreUnknown", "1"),
            ("K8S_POD_NAMESPACE", self.pod_namespace),
            ("K8S_POD_NAME", self.pod_name),
            ("K8S_POD_INFRA_CONTAINER_ID", self.container_id),
            ("K8S_POD_UID", self.pod_uid),
            *self.extra_args,
        ]

    def capability_args(self) -> JsonObject:
        """Capability arguments by name, only those that are set (JSON as go-cni writes it)."""
        found: JsonObject = {}
        mappings = [_port_mapping(m) for m in self.port_mappings if m.host_port > 0]
        if mappings:
            found["portMappings"] = mappings
        if self.bandwidth is not None:
            b = self.bandwidth
            found["bandwidth"] = {
                "ingressRate": b.ingress_rate,
                "ingressBurst": b.ingress_burst,
                "egressRate": b.egress_rate,
                "egressBurst": b.egress_burst,
            }
        if self.ip_ranges:
            found["ipRanges"] = [[_ip_range(r) for r in ranges] for ranges in self.ip_ranges]
        if self.dns is not None:
            d = self.dns
            found["dns"] = {
                "servers": list(d.servers),
                "searches": list(d.searches),
                "options": list(d.options),
            }
        return found


@dataclass(frozen=True)
class CniInterface:
    """An interface a plugin made; `sandbox` is the netns path when it lives in the sandbox."""

    name: str
    mac: str = ""
    sandbox: str = ""


@dataclass(frozen=True)
class CniIp:
    """An address in CIDR notation; `interface` indexes the result's interfaces."""

    address: str
    gateway: str = ""
    interface: int | None = None

    @property
    def ip(self) -> str:
        """The address without its prefix length."""
        return self.address.split("/", 1)[0]


@dataclass(frozen=True)
class CniRoute:
    """A route a plugin set up."""

    dst: str
    gw: str = ""


@dataclass(frozen=True)
class CniDns:
    """DNS settings a plugin returned."""

    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class CniResult:
    """The result of an ADD: interfaces, IPs, routes and DNS (SPEC.md "Success")."""

    cni_version: str
    interfaces: tuple[CniInterface, ...] = ()
    ips: tuple[CniIp, ...] = ()
    routes: tuple[CniRoute, ...] = ()
    dns: CniDns = CniDns()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def pod_ips(self, ifname: str = "eth0") -> tuple[str, ...]:
        """The IPs on the sandbox's interface `ifname`, IPv4 first (containerd selectPodIPs).
        IPs that name no interface count as the sandbox's."""
        mine = []
        for ip in self.ips:
            index = ip.interface
            if (
                index is not None
                and 0 <= index < len(self.interfaces)
                and self.interfaces[index].name != ifname
            ):
                continue
            mine.append(ip.ip)
        return tuple(sorted(mine, key=lambda ip: ":" in ip))


@dataclass(frozen=True)
class NetworkStatus:
    """Whether sandboxes can get a network (the CRI NetworkReady condition)."""

    ready: bool
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class CachedAttachment:
    """What `add` left in the cache: enough to DEL after a restart."""

    network: NetworkConfig
    container_id: str
    ifname: str
    netns_path: str
    cni_args: tuple[tuple[str, str], ...]
    capability_args: Mapping[str, Any]
    result: Mapping[str, Any]


def load_network(
    conf_dir: Path, max_conf_num: int, default_network: str = ""
) -> NetworkConfig | None:
    """The network sandboxes join: the one named `default_network`, else the first valid
    file among the first `max_conf_num` (0: all); None when there is none.

    One network is attached per sandbox; others that `max_conf_num` admits are logged.
    """
    try:
        files = sorted(p for p in conf_dir.iterdir() if p.suffix in SUFFIXES and not p.is_dir())
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("Cannot read CNI configuration directory %s: %s", conf_dir, exc)
        return None
    limit = max_conf_num if max_conf_num > 0 else len(files)
    loaded: list[NetworkConfig] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            network = parse_network(text, single=path.suffix != ".conflist", path=path)
        except (OSError, ValueError) as exc:
            logger.warning("Skipping CNI network configuration %s: %s", path, exc)
            continue
        if default_network:
            if network.name == default_network:
                return network
            continue
        loaded.append(network)
        if len(loaded) >= limit:
            break
    if default_network:
        logger.warning("No CNI network named %s in %s", default_network, conf_dir)
        return None
    if len(loaded) > 1:
        logger.warning(
            "Sandboxes get only the first CNI network, %s; not attaching %s",
            loaded[0].name,
            ", ".join(n.name for n in loaded[1:]),
        )
    return loaded[0] if loaded else None


def parse_network(text: str, *, single: bool = False, path: Path | None = None) -> NetworkConfig:
    """A network from a conflist document, or (`single`) from a one-plugin `.conf` document;
    ValueError says what is wrong."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if single:
        if not isinstance(document.get("type"), str):
            raise ValueError("no 'type'; perhaps this is a .conflist?")
        document = {
            "cniVersion": document.get("cniVersion", ""),
            "name": document.get("name"),
            "plugins": [document],
        }
    name = document.get("name")
    if not isinstance(name, str) or not VALID_NAME.match(name):
        raise ValueError(f"invalid or missing network name {name!r}")
    plugins = document.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise ValueError("no plugins in list")
    parsed = []
    for index, plugin in enumerate(plugins):
        kind = plugin.get("type") if isinstance(plugin, dict) else None
        if not isinstance(kind, str) or not kind or "/" in kind or kind in (".", ".."):
            raise ValueError(f"plugin {index} has no valid 'type'")
        parsed.append(PluginConfig(type=kind, conf=plugin))
    disable_check = document.get("disableCheck", False)
    if isinstance(disable_check, str):
        disable_check = disable_check.lower() == "true"
    return NetworkConfig(
        name=name,
        cni_version=_choose_version(document),
        plugins=tuple(parsed),
        disable_check=disable_check is True,
        path=path,
    )


def parse_result(data: Mapping[str, Any]) -> CniResult:
    """A plugin's result, in any spec version (0.1.0/0.2.0 `ip4`/`ip6`, or `ips`)."""
    version = str(data.get("cniVersion", ""))
    ips: list[CniIp] = []
    routes = [_route(r) for r in _list(data.get("routes"))]
    if "ips" in data or "interfaces" in data:
        for ip in _list(data.get("ips")):
            index = ip.get("interface")
            ips.append(
                CniIp(
                    address=str(ip.get("address", "")),
                    gateway=str(ip.get("gateway", "")),
                    interface=index if isinstance(index, int) else None,
                )
            )
    else:  # spec 0.1.0 / 0.2.0
        for key in ("ip4", "ip6"):
            block = data.get(key)
            if isinstance(block, dict):
                ips.append(CniIp(str(block.get("ip", "")), str(block.get("gateway", ""))))
                routes.extend(_route(r) for r in _list(block.get("routes")))
    interfaces = tuple(
        CniInterface(str(i.get("name", "")), str(i.get("mac", "")), str(i.get("sandbox", "")))
        for i in _list(data.get("interfaces"))
    )
    found_dns = data.get("dns")
    dns: Mapping[str, Any] = found_dns if isinstance(found_dns, dict) else {}
    return CniResult(
        cni_version=version,
        interfaces=interfaces,
        ips=tuple(ip for ip in ips if ip.address),
        routes=tuple(routes),
        dns=CniDns(
            nameservers=tuple(str(s) for s in dns.get("nameservers") or ()),
            domain=str(dns.get("domain", "")),
            search=tuple(str(s) for s in dns.get("search") or ()),
            options=tuple(str(s) for s in dns.get("options") or ()),
        ),
        raw=data,
    )


def _version(text: str) -> tuple[int, int, int]:
    """A spec version as numbers; "" is 0.1.0 (SPEC.md: a config without one is 0.1.0)."""
    if not text:
        return (0, 1, 0)
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"invalid cniVersion {text!r}")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _choose_version(document: Mapping[str, Any]) -> str:
    """`cniVersion`, or the newest of `cniVersions` this runtime speaks (libcni)."""
    version = document.get("cniVersion", "")
    if not isinstance(version, str):
        raise ValueError(f"invalid cniVersion {version!r}")
    _version(version)
    offered = document.get("cniVersions")
    if offered is None:
        return version
    if not isinstance(offered, list) or not all(isinstance(v, str) for v in offered):
        raise ValueError("invalid cniVersions")
    usable = [v for v in [*offered, version] if v and _version(v) <= NEWEST_VERSION]
    return max(usable, key=_version) if usable else version


def _list(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _route(route: Mapping[str, Any]) -> CniRoute:
    return CniRoute(str(route.get("dst", "")), str(route.get("gw", "")))


def _port_mapping(mapping: PortMapping) -> JsonObject:
    entry: JsonObject = {
        "hostPort": mapping.host_port,
        "containerPort": mapping.container_port,
        "protocol": mapping.protocol.lower() or "tcp",
    }
    if mapping.host_ip:
        entry["hostIP"] = mapping.host_ip
    return entry


def _ip_range(ip_range: IpRange) -> JsonObject:
    entry: JsonObject = {"subnet": ip_range.subnet}
    for key, value in (
        ("rangeStart", ip_range.range_start),
        ("rangeEnd", ip_range.range_end),
        ("gateway", ip_range.gateway),
    ):
        if value:
            entry[key] = value
    return entry
