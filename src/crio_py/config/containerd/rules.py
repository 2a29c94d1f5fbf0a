"""containerd key and plugin history (../shared/reference/containerd-config.md §2-7).

Rules are written relative to the CRI plugin table and expanded to where that table lives in
each config version: `[plugins.cri]` (1), `[plugins."io.containerd.grpc.v1.cri"]` (2), and the
`io.containerd.cri.v1.runtime` / `.images` plugins (3 and 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from crio_py.config.rules import KeyRule, Version, expand

CRI_V1 = "cri"
CRI_V2 = "io.containerd.grpc.v1.cri"
CRI_RUNTIME = "io.containerd.cri.v1.runtime"
CRI_IMAGES = "io.containerd.cri.v1.images"

_RUNTIMES = ("containerd", "runtimes", "*")
_SYSTEMD = "runtimes.<name>.options.SystemdCgroup"

# Relative to the CRI runtime settings in every config version: keys containerd 2.0 removed.
# (A version 3 file is only read by 2.x, where `removed` wins over `deprecated`.)
_REMOVED_IN_2_0 = [
    KeyRule(
        ("systemd_cgroup",),
        deprecated=(1, 3),
        removed=(2, 0),
        replacement=_SYSTEMD,
        note="it only worked with the io.containerd.runtime.v1.linux runtime",
    ),
    KeyRule(("disable_cgroup",), removed=(2, 0), replacement="cgroup v2 delegation"),
    KeyRule(
        ("containerd", "default_runtime"),
        deprecated=(1, 3),
        removed=(2, 0),
        replacement="runtimes.<name> and default_runtime_name",
    ),
    KeyRule(
        ("containerd", "untrusted_workload_runtime"),
        deprecated=(1, 2),
        removed=(2, 0),
        replacement="runtimes.untrusted",
    ),
    KeyRule(
        ("containerd", "no_pivot"),
        removed=(2, 0),
        replacement="runtimes.<name>.options.NoPivotRoot",
    ),
]

# Relative to the CRI plugin of a version 1 or 2 file.
_CRI_V2_RULES = [
    *_REMOVED_IN_2_0,
    KeyRule(("enable_cdi",), added=(1, 7)),
    KeyRule(("cdi_spec_dirs",), added=(1, 7)),
    KeyRule(("image_pull_progress_timeout",), added=(1, 7)),
    KeyRule(("image_pull_with_sync_fs",), added=(1, 7)),
    KeyRule(("containerd", "ignore_blockio_not_enabled_errors"), added=(1, 7)),
    KeyRule((*_RUNTIMES, "snapshotter"), added=(1, 7)),
    KeyRule((*_RUNTIMES, "sandbox_mode"), added=(1, 7)),
    KeyRule((*_RUNTIMES, "privileged_without_host_devices_all_devices_allowed"), added=(1, 7)),
    KeyRule((*_RUNTIMES, "sandboxer"), added=(2, 0)),
    KeyRule((*_RUNTIMES, "io_type"), added=(2, 0)),
    KeyRule((*_RUNTIMES, "cgroup_writable"), added=(2, 1)),
    KeyRule((*_RUNTIMES, "options", "TaskApiAddress"), added=(2, 0)),
    KeyRule((*_RUNTIMES, "options", "TaskApiVersion"), added=(2, 0)),
    KeyRule(("cni", "setup_serially"), added=(1, 7)),
    KeyRule(("cni", "use_internal_loopback"), added=(2, 0)),
    KeyRule(("cni", "bin_dirs"), added=(2, 1), replacement="bin_dir (containerd 1.x reads one)"),
]

# Relative to a runtime table, in every config version.
_RUNTIME_RULES = [
    KeyRule(
        ("runtime_engine",),
        deprecated=(1, 3),
        removed=(2, 0),
        replacement="runtime_type io.containerd.runc.v2 with options.BinaryName",
    ),
    KeyRule(("runtime_root",), deprecated=(1, 3), removed=(2, 0), replacement="options.Root"),
    KeyRule(("options", "CriuPath"), deprecated=(1, 7), removed=(2, 0), replacement="criu in PATH"),
]

# Relative to the registry table, in every config version.
_REGISTRY_RULES = [
    KeyRule(
        ("mirrors",),
        deprecated=(1, 5),
        replacement="config_path with hosts.toml files (`crio-py config migrate` writes them)",
    ),
    KeyRule(
        ("configs", "*", "tls"),
        deprecated=(1, 5),
        removed=(2, 0),
        replacement="ca, client and skip_verify in hosts.toml",
    ),
    KeyRule(
        ("configs", "*", "auth"),
        deprecated=(1, 5),
        replacement="Kubernetes ImagePullSecrets or a credential provider",
    ),
    KeyRule(("auths",), deprecated=(1, 3), replacement="registry.configs.<host>.auth"),
]

# Relative to io.containerd.cri.v1.runtime (versions 3 and 4).
_CRI_RUNTIME_RULES = [
    *_REMOVED_IN_2_0,
    KeyRule(("enable_cdi",), deprecated=(2, 2), note="CDI is always on from containerd 2.4"),
    KeyRule(("stats_collect_period",), added=(2, 3)),
    KeyRule(("stats_retention_period",), added=(2, 3)),
    KeyRule(("enable_criu",), added=(2, 2)),
    KeyRule(("enable_experimental_restore_via_create",), added=(2, 2)),
    KeyRule((*_RUNTIMES, "sandbox_mode"), removed=(2, 0), replacement="sandboxer"),
    KeyRule((*_RUNTIMES, "cgroup_writable"), added=(2, 1)),
    KeyRule(("cni", "bin_dir"), deprecated=(2, 1), replacement="bin_dirs"),
    KeyRule(("cni", "bin_dirs"), added=(2, 1), replacement="bin_dir"),
    KeyRule(("cni", "use_internal_loopback"), added=(2, 0)),
]

_CRI_IMAGES_RULES = [
    KeyRule(("concurrent_layer_fetch_buffer",), added=(2, 1)),
    KeyRule(("use_local_image_pull",), added=(2, 1)),
]

_PLUGIN_RULES = [
    KeyRule(("plugins", "io.containerd.nri.v1.nri", "default_validator"), added=(2, 2)),
    KeyRule(("plugins", "io.containerd.shim.v1.manager", "socket_dir"), added=(2, 3)),
]

_TOP_RULES = [
    *_PLUGIN_RULES,
    KeyRule(
        ("plugin_dir",),
        deprecated=(2, 0),
        removed=(2, 1),
        replacement="proxy plugins or binary plugins",
    ),
    KeyRule(("subreaper",), removed=(1, 0), note="long removed"),
    KeyRule(("grpc", "tcp_tls_common_name"), added=(2, 2)),
    KeyRule(("debug", "log_trace_id"), added=(2, 3)),
]


def _cri_v2(cri_id: str) -> list[KeyRule]:
    prefix = ("plugins", cri_id)
    return [
        *expand([prefix], _CRI_V2_RULES),
        *expand([(*prefix, *_RUNTIMES)], _RUNTIME_RULES),
        *expand([(*prefix, "registry")], _REGISTRY_RULES),
    ]


def _cri_v3() -> list[KeyRule]:
    runtime = ("plugins", CRI_RUNTIME)
    return [
        *expand([runtime], _CRI_RUNTIME_RULES),
        *expand([(*runtime, *_RUNTIMES)], _RUNTIME_RULES),
        *expand([("plugins", CRI_IMAGES)], _CRI_IMAGES_RULES),
        *expand([("plugins", CRI_IMAGES, "registry")], _REGISTRY_RULES),
    ]


KEY_RULES: dict[int, list[KeyRule]] = {
    1: [*_TOP_RULES, *_cri_v2(CRI_V1)],
    2: [*_TOP_RULES, *_cri_v2(CRI_V2)],
    3: [*_TOP_RULES, *_cri_v3()],
    4: [*_TOP_RULES, *_cri_v3()],
}


@dataclass(frozen=True)
class PluginInfo:
    """A built-in plugin id and the containerd releases that have it."""

    added: Version = (1, 0)
    removed: Version | None = None
    renamed_to: str | None = None
    note: str | None = None


# Built-in plugins whose config tables node configs use, by full id.
PLUGINS: dict[str, PluginInfo] = {
    CRI_V2: PluginInfo(),
    CRI_RUNTIME: PluginInfo(added=(2, 0)),
    CRI_IMAGES: PluginInfo(added=(2, 0)),
    "io.containerd.gc.v1.scheduler": PluginInfo(),
    "io.containerd.snapshotter.v1.overlayfs": PluginInfo(),
    "io.containerd.snapshotter.v1.devmapper": PluginInfo(),
    "io.containerd.snapshotter.v1.native": PluginInfo(),
    "io.containerd.snapshotter.v1.btrfs": PluginInfo(),
    "io.containerd.snapshotter.v1.zfs": PluginInfo(),
    "io.containerd.snapshotter.v1.blockfile": PluginInfo(added=(1, 7)),
    "io.containerd.snapshotter.v1.erofs": PluginInfo(added=(2, 1)),
    "io.containerd.differ.v1.erofs": PluginInfo(added=(2, 1)),
    "io.containerd.mount-handler.v1.erofs": PluginInfo(added=(2, 2)),
    "io.containerd.image-verifier.v1.bindir": PluginInfo(added=(2, 0)),
    "io.containerd.snapshotter.v1.aufs": PluginInfo(
        removed=(2, 0), note="use the overlayfs snapshotter"
    ),
    "io.containerd.internal.v1.opt": PluginInfo(),
    "io.containerd.runtime.v1.linux": PluginInfo(
        removed=(2, 0), note="use runtime_type io.containerd.runc.v2"
    ),
    "io.containerd.runtime.v2.task": PluginInfo(),
    "io.containerd.shim.v1.manager": PluginInfo(added=(2, 0)),
    "io.containerd.service.v1.tasks-service": PluginInfo(),
    "io.containerd.service.v1.diff-service": PluginInfo(),
    "io.containerd.metadata.v1.bolt": PluginInfo(),
    "io.containerd.monitor.v1.cgroups": PluginInfo(
        removed=(2, 0), renamed_to="io.containerd.monitor.task.v1.cgroups"
    ),
    "io.containerd.monitor.task.v1.cgroups": PluginInfo(added=(2, 0)),
    "io.containerd.internal.v1.restart": PluginInfo(
        removed=(2, 0), renamed_to="io.containerd.monitor.container.v1.restart"
    ),
    "io.containerd.monitor.container.v1.restart": PluginInfo(added=(2, 0)),
    "io.containerd.nri.v1.nri": PluginInfo(added=(1, 7)),
    "io.containerd.transfer.v1.local": PluginInfo(added=(1, 7)),
    "io.containerd.tracing.processor.v1.otlp": PluginInfo(note="deprecated: use OTEL_* variables"),
    "io.containerd.internal.v1.tracing": PluginInfo(note="deprecated: use OTEL_* variables"),
    "io.containerd.server.v1.grpc": PluginInfo(added=(2, 3)),
    "io.containerd.server.v1.grpc-tcp": PluginInfo(added=(2, 3)),
    "io.containerd.server.v1.ttrpc": PluginInfo(added=(2, 3)),
    "io.containerd.server.v1.debug": PluginInfo(added=(2, 3)),
    "io.containerd.server.v1.metrics": PluginInfo(added=(2, 3)),
    "io.containerd.metrics.v1.grpc-prometheus": PluginInfo(added=(2, 3)),
}

# Version 1 short ids (../shared/reference/containerd-config.md §9.1).
SHORT_IDS: dict[str, str] = {
    "cri": CRI_V2,
    "cgroups": "io.containerd.monitor.v1.cgroups",
    "linux": "io.containerd.runtime.v1.linux",
    "scheduler": "io.containerd.gc.v1.scheduler",
    "bolt": "io.containerd.metadata.v1.bolt",
    "task": "io.containerd.runtime.v2.task",
    "opt": "io.containerd.internal.v1.opt",
    "restart": "io.containerd.internal.v1.restart",
    "tracing": "io.containerd.internal.v1.tracing",
    "otlp": "io.containerd.tracing.processor.v1.otlp",
    **{
        name: f"io.containerd.snapshotter.v1.{name}"
        for name in ("aufs", "btrfs", "devmapper", "native", "overlayfs", "zfs")
    },
}


def short_id_uri(name: str) -> str:
    """The URI a version 1 short plugin id becomes (containerd's v1Migrate)."""
    if "." in name:
        return name
    if name in SHORT_IDS:
        return SHORT_IDS[name]
    if name.endswith("-service"):
        return f"io.containerd.service.v1.{name}"
    return f"io.containerd.grpc.v1.{name}"


# The streaming keys that stay in io.containerd.grpc.v1.cri in config version 3.
CRI_SERVER_KEYS = (
    "disable_tcp_service",
    "stream_server_address",
    "stream_server_port",
    "stream_idle_timeout",
    "enable_tls_streaming",
    "x509_key_pair_streaming",
)

# Tables that version 4 moved from the top level into server plugins.
V4_MOVED_TABLES: dict[str, str] = {
    "grpc": "io.containerd.server.v1.grpc (tcp_* keys: io.containerd.server.v1.grpc-tcp)",
    "ttrpc": "io.containerd.server.v1.ttrpc",
    "metrics": "io.containerd.server.v1.metrics (grpc_histogram: "
    "io.containerd.metrics.v1.grpc-prometheus)",
}
