"""containerd config (any version) → RuntimeSettings.

containerd quirks stay here: a handler's OCI binary is `options.BinaryName` (default runc), not
`runtime_path` (the shim); its cgroup driver is `options.SystemdCgroup`; runsc flags come from
the `[runsc_config]` table of the file named by `options.ConfigPath`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from crio_py.config.containerd.cri import (
    RUNC_SHIM,
    RUNSC_SHIM,
    CriCommon,
    CriImagesV3,
    CriRuntimeV3,
    CriServerV3,
    CriV2,
    Registry,
    Runtime,
)
from crio_py.config.containerd.cri import RegistryAuth as RegistryAuthTable
from crio_py.config.containerd.models import ContainerdConfig
from crio_py.config.containerd.plugins import ServerGrpc
from crio_py.config.containerd.view import cri_view
from crio_py.config.model import (
    CniSettings,
    ContainerDefaults,
    GcSettings,
    RegistryAuth,
    RegistrySettings,
    RegistryTls,
    RuntimeHandler,
    RuntimeSettings,
    SecuritySettings,
    SocketSettings,
    StreamSettings,
    flavour_of,
)
from crio_py.config.types import parse_duration

_RUNC_TYPES = ("", RUNC_SHIM, "io.containerd.runc.v1", "io.containerd.runtime.v1.linux")


def _parts(config: ContainerdConfig) -> tuple[CriCommon, CriV2 | CriImagesV3, CriV2 | CriServerV3]:
    """The runtime, image and streaming halves of the CRI settings, in any version."""
    plugins: Any = config.plugins
    if config.version in (3, 4):
        return (
            plugins.cri_runtime or CriRuntimeV3(),
            plugins.cri_images or CriImagesV3(),
            plugins.cri_server or CriServerV3(),
        )
    cri = plugins.cri or CriV2()
    return cri, cri, cri


def to_settings(config: ContainerdConfig, files: tuple[Path, ...] = ()) -> RuntimeSettings:
    """Normalise a validated containerd config."""
    runtime, images, server = _parts(config)
    view = cri_view(config)
    sandbox = (
        images.sandbox_image
        if isinstance(images, CriV2)
        else images.pinned_images.get("sandbox", "registry.k8s.io/pause:3.10")
    )
    return RuntimeSettings(
        source_format="containerd",
        source_files=files,
        root_dir=Path(config.root),
        state_dir=Path(config.state),
        socket=_socket(config),
        runtimes={name: _handler(name, rt) for name, rt in view.runtimes.items()},
        default_runtime=view.default_runtime_name,
        sandbox_image=sandbox,
        pinned_images=tuple(  # the sandbox image is pinned as sandbox_image
            image
            for role, image in getattr(images, "pinned_images", {}).items()
            if role != "sandbox"
        ),
        cni=_cni(runtime, config.version),
        registry=_registry(images.registry),
        max_concurrent_downloads=images.max_concurrent_downloads,
        image_pull_progress_timeout_s=parse_duration(images.image_pull_progress_timeout),
        max_container_log_line_size=runtime.max_container_log_line_size,
        container_defaults=ContainerDefaults(),
        security=SecuritySettings(
            seccomp_profile=runtime.unset_seccomp_profile,
            apparmor_enabled=not runtime.disable_apparmor,
            apparmor_profile="cri-containerd.apparmor.d",
            selinux_enabled=runtime.enable_selinux,
            restrict_oom_score_adj=runtime.restrict_oom_score_adj,
        ),
        stream=StreamSettings(
            address=server.stream_server_address,
            port=int(server.stream_server_port),
            tls_enabled=server.enable_tls_streaming,
            tls_cert=_path(server.x509_key_pair_streaming.tls_cert_file),
            tls_key=_path(server.x509_key_pair_streaming.tls_key_file),
            idle_timeout_s=parse_duration(server.stream_idle_timeout),
        ),
        metrics_address=_metrics_address(config),
        gc=_gc(config),
        timeouts_s={k: parse_duration(v) for k, v in config.timeouts.items()},
        log_level=config.debug.level or "info",
        log_format="json" if config.debug.format == "json" else "text",
        cdi_spec_dirs=_cdi_spec_dirs(runtime),
        enable_unprivileged_ports=getattr(runtime, "enable_unprivileged_ports", False),
        enable_unprivileged_icmp=getattr(runtime, "enable_unprivileged_icmp", False),
        namespaces_dir=Path(config.state) / "netns",
    )


def _cdi_spec_dirs(runtime: CriCommon) -> tuple[Path, ...]:
    """The CDI spec directories, none when enable_cdi is off (a v2 file's default)."""
    if not getattr(runtime, "enable_cdi", True):
        return ()
    return tuple(Path(d) for d in runtime.cdi_spec_dirs)


def _path(value: str) -> Path | None:
    return Path(value) if value else None


def _socket(config: ContainerdConfig) -> SocketSettings:
    plugins: Any = config.plugins
    grpc = plugins.server_grpc if config.version == 4 else getattr(config, "grpc", None)
    if grpc is None:
        grpc = ServerGrpc()
    return SocketSettings(
        path=Path(grpc.address),
        uid=grpc.uid,
        gid=grpc.gid,
        max_recv_message_size=grpc.max_recv_message_size,
        max_send_message_size=grpc.max_send_message_size,
    )


def _metrics_address(config: ContainerdConfig) -> str:
    plugins: Any = config.plugins
    if config.version == 4:
        return str(plugins.server_metrics.address) if plugins.server_metrics else ""
    return str(config.metrics.address)


def _gc(config: ContainerdConfig) -> GcSettings:
    plugins: Any = config.plugins
    scheduler = plugins.scheduler
    if scheduler is None:
        return GcSettings()
    return GcSettings(
        pause_threshold=scheduler.pause_threshold,
        deletion_threshold=scheduler.deletion_threshold,
        mutation_threshold=scheduler.mutation_threshold,
        schedule_delay_s=parse_duration(scheduler.schedule_delay),
        startup_delay_s=parse_duration(scheduler.startup_delay),
    )


def _cni(runtime: CriCommon, version: int) -> CniSettings:
    cni = runtime.cni
    explicit_dirs = "bin_dirs" in cni.model_fields_set
    dirs = cni.bin_dirs if version >= 3 and explicit_dirs else [cni.bin_dir]
    return CniSettings(
        bin_dirs=tuple(Path(d) for d in dirs),
        conf_dir=Path(cni.conf_dir),
        max_conf_num=cni.max_conf_num,
    )


def _auth(auth: RegistryAuthTable) -> RegistryAuth:
    return RegistryAuth(
        username=auth.username,
        password=auth.password,
        auth=auth.auth,
        identity_token=auth.identitytoken,
    )


def _registry(registry: Registry) -> RegistrySettings:
    auths = {host: _auth(c.auth) for host, c in registry.configs.items() if c.auth is not None}
    for url, auth in registry.auths.items():
        auths.setdefault(url.split("://", 1)[-1].rstrip("/"), _auth(auth))
    tls = {
        host: RegistryTls(
            ca_file=c.tls.ca_file,
            cert_file=c.tls.cert_file,
            key_file=c.tls.key_file,
            insecure_skip_verify=c.tls.insecure_skip_verify,
        )
        for host, c in registry.configs.items()
        if c.tls is not None
    }
    return RegistrySettings(
        config_path=tuple(Path(d) for d in registry.config_path.split(":") if d),
        mirrors={host: tuple(m.endpoint) for host, m in registry.mirrors.items()},
        auths=auths,
        tls=tls,
        insecure_hosts=tuple(h for h, t in tls.items() if t.insecure_skip_verify),
        headers={name: tuple(values) for name, values in registry.headers.items()},
    )


def _handler(name: str, runtime: Runtime) -> RuntimeHandler:
    options = runtime.runc_options()
    config_path = _path(runtime.shim_options().ConfigPath)
    if runtime.runtime_type in _RUNC_TYPES:
        kind, binary = "oci", options.BinaryName or "runc"
    elif runtime.runtime_type == RUNSC_SHIM:
        kind, binary = "oci", "runsc"
    else:
        kind, binary = "vm", runtime.runtime_path or runtime.runtime_type
    return RuntimeHandler(
        name=name,
        kind=kind,
        runtime_type=runtime.runtime_type or RUNC_SHIM,
        binary=binary,
        flavour=flavour_of(binary),
        root=_path(options.Root),
        cgroup_driver="systemd" if options.SystemdCgroup else "cgroupfs",
        extra_flags=_runsc_flags(config_path) if runtime.runtime_type == RUNSC_SHIM else (),
        config_path=config_path,
        privileged_without_host_devices=runtime.privileged_without_host_devices,
        no_pivot=options.NoPivotRoot,
        cgroup_writable=runtime.cgroup_writable,
        allowed_annotations=tuple(runtime.pod_annotations + runtime.container_annotations),
    )


def _runsc_flags(config_path: Path | None) -> tuple[str, ...]:
    """`--key=value` for each entry of [runsc_config] in the runsc shim's config file."""
    if config_path is None or not config_path.is_file():
        return ()
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ()
    flags = data.get("runsc_config", {})
    if not isinstance(flags, dict):
        return ()
    return tuple(f"--{key}={_flag_value(value)}" for key, value in sorted(flags.items()))


def _flag_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
