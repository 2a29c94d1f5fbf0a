"""containerd's CRI plugin tables: `io.containerd.grpc.v1.cri` (config version 2) and the
containerd 2.x split into `io.containerd.cri.v1.runtime`, `io.containerd.cri.v1.images` and the
streaming keys left in `io.containerd.grpc.v1.cri` (config version 3 and 4).

Defaults are the upstream ones (../shared/reference/containerd-config.md §3-4). Each model is
the union of the keys of every containerd release that reads its config version; which release
has which key is in rules.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from crio_py.config.types import (
    AbsPath,
    DockerAuth,
    Duration,
    ImageRef,
    OpenTable,
    PortString,
    Table,
)

RUNC_SHIM = "io.containerd.runc.v2"
RUNSC_SHIM = "io.containerd.runsc.v1"


class RuncOptions(Table):
    """`options` of a runtime whose runtime_type is io.containerd.runc.v2 (CamelCase keys)."""

    # containerd decodes these by field name, ignoring case (runtime/v2/runc/options/oci.proto).
    case_insensitive: ClassVar[bool] = True

    BinaryName: str = Field("", description="OCI runtime binary; empty means runc from PATH")
    Root: str = Field("", description="runtime state root")
    SystemdCgroup: bool = Field(False, description="use the systemd cgroup driver")
    NoPivotRoot: bool = Field(False, description="use MS_MOVE instead of pivot_root")
    NoNewKeyring: bool = Field(False, description="do not create a new session keyring")
    ShimCgroup: str = Field("", description="cgroup of the shim process")
    IoUid: int = Field(0, description="owner uid of the I/O pipes")
    IoGid: int = Field(0, description="owner gid of the I/O pipes")
    CriuPath: str = Field("", description="criu binary (removed in containerd 2.0)")
    CriuImagePath: str = Field("", description="criu image directory")
    CriuWorkPath: str = Field("", description="criu work directory")
    TaskApiAddress: str = Field("", description="sandbox task API endpoint (2.0+)")
    TaskApiVersion: int = Field(0, description="sandbox task API version (2.0+)")


class ShimOptions(OpenTable):
    """`options` of any other shim (runsc, kata, …): a config file plus free-form keys."""

    case_insensitive: ClassVar[bool] = True

    TypeUrl: str = Field("", description="type URL of the options message")
    ConfigPath: str = Field("", description="shim configuration file (runsc.toml, kata toml)")


def options_model(runtime: Mapping[str, Any]) -> type[BaseModel]:
    """The options model for a runtime table, chosen by its runtime_type."""
    runtime_type = runtime.get("runtime_type", "")
    return RuncOptions if runtime_type in ("", RUNC_SHIM, "io.containerd.runc.v1") else ShimOptions


class Runtime(Table):
    """`[…containerd.runtimes.<name>]`: one runtime handler."""

    dynamic_children: ClassVar[dict[str, Callable[[Mapping[str, Any]], type[BaseModel]]]] = {
        "options": options_model
    }

    runtime_type: str = Field("", description="shim name, e.g. io.containerd.runc.v2")
    runtime_path: str = Field("", description="path of the shim binary (not of runc)")
    runtime_engine: str = Field("", description="v1-linux runtime binary (removed in 2.0)")
    runtime_root: str = Field("", description="v1-linux runtime root (removed in 2.0)")
    pod_annotations: list[str] = Field([], description="pod annotations passed to the OCI spec")
    container_annotations: list[str] = Field([], description="container annotations passed on")
    options: dict[str, Any] = Field({}, description="shim options; runc keys are CamelCase")
    privileged_without_host_devices: bool = Field(
        False, description="no host devices for privileged"
    )
    privileged_without_host_devices_all_devices_allowed: bool = Field(
        False, description="allow all devices when privileged_without_host_devices is set"
    )
    base_runtime_spec: str = Field("", description="JSON OCI spec used as the template")
    cni_conf_dir: str = Field("", description="CNI config directory for this runtime")
    cni_max_conf_num: int = Field(0, description="CNI configs loaded for this runtime")
    snapshotter: str = Field("", description="snapshotter for this runtime (1.7+)")
    sandbox_mode: str = Field("", description="podsandbox or shim (1.7; sandboxer in 2.0)")
    sandboxer: str = Field("", description="podsandbox or shim (2.0+)")
    io_type: str = Field("", description="fifo or streaming (2.0+)")
    cgroup_writable: bool = Field(False, description="writable cgroupfs in containers (2.1+)")

    def runc_options(self) -> RuncOptions:
        """`options` as runc's shim reads them (keys it has no field for are left out)."""
        return RuncOptions.model_validate(_known(self.options, RuncOptions))

    def shim_options(self) -> ShimOptions:
        """`options` as another shim reads them: its config file, free-form keys aside."""
        return ShimOptions.model_validate(_known(self.options, ShimOptions))


def _known(options: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    # The walker has already validated `options` against the model its runtime_type selects.
    return {key: value for key, value in options.items() if key in model.model_fields}


def _default_runtimes() -> dict[str, Runtime]:
    return {"runc": Runtime(runtime_type=RUNC_SHIM)}


class Cni(Table):
    """`[…cni]`: CNI plugin binaries and network configurations."""

    bin_dir: AbsPath = Field("/opt/cni/bin", description="CNI plugin directory")
    bin_dirs: list[AbsPath] = Field(["/opt/cni/bin"], description="CNI plugin directories (2.1+)")
    conf_dir: AbsPath = Field("/etc/cni/net.d", description="CNI network configurations")
    max_conf_num: int = Field(1, description="network configurations loaded; 0 loads all")
    conf_template: str = Field("", description="template for a config built from the pod CIDR")
    ip_pref: str = Field("", description="ipv4, ipv6 or cni: which pod IP comes first")
    setup_serially: bool = Field(False, description="run the CNI plugins one at a time (1.7+)")
    use_internal_loopback: bool = Field(False, description="bring up lo without CNI (2.1+)")


class X509KeyPair(Table):
    """`[…x509_key_pair_streaming]`: the streaming server's certificate."""

    tls_cert_file: str = Field("", description="certificate file")
    tls_key_file: str = Field("", description="key file")


class Mirror(Table):
    """`[…registry.mirrors.<host>]` (deprecated)."""

    endpoint: list[str] = Field([], description="mirror URLs tried in order")


class RegistryAuth(Table):
    """`[…registry.configs.<host>.auth]` or `[…registry.auths.<url>]` (deprecated)."""

    username: str = ""
    password: str = ""
    auth: DockerAuth = Field("", description="base64 of username:password")
    identitytoken: str = ""


class RegistryTls(Table):
    """`[…registry.configs.<host>.tls]` (removed in containerd 2.0)."""

    insecure_skip_verify: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


class RegistryHostConfig(Table):
    """`[…registry.configs.<host>]`."""

    auth: RegistryAuth | None = None
    tls: RegistryTls | None = None


class Registry(Table):
    """`[…registry]`: registry settings inline, or the hosts.toml directory."""

    config_path: str = Field("", description="':'-separated directories of <host>/hosts.toml")
    mirrors: dict[str, Mirror] = Field({}, description="deprecated: use config_path")
    configs: dict[str, RegistryHostConfig] = Field({}, description="deprecated: use config_path")
    auths: dict[str, RegistryAuth] = Field({}, description="deprecated: use ImagePullSecrets")
    headers: dict[str, list[str]] = Field({}, description="extra HTTP headers")


class ImageDecryption(Table):
    """`[…image_decryption]`."""

    key_model: str = Field("node", description="where decryption keys come from")


class CriCommon(Table):
    """Keys that the v2 CRI plugin and the v3 runtime plugin share."""

    enable_selinux: bool = Field(False, description="SELinux labels for containers")
    selinux_category_range: int = Field(1024, description="SELinux MCS category range")
    max_container_log_line_size: int = Field(16384, description="bytes; -1 means unlimited")
    disable_apparmor: bool = Field(False, description="never apply AppArmor profiles")
    restrict_oom_score_adj: bool = Field(False, description="clamp oom_score_adj to the daemon's")
    disable_proc_mount: bool = Field(False, description="ignore the ProcMount request field")
    unset_seccomp_profile: str = Field("", description="profile used when the pod sets none")
    tolerate_missing_hugetlb_controller: bool = True
    disable_hugetlb_controller: bool = True
    device_ownership_from_security_context: bool = False
    ignore_image_defined_volumes: bool = False
    netns_mounts_under_state_dir: bool = False
    cdi_spec_dirs: list[str] = Field(["/etc/cdi", "/var/run/cdi"], description="CDI specs")
    drain_exec_sync_io_timeout: Duration = Field("0s", description="wait for exec output")
    ignore_deprecation_warnings: list[str] = []
    cni: Cni = Cni()


class ContainerdV2(Table):
    """`[plugins."io.containerd.grpc.v1.cri".containerd]` (config version 2)."""

    snapshotter: str = Field("overlayfs", description="snapshotter for images")
    default_runtime_name: str = Field("runc", description="runtime used when none is asked for")
    default_runtime: Runtime | None = Field(None, description="deprecated: use runtimes")
    untrusted_workload_runtime: Runtime | None = Field(None, description="deprecated")
    runtimes: dict[str, Runtime] = Field(default_factory=_default_runtimes)
    no_pivot: bool = Field(False, description="v1-linux only (removed in 2.0)")
    disable_snapshot_annotations: bool = True
    discard_unpacked_layers: bool = False
    ignore_rdt_not_enabled_errors: bool = False
    ignore_blockio_not_enabled_errors: bool = False


class CriStreaming(Table):
    """The streaming server keys; in config version 3 they alone stay in grpc.v1.cri."""

    disable_tcp_service: bool = True
    stream_server_address: str = Field("127.0.0.1", description="streaming server address")
    stream_server_port: PortString = Field("0", description="streaming port; 0 picks one")
    stream_idle_timeout: Duration = Field("4h0m0s", description="idle streams are closed")
    enable_tls_streaming: bool = False
    x509_key_pair_streaming: X509KeyPair = X509KeyPair()


class CriV2(CriCommon, CriStreaming):
    """`[plugins."io.containerd.grpc.v1.cri"]` in config version 1 and 2 (containerd 1.x)."""

    sandbox_image: ImageRef = Field("registry.k8s.io/pause:3.8", description="pause image")
    stats_collect_period: int = Field(10, description="image filesystem stats period (s)")
    systemd_cgroup: bool = Field(False, description="v1-linux only (removed in 2.0)")
    disable_cgroup: bool = Field(False, description="removed in 2.0")
    max_concurrent_downloads: int = 3
    enable_unprivileged_ports: bool = False
    enable_unprivileged_icmp: bool = False
    enable_cdi: bool = False
    image_pull_progress_timeout: Duration = "5m0s"
    image_pull_with_sync_fs: bool = False
    containerd: ContainerdV2 = ContainerdV2()
    registry: Registry = Registry()
    image_decryption: ImageDecryption = ImageDecryption()


class ContainerdRuntimeV3(Table):
    """`[plugins."io.containerd.cri.v1.runtime".containerd]`."""

    default_runtime_name: str = Field("runc", description="runtime used when none is asked for")
    runtimes: dict[str, Runtime] = Field(default_factory=_default_runtimes)
    ignore_rdt_not_enabled_errors: bool = False
    ignore_blockio_not_enabled_errors: bool = False


class CriRuntimeV3(CriCommon):
    """`[plugins."io.containerd.cri.v1.runtime"]` (containerd 2.x)."""

    enable_unprivileged_ports: bool = True
    enable_unprivileged_icmp: bool = True
    enable_cdi: bool = True
    stats_collect_period: Duration = Field("", description="stats collection period (2.3+)")
    stats_retention_period: Duration = Field("", description="stats kept (2.3+)")
    enable_criu: bool | None = Field(None, description="checkpoint/restore (2.2.7+)")
    enable_experimental_restore_via_create: bool = False
    containerd: ContainerdRuntimeV3 = ContainerdRuntimeV3()


class RuntimePlatform(Table):
    """`[…runtime_platforms.<runtime>]`."""

    platform: str = ""
    snapshotter: str = ""


class CriImagesV3(Table):
    """`[plugins."io.containerd.cri.v1.images"]` (containerd 2.x)."""

    snapshotter: str = Field("overlayfs", description="snapshotter for images")
    disable_snapshot_annotations: bool = True
    discard_unpacked_layers: bool = False
    pinned_images: dict[str, ImageRef] = Field(
        {"sandbox": "registry.k8s.io/pause:3.10"},
        description="role → image; sandbox is the pause image",
    )
    runtime_platforms: dict[str, RuntimePlatform] = {}
    registry: Registry = Registry()
    image_decryption: ImageDecryption = ImageDecryption()
    max_concurrent_downloads: int = 3
    concurrent_layer_fetch_buffer: int = 0
    image_pull_progress_timeout: Duration = "5m0s"
    image_pull_with_sync_fs: bool = False
    stats_collect_period: int = 10
    use_local_image_pull: bool = False


class CriServerV3(CriStreaming):
    """`[plugins."io.containerd.grpc.v1.cri"]` in config version 3: streaming only."""
