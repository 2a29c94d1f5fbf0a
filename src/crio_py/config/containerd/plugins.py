"""Tables of the containerd plugins a CRI node configures, other than the CRI plugin itself:
GC, snapshotters, opt, runtime v2 tasks, shim manager, services, NRI, transfer, tracing and
the version 4 server plugins."""

from __future__ import annotations

from pydantic import Field

from crio_py.config.types import AbsPath, Duration, Table


class GcScheduler(Table):
    """`io.containerd.gc.v1.scheduler`."""

    pause_threshold: float = 0.02
    deletion_threshold: int = 0
    mutation_threshold: int = 100
    schedule_delay: Duration = "0s"
    startup_delay: Duration = "100ms"


class Overlayfs(Table):
    """`io.containerd.snapshotter.v1.overlayfs`."""

    root_path: str = ""
    upperdir_label: bool = False
    sync_remove: bool = False
    mount_options: list[str] = []
    slow_chown: bool = False


class Devmapper(Table):
    """`io.containerd.snapshotter.v1.devmapper`."""

    root_path: str = ""
    pool_name: str = ""
    base_image_size: str = ""
    async_remove: bool = False
    discard_blocks: bool = False
    fs_type: str = ""
    fs_options: str = ""


class SimpleSnapshotter(Table):
    """native, btrfs, zfs, aufs snapshotters."""

    root_path: str = ""


class Opt(Table):
    """`io.containerd.internal.v1.opt`."""

    path: AbsPath = "/opt/containerd"


class LinuxRuntimeV1(Table):
    """`io.containerd.runtime.v1.linux` (removed in containerd 2.0)."""

    shim: str = "containerd-shim"
    runtime: str = "runc"
    runtime_root: str = ""
    no_shim: bool = False
    shim_debug: bool = False


class Task(Table):
    """`io.containerd.runtime.v2.task`."""

    platforms: list[str] = []
    sched_core: bool = False


class ShimManager(Table):
    """`io.containerd.shim.v1.manager` (2.0+)."""

    env: list[str] = []
    socket_dir: str = Field("", description="2.3+")


class TasksService(Table):
    """`io.containerd.service.v1.tasks-service`."""

    rdt_config_file: str = ""
    blockio_config_file: str = ""


class DiffService(Table):
    """`io.containerd.service.v1.diff-service`."""

    default: list[str] = ["walking"]
    sync_fs: bool = False


class Bolt(Table):
    """`io.containerd.metadata.v1.bolt`."""

    content_sharing_policy: str = "shared"
    no_sync: bool = False


class CgroupsMonitor(Table):
    """`io.containerd.monitor.v1.cgroups` / `io.containerd.monitor.task.v1.cgroups`."""

    no_prometheus: bool = False


class Restart(Table):
    """`io.containerd.internal.v1.restart` / `io.containerd.monitor.container.v1.restart`."""

    interval: Duration = "10s"


class NriValidator(Table):
    """`[…nri.v1.nri.default_validator]` (2.2+)."""

    enable: bool = False
    reject_oci_hook_adjustment: bool = False
    reject_runtime_default_seccomp_adjustment: bool = False
    reject_unconfined_seccomp_adjustment: bool = False
    reject_custom_seccomp_adjustment: bool = False
    reject_namespace_adjustment: bool = False
    reject_sysctl_adjustment: bool = False
    required_plugins: list[str] = []
    tolerate_missing_plugins_annotation: str = ""


class Nri(Table):
    """`io.containerd.nri.v1.nri` (1.7+)."""

    disable: bool = False
    socket_path: str = "/var/run/nri/nri.sock"
    plugin_path: str = "/opt/nri/plugins"
    plugin_config_path: str = "/etc/nri/conf.d"
    plugin_registration_timeout: Duration = "5s"
    plugin_request_timeout: Duration = "2s"
    disable_connections: bool = False
    default_validator: NriValidator | None = Field(None, description="2.2+")


class UnpackConfig(Table):
    """`[[…transfer.v1.local.unpack_config]]`."""

    platform: str = ""
    snapshotter: str = ""
    differ: str = ""
    config_type: str = ""
    layer_types: list[str] = []


class TransferLocal(Table):
    """`io.containerd.transfer.v1.local` (1.7+)."""

    max_concurrent_downloads: int = 3
    max_concurrent_uploaded_layers: int = 3
    config_path: str = ""
    unpack_config: list[UnpackConfig] = []
    concurrent_layer_fetch_buffer: int = 0
    check_platform_supported: bool = False
    max_concurrent_unpacks: int = 0


class Otlp(Table):
    """`io.containerd.tracing.processor.v1.otlp` (deprecated)."""

    endpoint: str = ""
    protocol: str = ""
    insecure: bool = False


class Tracing(Table):
    """`io.containerd.internal.v1.tracing` (deprecated)."""

    service_name: str = ""
    sampling_ratio: float = 0.0


class ServerGrpc(Table):
    """`io.containerd.server.v1.grpc` (config version 4)."""

    address: AbsPath = Field("/run/containerd/containerd.sock", description="unix socket path")
    uid: int = 0
    gid: int = 0
    max_recv_message_size: int = 16777216
    max_send_message_size: int = 16777216


class ServerGrpcTcp(Table):
    """`io.containerd.server.v1.grpc-tcp` (config version 4)."""

    address: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_common_name: str = ""
    max_recv_message_size: int = 16777216
    max_send_message_size: int = 16777216


class ServerSocket(Table):
    """`io.containerd.server.v1.ttrpc` / `.debug` (config version 4)."""

    address: str = ""
    uid: int = 0
    gid: int = 0


class ServerMetrics(Table):
    """`io.containerd.server.v1.metrics` (config version 4)."""

    address: str = ""


class GrpcPrometheus(Table):
    """`io.containerd.metrics.v1.grpc-prometheus` (config version 4)."""

    grpc_histogram: bool = False
