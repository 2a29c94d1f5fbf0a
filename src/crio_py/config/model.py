"""RuntimeSettings: the one configuration type the rest of crio-py reads.

It is built from either format (containerd/settings.py, crio/settings.py); paths are absolute,
durations are float seconds (`*_s`), and runtime handlers are fully resolved. Nothing outside
`config/` reads a raw TOML key.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path, PurePath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CgroupDriver = Literal["systemd", "cgroupfs"]
HandlerKind = Literal["oci", "vm", "pod"]
# Whose command line an oci handler's binary takes: runc's (runc, crun, wrappers) or runsc's.
RuntimeFlavour = Literal["runc", "runsc"]


class Frozen(BaseModel):
    """Base of the settings models: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SocketSettings(Frozen):
    """The CRI gRPC socket."""

    path: Path
    uid: int = 0
    gid: int = 0
    max_recv_message_size: int
    max_send_message_size: int


def flavour_of(binary: str) -> RuntimeFlavour:
    """runsc's command line for a binary named runsc, runc's for every other one."""
    return "runsc" if PurePath(binary).name == "runsc" else "runc"


class RuntimeHandler(Frozen):
    """One runtime handler (Kubernetes RuntimeClass `handler`)."""

    name: str
    kind: HandlerKind = Field(description="oci: conmon + an OCI CLI; vm/pod: not drivable here")
    runtime_type: str = Field(description="the type as the config wrote it")
    binary: str = Field(description="OCI runtime binary: a path, or a name looked up in PATH")
    flavour: RuntimeFlavour = Field("runc", description="runc's or runsc's command line")
    root: Path | None = None
    cgroup_driver: CgroupDriver
    extra_flags: tuple[str, ...] = ()
    config_path: Path | None = None
    monitor_path: str = "conmon"
    monitor_cgroup: str = ""
    monitor_env: tuple[str, ...] = ()
    privileged_without_host_devices: bool = False
    no_pivot: bool = False
    cgroup_writable: bool = False
    allowed_annotations: tuple[str, ...] = ()


class CniSettings(Frozen):
    """CNI binaries and network configurations."""

    bin_dirs: tuple[Path, ...]
    conf_dir: Path
    max_conf_num: int = 1
    default_network: str = ""


class RegistryAuth(Frozen):
    """Credentials for one registry host (never logged; config.redact hides them)."""

    username: str = Field("", repr=False)
    password: str = Field("", repr=False)
    auth: str = Field("", repr=False)
    identity_token: str = Field("", repr=False)


class RegistryTls(Frozen):
    """TLS settings for one registry host."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


class RegistrySettings(Frozen):
    """Where and how images are pulled."""

    config_path: tuple[Path, ...] = ()
    mirrors: dict[str, tuple[str, ...]] = {}
    auths: dict[str, RegistryAuth] = {}
    tls: dict[str, RegistryTls] = {}
    insecure_hosts: tuple[str, ...] = ()
    blocked_hosts: tuple[str, ...] = ()
    headers: dict[str, tuple[str, ...]] = {}
    global_auth_file: Path | None = None


class Endpoint(Frozen):
    """One place to pull an image from, with its TLS settings (see config.registry.endpoints)."""

    host: str = Field(description="host[:port] as it goes into a docker:// reference")
    scheme: Literal["http", "https"] = "https"
    skip_verify: bool = False
    ca_files: tuple[Path, ...] = ()
    client_pairs: tuple[tuple[Path, Path | None], ...] = ()
    mirror: bool = False

    @property
    def plain_http(self) -> bool:
        return self.scheme == "http"


class Credentials(Frozen):
    """Registry credentials; never logged, never on a command line."""

    username: str = Field("", repr=False)
    password: str = Field("", repr=False)
    identity_token: str = Field("", repr=False)

    @classmethod
    def from_auth(cls, auth: str) -> Credentials:
        """The credentials in a docker-style `auth` field: base64 of USERNAME:PASSWORD.

        The ValueError never quotes the field, nor what it decodes to (a UnicodeDecodeError
        would name a byte of the password).
        """
        try:
            text = auth.replace("\r", "").replace("\n", "")  # Go's decoder skips line breaks
            decoded = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("the auth field is not base64 of USERNAME:PASSWORD") from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise ValueError("the auth field does not decode to USERNAME:PASSWORD (no ':')")
        # containerd trims the NULs some encoders pad the password with.
        return cls(username=username, password=password.strip("\x00"))

    def to_auth(self) -> str:
        """The docker-style `auth` field of these credentials ("" without a user or password)."""
        if not (self.username or self.password):
            return ""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def secret_values(self) -> tuple[str, ...]:
        """Every string that must not appear in a log, an error or a command line."""
        values = (self.username, self.password, self.identity_token, self.to_auth())
        return tuple(value for value in values if value)


class StreamSettings(Frozen):
    """The streaming server for Exec, Attach and PortForward."""

    address: str = "127.0.0.1"
    port: int = 0
    tls_enabled: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    idle_timeout_s: float = 14400.0


class GcSettings(Frozen):
    """Garbage collection thresholds."""

    pause_threshold: float = 0.02
    deletion_threshold: int = 0
    mutation_threshold: int = 100
    schedule_delay_s: float = 0.0
    startup_delay_s: float = 0.1


class ContainerDefaults(Frozen):
    """Defaults applied to every container."""

    capabilities: tuple[str, ...] | None = Field(
        None, description="None means the OCI default set (containerd)"
    )
    sysctls: dict[str, str] = {}
    ulimits: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    pids_limit: int = -1
    read_only: bool = False


class SecuritySettings(Frozen):
    """seccomp, AppArmor, SELinux and OOM score switches."""

    seccomp_profile: str = ""
    apparmor_enabled: bool = True
    apparmor_profile: str = "crio-default"
    selinux_enabled: bool = False
    restrict_oom_score_adj: bool = False


class RuntimeSettings(Frozen):
    """Everything the daemon needs, normalised from a containerd or a CRI-O configuration."""

    source_format: Literal["containerd", "crio", "default"]
    source_files: tuple[Path, ...] = ()
    root_dir: Path
    state_dir: Path
    socket: SocketSettings
    runtimes: dict[str, RuntimeHandler]
    default_runtime: str
    sandbox_image: str
    drop_infra_container: bool = True
    cni: CniSettings
    registry: RegistrySettings
    max_concurrent_downloads: int = 3
    image_pull_progress_timeout_s: float = 300.0
    max_container_log_line_size: int = 16384
    log_size_max: int = -1
    log_dir: Path = Path("/var/log/pods")
    container_defaults: ContainerDefaults
    security: SecuritySettings
    stream: StreamSettings
    metrics_address: str = Field("", description="host:port, or unix://PATH; empty: no endpoint")
    metrics_cert: Path | None = None
    metrics_key: Path | None = None
    metrics_collectors: tuple[str, ...] = Field((), description="CRI-O's; empty means all")
    pinned_images: tuple[str, ...] = Field((), description="names or globs never collected")
    signature_policy: Path | None = Field(None, description="None: skopeo's default policy")
    signature_policy_dir: Path | None = Field(None, description="<dir>/<namespace>.json")
    gc: GcSettings = GcSettings()
    timeouts_s: dict[str, float] = {}
    stop_timeout_s: float = 0.0
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    cdi_spec_dirs: tuple[Path, ...] = ()
    enable_unprivileged_ports: bool = False
    enable_unprivileged_icmp: bool = False
    namespaces_dir: Path

    @property
    def cgroup_driver(self) -> str:
        """The cgroup driver of the default handler (what the kubelet must match)."""
        return self.runtimes[self.default_runtime].cgroup_driver
