"""CRI-O `crio.conf` models: the `[crio]` tables of every release from 1.26 to 1.36.

Defaults are those of the newest release (../shared/reference/crio-config.md §3-4); which
release has which key is in crio/rules.py. Merging of `crio.conf.d` drop-ins lives in
crio/merge.py.
"""

from __future__ import annotations

from pydantic import Field

from crio_py.config.rules import Target
from crio_py.config.types import AbsPath, Duration, PortString, QualifiedImageRef, Table

DEFAULT_CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "KILL",
]


class CrioApi(Table):
    """`[crio.api]`: the CRI socket and the streaming server."""

    grpc_max_send_msg_size: int = Field(83886080, description="bytes; <= 0 means 80 MiB")
    grpc_max_recv_msg_size: int = Field(83886080, description="bytes; <= 0 means 80 MiB")
    listen: AbsPath = Field("/var/run/crio/crio.sock", description="CRI unix socket")
    stream_address: str = Field("127.0.0.1", description="streaming server address")
    stream_port: PortString = Field("0", description="streaming port; 0 picks a free one")
    stream_enable_tls: bool = False
    stream_tls_cert: str = ""
    stream_tls_key: str = ""
    stream_tls_ca: str = ""
    stream_idle_timeout: Duration = ""
    tls_min_version: str = Field("VersionTLS12", description="VersionTLS12 or VersionTLS13 (1.36+)")
    tls_cipher_suites: list[str] = Field([], description="TLS 1.2 ciphers (1.36+)")


class RuntimeHandler(Table):
    """`[crio.runtime.runtimes.<name>]`: one runtime handler."""

    runtime_path: str = Field("", description="OCI runtime binary; empty looks up the name in PATH")
    runtime_type: str = Field("oci", description="oci (conmon), vm (shim v2) or pod (conmon-rs)")
    runtime_root: str = Field("", description="runtime state root")
    runtime_config_path: str = Field("", description="runtime config file (type vm only)")
    privileged_without_host_devices: bool = False
    allowed_annotations: list[str] = []
    monitor_path: str = Field("", description="conmon binary; empty looks up conmon in PATH")
    monitor_cgroup: str = Field("", description="'pod', a systemd slice, or empty")
    monitor_env: list[str] = []
    monitor_exec_cgroup: str = Field("", description="'container' runs exec in its cgroup")
    platform_runtime_paths: dict[str, str] = Field({}, description="os/arch → binary (1.28+)")
    runtime_pull_image: bool = Field(False, description="the handler pulls images (1.29+)")
    container_min_memory: str = Field("", description="minimum memory limit, e.g. 12MiB (1.30+)")
    no_sync_log: bool = Field(False, description="skip fsync of logs (1.31+)")
    inherit_default_runtime: bool = Field(False, description="copy the default handler (1.32+)")
    default_annotations: dict[str, str] = Field({}, description="1.32+")
    stream_websockets: bool = Field(False, description="type pod only (1.34+)")
    exec_cpu_affinity: str = Field("", description="'' or 'first' (1.34+)")
    seccomp_profile: str = Field("", description="handler seccomp profile (1.34+)")
    container_create_timeout: int = Field(240, description="seconds, minimum 30 (1.35+)")


class WorkloadResources(Table):
    """`resources` of a workload."""

    cpushares: int = 0
    cpuquota: int = 0
    cpuperiod: int = 0
    cpuset: str = ""
    cpulimit: int = 0


class Workload(Table):
    """`[crio.runtime.workloads.<name>]` (experimental)."""

    activation_annotation: str = ""
    annotation_prefix: str = ""
    allowed_annotations: list[str] = []
    resources: WorkloadResources = WorkloadResources()


def _default_handlers() -> dict[str, RuntimeHandler]:
    return {"crun": RuntimeHandler(runtime_root="/run/crun")}


class CrioRuntime(Table):
    """`[crio.runtime]`: containers, handlers and their defaults."""

    seccomp_use_default_when_empty: bool = Field(True, description="removed in 1.30")
    no_pivot: bool = False
    selinux: bool = False
    log_to_journald: bool = False
    drop_infra_ctr: bool = Field(True, description="no pause container unless PID is shared")
    read_only: bool = False
    conmon_env: list[str] = Field([], description="deprecated: runtimes.*.monitor_env")
    hooks_dir: list[str] = ["/usr/share/containers/oci/hooks.d"]
    default_capabilities: list[str] = Field(DEFAULT_CAPABILITIES, description="granted to all")
    add_inheritable_capabilities: bool = False
    default_env: list[str] = []
    default_sysctls: list[str] = Field([], description="name=value")
    default_ulimits: list[str] = Field([], description="name=soft:hard")
    allowed_devices: list[str] = ["/dev/fuse", "/dev/net/tun"]
    additional_devices: list[str] = []
    cdi_spec_dirs: list[str] = ["/etc/cdi", "/var/run/cdi"]
    device_ownership_from_security_context: bool = False
    default_runtime: str = Field("crun", description="handler used when none is asked for")
    decryption_keys_path: str = "/etc/crio/keys/"
    conmon: str = Field("", description="deprecated: runtimes.*.monitor_path")
    conmon_cgroup: str = Field("", description="deprecated: runtimes.*.monitor_cgroup")
    seccomp_profile: str = ""
    apparmor_profile: str = "crio-default"
    blockio_config_file: str = ""
    irqbalance_config_file: str = "/etc/sysconfig/irqbalance"
    rdt_config_file: str = ""
    cgroup_manager: str = Field("systemd", description="systemd or cgroupfs")
    default_mounts_file: str = ""
    container_exits_dir: AbsPath = "/var/run/crio/exits"
    container_attach_socket_dir: AbsPath = "/var/run/crio"
    bind_mount_prefix: str = ""
    uid_mappings: str = ""
    minimum_mappable_uid: int = -1
    gid_mappings: str = ""
    minimum_mappable_gid: int = -1
    log_level: str = "info"
    log_filter: str = ""
    namespaces_dir: AbsPath = "/var/run"
    pinns_path: str = ""
    enable_criu_support: bool = True
    runtimes: dict[str, RuntimeHandler] = Field(default_factory=_default_handlers)
    workloads: dict[str, Workload] = {}
    pids_limit: int = Field(-1, description="deprecated: kubelet podPidsLimit")
    log_size_max: int = Field(-1, description="log FILE size in bytes; negative = unlimited")
    ctr_stop_timeout: int = Field(30, description="seconds, minimum 30")
    separate_pull_cgroup: str = ""
    infra_ctr_cpuset: str = ""
    absent_mount_sources_to_reject: list[str] = []
    enable_pod_events: bool = False
    irqbalance_config_restore_file: str = "/etc/sysconfig/orig_irq_banned_cpus"
    hostnetwork_disable_selinux: bool = True
    disable_hostport_mapping: bool = False
    blockio_reload: bool = False
    shared_cpuset: str = ""
    timezone: str = ""
    privileged_seccomp_profile: str = ""
    min_injected_gomaxprocs: int = 0
    additional_artifact_stores: list[str] = []


class CrioImage(Table):
    """`[crio.image]`: pulls, the pause image and image policy."""

    default_transport: str = "docker://"
    global_auth_file: str = ""
    pause_image: QualifiedImageRef = Field(
        "registry.k8s.io/pause:3.10.1", description="infra image"
    )
    pause_image_auth_file: str = ""
    pause_command: str = "/pause"
    signature_policy: str = ""
    insecure_registries: list[str] = Field([], description="deprecated; no effect")
    image_volumes: str = Field("mkdir", description="mkdir, bind or ignore")
    registries: list[str] = Field([], description="removed in 1.31")
    big_files_temporary_dir: str = ""
    pinned_images: list[str] = []
    signature_policy_dir: AbsPath = "/etc/crio/policies"
    auto_reload_registries: bool = False
    pull_progress_timeout: Duration = "0s"
    oci_artifact_mount_support: bool = True
    short_name_mode: str = Field("enforcing", description="enforcing or disabled")
    namespaced_auth_dir: AbsPath = "/etc/crio/auth"


class CrioNetwork(Table):
    """`[crio.network]`: CNI."""

    cni_default_network: str = ""
    network_dir: AbsPath = "/etc/cni/net.d/"
    plugin_dir: str = Field("", description="deprecated: plugin_dirs")
    plugin_dirs: list[AbsPath] = ["/opt/cni/bin/"]
    cni_status_grace_period: Duration = ""


class CrioMetrics(Table):
    """`[crio.metrics]`."""

    enable_metrics: bool = False
    metrics_collectors: list[str] = []
    metrics_port: int = 9090
    metrics_socket: str = ""
    metrics_cert: str = ""
    metrics_key: str = ""
    metrics_host: str = "127.0.0.1"


class CrioTracing(Table):
    """`[crio.tracing]`."""

    enable_tracing: bool = False
    tracing_endpoint: str = "127.0.0.1:4317"
    tracing_sampling_rate_per_million: int = 0


class CrioStats(Table):
    """`[crio.stats]`."""

    stats_collection_period: int = Field(0, description="deprecated: collection_period")
    collection_period: int = 0
    included_pod_metrics: list[str] = []


class NriValidator(Table):
    """`[crio.nri.default_validator]` (1.34+)."""

    nri_enable_default_validator: bool = False
    nri_validator_reject_oci_hook_adjustment: bool = False
    nri_validator_reject_runtime_default_seccomp_adjustment: bool = False
    nri_validator_reject_unconfined_seccomp_adjustment: bool = False
    nri_validator_reject_custom_seccomp_adjustment: bool = False
    nri_validator_reject_namespace_adjustment: bool = False
    nri_validator_required_plugins: list[str] = []
    nri_validator_tolerate_missing_plugins_annotation: str = ""


class CrioNri(Table):
    """`[crio.nri]`."""

    enable_nri: bool = True
    nri_config_file: str = Field("/etc/nri/nri.conf", description="removed in 1.27")
    nri_listen: str = "/var/run/nri/nri.sock"
    nri_plugin_dir: str = "/opt/nri/plugins"
    nri_plugin_config_dir: str = "/etc/nri/conf.d"
    nri_plugin_registration_timeout: Duration = "5s"
    nri_plugin_request_timeout: Duration = "2s"
    nri_disable_connections: bool = False
    default_validator: NriValidator = NriValidator()


class CrioCheckpointRestore(Table):
    """`[crio.checkpoint_restore]` (unreleased)."""

    container_level_enabled: str = ""


class Crio(Table):
    """`[crio]`: storage and the tables below it."""

    root: AbsPath = "/var/lib/containers/storage"
    runroot: AbsPath = "/var/run/containers/storage"
    storage_driver: str = "overlay"
    storage_option: list[str] = []
    log_dir: AbsPath = "/var/log/crio/pods"
    version_file: str = "/var/run/crio/version"
    version_file_persist: str = ""
    clean_shutdown_file: str = "/var/lib/crio/clean.shutdown"
    internal_wipe: bool = True
    internal_repair: bool = True
    imagestore: str = ""
    api: CrioApi = CrioApi()
    runtime: CrioRuntime = CrioRuntime()
    image: CrioImage = CrioImage()
    network: CrioNetwork = CrioNetwork()
    metrics: CrioMetrics = CrioMetrics()
    tracing: CrioTracing = CrioTracing()
    stats: CrioStats = CrioStats()
    nri: CrioNri = CrioNri()
    checkpoint_restore: CrioCheckpointRestore = CrioCheckpointRestore()


class CrioConfig(Table):
    """A CRI-O configuration: crio.conf, or crio.conf plus its drop-ins merged."""

    crio: Crio = Crio()


def builtin_handler(target: Target) -> tuple[str, RuntimeHandler]:
    """The handler CRI-O defines by itself: runc up to 1.30, crun from 1.31."""
    name = "crun" if target.version >= (1, 31) else "runc"
    return name, RuntimeHandler(runtime_root=f"/run/{name}")


def effective_runtime(
    runtime: CrioRuntime, target: Target
) -> tuple[str, dict[str, RuntimeHandler]]:
    """The default handler name and every handler, built-in one included (maps merge by name).

    Which keys the files wrote is what pydantic recorded in `model_fields_set`.
    """
    builtin_name, builtin = builtin_handler(target)
    written = runtime.model_fields_set
    default = runtime.default_runtime if "default_runtime" in written else builtin_name
    handlers = {builtin_name: builtin}
    if "runtimes" in written:
        handlers.update(runtime.runtimes)
    if target.version >= (1, 32):
        handlers = _resolve_inherit(default, handlers)
    return default, handlers


def _resolve_inherit(
    default: str, handlers: dict[str, RuntimeHandler]
) -> dict[str, RuntimeHandler]:
    """`inherit_default_runtime = true` copies path, type, root and config path (CRI-O 1.32+)."""
    base = handlers.get(default)
    if base is None:
        return handlers
    copied = {
        key: getattr(base, key)
        for key in ("runtime_path", "runtime_type", "runtime_root", "runtime_config_path")
    }
    return {
        name: handler.model_copy(update=copied)
        if handler.inherit_default_runtime and name != default
        else handler
        for name, handler in handlers.items()
    }
