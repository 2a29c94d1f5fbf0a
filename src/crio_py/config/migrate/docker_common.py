"""Shared by both daemon.json conversions: reading its settings, and why a key is not carried
to a CRI runtime (with what to do instead)."""

from __future__ import annotations

from typing import Any

from crio_py.config.migrate.report import MigrationResult

_NETWORK = (
    "pod networking is the CNI plugin's: set the pod range in the CNI network config (or the "
    "cluster's pod CIDR); this range is not carried"
)
_REASONS: dict[str, str] = {
    **dict.fromkeys(
        (
            "default-address-pools",
            "bip",
            "bip6",
            "fixed-cidr",
            "fixed-cidr-v6",
            "bridge",
            "default-gateway",
            "default-gateway-v6",
            "mtu",
            "icc",
            "ip-masq",
            "ip-forward",
            "iptables",
            "ip6tables",
            "ipv6",
            "ip",
            "userland-proxy",
            "userland-proxy-path",
            "default-network-opts",
            "dns",
            "dns-opts",
            "dns-search",
            "allow-direct-routing",
            "firewall-backend",
            "host-gateway-ip",
        ),
        _NETWORK,
    ),
    "live-restore": (
        "nothing to carry: containerd's shims and CRI-O's conmon keep containers running "
        "while the daemon restarts, always"
    ),
    "default-ulimits": (
        "containerd has no default ulimits: containers inherit containerd's own limits "
        "(LimitNOFILE= of its service), or set process.rlimits in a base_runtime_spec"
    ),
    "hosts": "the Docker API sockets; the kubelet talks CRI over the runtime's own socket",
    "log-driver": "the kubelet reads container logs in the CRI log format from the runtime",
    "log-level": "set the runtime's own log level (containerd [debug] level, CRI-O log_level)",
    "debug": "set the runtime's own log level (containerd [debug] level, CRI-O log_level)",
    "exec-root": "the runtime keeps its state under its own state directory",
    "containerd": "dockerd's containerd socket; the CRI runtime is the daemon itself now",
    "cgroup-parent": "the kubelet places pods under its own cgroup root (cgroupRoot)",
    "userns-remap": "user namespaces are per pod in Kubernetes (hostUsers: false)",
    "seccomp-profile": "the pod's securityContext.seccompProfile decides; RuntimeDefault is "
    "the runtime's default profile",
    "no-new-privileges": "the pod's securityContext.allowPrivilegeEscalation decides",
    "default-shm-size": "the kubelet sizes /dev/shm; use an emptyDir with medium: Memory",
    "selinux-enabled": "set selinux (CRI-O) or enable_selinux (containerd) if the node uses it",
    "labels": "node labels belong to the Kubernetes Node object",
    "experimental": "a dockerd feature switch",
    "features": "dockerd feature switches",
    "max-concurrent-uploads": "a CRI runtime never pushes images",
    "storage-opts": "storage driver options of dockerd; set the snapshotter's own options",
}


def reason_for(key: str, value: Any) -> str:
    """The report line for a key no converter carried."""
    del value
    return _REASONS.get(key, "a Docker engine setting with no equivalent in a CRI runtime")


STORAGE_DRIVERS = {
    "overlay2": ("overlayfs", "overlay"),
    "overlay": ("overlayfs", "overlay"),
    "btrfs": ("btrfs", "btrfs"),
    "zfs": ("zfs", "zfs"),
    "devicemapper": ("devmapper", "devmapper"),
    "vfs": ("native", "vfs"),
}


def pruned(table: dict[str, Any]) -> dict[str, Any]:
    """The table without empty tables."""
    kept = {k: pruned(v) if isinstance(v, dict) else v for k, v in table.items()}
    return {k: v for k, v in kept.items() if v != {}}


def nested(out: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        out = out.setdefault(key, {})
    return out


def cgroup_driver(data: dict[str, Any]) -> str:
    """dockerd's cgroup driver: native.cgroupdriver, else cgroupfs (its default on cgroup v1)."""
    for option in data.get("exec-opts", []):
        key, _, value = option.partition("=")
        if key.strip() == "native.cgroupdriver":
            return str(value).strip()
    return ""


def other_exec_opts(data: dict[str, Any], result: MigrationResult) -> None:
    for option in data.get("exec-opts", []):
        if option.partition("=")[0].strip() != "native.cgroupdriver":
            result.add(
                "not-carried",
                f"exec-opts {option}",
                None,
                "an exec option of dockerd's own; no CRI runtime reads it",
            )


def log_size(data: dict[str, Any], result: MigrationResult) -> None:
    options: dict[str, str] = data.get("log-opts", {})
    kubelet = {"max-size": "containerLogMaxSize", "max-file": "containerLogMaxFiles"}
    for key, value in options.items():
        if key in kubelet:
            wanted = kubelet_quantity(value) if key == "max-size" else value
            reason = (
                f"the kubelet rotates container logs under a CRI runtime: set "
                f"{kubelet[key]}: {wanted} in its KubeletConfiguration"
            )
        else:
            reason = "a log driver option; the CRI runtime writes the kubelet's log format only"
        result.add("not-carried", f"log-opts.{key}", None, reason)


def kubelet_quantity(size: str) -> str:
    """Docker's 10m / 1g / 500k → the kubelet's 10Mi / 1Gi / 500Ki."""
    units = {"k": "Ki", "m": "Mi", "g": "Gi"}
    unit = size[-1:].lower()
    return f"{size[:-1]}{units[unit]}" if unit in units and size[:-1].isdigit() else size
