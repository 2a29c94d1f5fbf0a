"""containerd `config.toml` models for config versions 1, 2, 3 and 4.

The `version` key selects the model (no version means 1). Version 1 names plugins by short ids
(`[plugins.cri]`), version 2 by URIs (`io.containerd.grpc.v1.cri`), version 3 splits the CRI
plugin (containerd 2.0-2.2), version 4 moves `[grpc]`, `[ttrpc]`, `[metrics]` and the debug
socket into `io.containerd.server.v1.*` plugins (containerd 2.3). Plugin tables this module
does not model are kept as they are (`extra="allow"`), for lint to classify.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from crio_py.config.containerd.cri import (
    CriImagesV3,
    CriRuntimeV3,
    CriServerV3,
    CriV2,
)
from crio_py.config.containerd.plugins import (
    Bolt,
    CgroupsMonitor,
    Devmapper,
    DiffService,
    GcScheduler,
    GrpcPrometheus,
    LinuxRuntimeV1,
    Nri,
    Opt,
    Otlp,
    Overlayfs,
    Restart,
    ServerGrpc,
    ServerGrpcTcp,
    ServerMetrics,
    ServerSocket,
    ShimManager,
    SimpleSnapshotter,
    Task,
    TasksService,
    Tracing,
    TransferLocal,
)
from crio_py.config.types import AbsPath, Duration, OpenTable, Table


def _integer_only(value: Any) -> Any:
    """`version = true` or `3.0` equal 1 or 3 to Python, but containerd wants an integer."""
    if isinstance(value, bool | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


_IntegerOnly = BeforeValidator(_integer_only)
Version1 = Annotated[Literal[0, 1], _IntegerOnly]
Version2 = Annotated[Literal[2], _IntegerOnly]
Version3 = Annotated[Literal[3], _IntegerOnly]
Version4 = Annotated[Literal[4], _IntegerOnly]


class Grpc(Table):
    """`[grpc]`: the API socket."""

    address: AbsPath = Field("/run/containerd/containerd.sock", description="unix socket path")
    tcp_address: str = ""
    tcp_tls_ca: str = ""
    tcp_tls_cert: str = ""
    tcp_tls_key: str = ""
    tcp_tls_common_name: str = Field("", description="2.2+")
    uid: int = Field(0, description="socket owner")
    gid: int = Field(0, description="socket group")
    max_recv_message_size: int = Field(16777216, description="bytes")
    max_send_message_size: int = Field(16777216, description="bytes")


class Ttrpc(Table):
    """`[ttrpc]`."""

    address: str = ""
    uid: int = 0
    gid: int = 0


class Debug(Table):
    """`[debug]`: log level and format, and (up to config version 3) the debug socket."""

    address: str = ""
    uid: int = 0
    gid: int = 0
    level: str = Field("", description="trace, debug, info, warn, error, fatal or panic")
    format: str = Field("", description="text or json")
    log_trace_id: bool = Field(False, description="2.3+")


class DebugV4(Table):
    """`[debug]` in config version 4: the socket moved to io.containerd.server.v1.debug."""

    level: str = Field("", description="trace, debug, info, warn, error, fatal or panic")
    format: str = Field("", description="text or json")
    log_trace_id: bool = False


class Metrics(Table):
    """`[metrics]`: the Prometheus endpoint."""

    address: str = Field("", description="host:port; empty disables metrics")
    grpc_histogram: bool = False


class Cgroup(Table):
    """`[cgroup]`: the cgroup of the daemon itself (not the container cgroup driver)."""

    path: str = ""


class StreamProcessor(Table):
    """`[stream_processors.<name>]`."""

    accepts: list[str] = []
    returns: str = ""
    path: str = ""
    args: list[str] = []
    env: list[str] = []


class ProxyPlugin(Table):
    """`[proxy_plugins.<name>]`."""

    type: str = ""
    address: str = ""
    platform: str = ""
    exports: dict[str, str] = {}
    capabilities: list[str] = []


class _Plugins(OpenTable):
    # Plugin tables are found by plugin id only: [plugins.scheduler] is not the GC scheduler.
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=False)


def _plugin(model: type[BaseModel], plugin_id: str) -> Any:
    return Field(None, alias=plugin_id, description=model.__doc__)


class PluginsV1(_Plugins):
    """`[plugins]` of a version 1 file: short plugin ids."""

    cri: CriV2 | None = _plugin(CriV2, "cri")
    scheduler: GcScheduler | None = _plugin(GcScheduler, "scheduler")
    overlayfs: Overlayfs | None = _plugin(Overlayfs, "overlayfs")
    devmapper: Devmapper | None = _plugin(Devmapper, "devmapper")
    native: SimpleSnapshotter | None = _plugin(SimpleSnapshotter, "native")
    btrfs: SimpleSnapshotter | None = _plugin(SimpleSnapshotter, "btrfs")
    zfs: SimpleSnapshotter | None = _plugin(SimpleSnapshotter, "zfs")
    aufs: SimpleSnapshotter | None = _plugin(SimpleSnapshotter, "aufs")
    opt: Opt | None = _plugin(Opt, "opt")
    linux: LinuxRuntimeV1 | None = _plugin(LinuxRuntimeV1, "linux")
    task: Task | None = _plugin(Task, "task")
    tasks_service: TasksService | None = _plugin(TasksService, "tasks-service")
    diff_service: DiffService | None = _plugin(DiffService, "diff-service")
    bolt: Bolt | None = _plugin(Bolt, "bolt")
    cgroups: CgroupsMonitor | None = _plugin(CgroupsMonitor, "cgroups")
    restart: Restart | None = _plugin(Restart, "restart")
    otlp: Otlp | None = _plugin(Otlp, "otlp")
    tracing: Tracing | None = _plugin(Tracing, "tracing")


class _PluginsCommon(_Plugins):
    scheduler: GcScheduler | None = _plugin(GcScheduler, "io.containerd.gc.v1.scheduler")
    overlayfs: Overlayfs | None = _plugin(Overlayfs, "io.containerd.snapshotter.v1.overlayfs")
    devmapper: Devmapper | None = _plugin(Devmapper, "io.containerd.snapshotter.v1.devmapper")
    native: SimpleSnapshotter | None = _plugin(
        SimpleSnapshotter, "io.containerd.snapshotter.v1.native"
    )
    btrfs: SimpleSnapshotter | None = _plugin(
        SimpleSnapshotter, "io.containerd.snapshotter.v1.btrfs"
    )
    zfs: SimpleSnapshotter | None = _plugin(SimpleSnapshotter, "io.containerd.snapshotter.v1.zfs")
    opt: Opt | None = _plugin(Opt, "io.containerd.internal.v1.opt")
    task: Task | None = _plugin(Task, "io.containerd.runtime.v2.task")
    tasks_service: TasksService | None = _plugin(
        TasksService, "io.containerd.service.v1.tasks-service"
    )
    diff_service: DiffService | None = _plugin(DiffService, "io.containerd.service.v1.diff-service")
    bolt: Bolt | None = _plugin(Bolt, "io.containerd.metadata.v1.bolt")
    nri: Nri | None = _plugin(Nri, "io.containerd.nri.v1.nri")
    transfer: TransferLocal | None = _plugin(TransferLocal, "io.containerd.transfer.v1.local")
    otlp: Otlp | None = _plugin(Otlp, "io.containerd.tracing.processor.v1.otlp")
    tracing: Tracing | None = _plugin(Tracing, "io.containerd.internal.v1.tracing")


class PluginsV2(_PluginsCommon):
    """`[plugins]` of a version 2 file (containerd 1.6 and 1.7)."""

    cri: CriV2 | None = _plugin(CriV2, "io.containerd.grpc.v1.cri")
    aufs: SimpleSnapshotter | None = _plugin(SimpleSnapshotter, "io.containerd.snapshotter.v1.aufs")
    linux: LinuxRuntimeV1 | None = _plugin(LinuxRuntimeV1, "io.containerd.runtime.v1.linux")
    cgroups: CgroupsMonitor | None = _plugin(CgroupsMonitor, "io.containerd.monitor.v1.cgroups")
    restart: Restart | None = _plugin(Restart, "io.containerd.internal.v1.restart")


class PluginsV3(_PluginsCommon):
    """`[plugins]` of a version 3 file (containerd 2.0 to 2.2)."""

    cri_runtime: CriRuntimeV3 | None = _plugin(CriRuntimeV3, "io.containerd.cri.v1.runtime")
    cri_images: CriImagesV3 | None = _plugin(CriImagesV3, "io.containerd.cri.v1.images")
    cri_server: CriServerV3 | None = _plugin(CriServerV3, "io.containerd.grpc.v1.cri")
    cgroups: CgroupsMonitor | None = _plugin(
        CgroupsMonitor, "io.containerd.monitor.task.v1.cgroups"
    )
    restart: Restart | None = _plugin(Restart, "io.containerd.monitor.container.v1.restart")
    shim_manager: ShimManager | None = _plugin(ShimManager, "io.containerd.shim.v1.manager")


class PluginsV4(PluginsV3):
    """`[plugins]` of a version 4 file (containerd 2.3): the server plugins join."""

    server_grpc: ServerGrpc | None = _plugin(ServerGrpc, "io.containerd.server.v1.grpc")
    server_grpc_tcp: ServerGrpcTcp | None = _plugin(
        ServerGrpcTcp, "io.containerd.server.v1.grpc-tcp"
    )
    server_ttrpc: ServerSocket | None = _plugin(ServerSocket, "io.containerd.server.v1.ttrpc")
    server_debug: ServerSocket | None = _plugin(ServerSocket, "io.containerd.server.v1.debug")
    server_metrics: ServerMetrics | None = _plugin(ServerMetrics, "io.containerd.server.v1.metrics")
    grpc_prometheus: GrpcPrometheus | None = _plugin(
        GrpcPrometheus, "io.containerd.metrics.v1.grpc-prometheus"
    )


class _ConfigBase(Table):
    root: AbsPath = Field("/var/lib/containerd", description="persistent data")
    state: AbsPath = Field("/run/containerd", description="transient state")
    temp: str = ""
    plugin_dir: str = Field("", description="Go plugins (removed in 2.1)")
    disabled_plugins: list[str] = []
    required_plugins: list[str] = []
    oom_score: int = Field(0, description="OOM score adjustment of the daemon")
    imports: list[str] = Field([], description="more config files merged into this one")
    cgroup: Cgroup = Cgroup()
    timeouts: dict[str, Duration] = {}
    stream_processors: dict[str, StreamProcessor] = {}
    proxy_plugins: dict[str, ProxyPlugin] = {}


class _ConfigWithServers(_ConfigBase):
    grpc: Grpc = Grpc()
    ttrpc: Ttrpc = Ttrpc()
    debug: Debug = Debug()
    metrics: Metrics = Metrics()


class ContainerdConfigV1(_ConfigWithServers):
    """containerd config.toml, version 1 (no `version` key; short plugin ids)."""

    version: Version1 = Field(1, description="config version")

    plugins: PluginsV1 = PluginsV1()


class ContainerdConfigV2(_ConfigWithServers):
    """containerd config.toml, version 2 (containerd 1.6 and 1.7)."""

    version: Version2 = Field(2, description="config version")

    plugins: PluginsV2 = PluginsV2()


class ContainerdConfigV3(_ConfigWithServers):
    """containerd config.toml, version 3 (containerd 2.0 to 2.2)."""

    version: Version3 = Field(3, description="config version")

    plugins: PluginsV3 = PluginsV3()


class ContainerdConfigV4(_ConfigBase):
    """containerd config.toml, version 4 (containerd 2.3 and later)."""

    version: Version4 = Field(4, description="config version")

    debug: DebugV4 = DebugV4()
    plugins: PluginsV4 = PluginsV4()


ContainerdConfig = ContainerdConfigV1 | ContainerdConfigV2 | ContainerdConfigV3 | ContainerdConfigV4

MODELS: dict[int, type[ContainerdConfig]] = {
    1: ContainerdConfigV1,
    2: ContainerdConfigV2,
    3: ContainerdConfigV3,
    4: ContainerdConfigV4,
}
