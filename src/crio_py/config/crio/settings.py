"""CRI-O config (crio.conf + drop-ins, merged) → RuntimeSettings.

CRI-O quirks stay here: the deprecated `conmon`, `conmon_cgroup` and `conmon_env` override
every oci handler's monitor settings; a handler without runtime_path runs the binary named
like the handler; `cgroup_manager` is global.
"""

from __future__ import annotations

from pathlib import Path

from crio_py.config.crio.models import CrioConfig, CrioRuntime, RuntimeHandler, effective_runtime
from crio_py.config.model import (
    CniSettings,
    ContainerDefaults,
    RegistrySettings,
    RuntimeSettings,
    SecuritySettings,
    SocketSettings,
    StreamSettings,
    flavour_of,
)
from crio_py.config.model import RuntimeHandler as HandlerSettings
from crio_py.config.registry.registries_conf import default_path, read_registries
from crio_py.config.rules import Target, newest
from crio_py.config.types import parse_duration

_DEFAULT_MSG_SIZE = 83886080
# The sysctls that containerd's enable_unprivileged_ports / _icmp set (crossmap.md §6).
UNPRIVILEGED_PORTS = "net.ipv4.ip_unprivileged_port_start=0"
UNPRIVILEGED_ICMP = "net.ipv4.ping_group_range=0 2147483647"


def to_settings(
    config: CrioConfig,
    files: tuple[Path, ...] = (),
    target: Target | None = None,
    registries_conf: Path | None = None,
) -> RuntimeSettings:
    """Normalise a validated, merged CRI-O configuration (built-in handler of `target`;
    registry mirrors from registries.conf, as CRI-O takes them)."""
    crio = config.crio
    registries = read_registries(registries_conf or default_path())
    default, handlers = effective_runtime(crio.runtime, target or newest("crio"))
    api = crio.api
    return RuntimeSettings(
        source_format="crio",
        source_files=files,
        root_dir=Path(crio.root),
        state_dir=Path(crio.runroot),
        socket=SocketSettings(
            path=Path(api.listen),
            max_recv_message_size=api.grpc_max_recv_msg_size
            if api.grpc_max_recv_msg_size > 0
            else _DEFAULT_MSG_SIZE,
            max_send_message_size=api.grpc_max_send_msg_size
            if api.grpc_max_send_msg_size > 0
            else _DEFAULT_MSG_SIZE,
        ),
        runtimes={name: _handler(name, h, config) for name, h in handlers.items()},
        default_runtime=default,
        sandbox_image=crio.image.pause_image,
        drop_infra_container=crio.runtime.drop_infra_ctr,
        cni=CniSettings(
            bin_dirs=tuple(Path(d) for d in plugin_dirs(config)),
            conf_dir=Path(crio.network.network_dir),
            max_conf_num=1,
            default_network=crio.network.cni_default_network,
        ),
        registry=RegistrySettings(
            mirrors=registries.mirrors,
            insecure_hosts=tuple(
                sorted({*crio.image.insecure_registries, *registries.insecure_hosts})
            ),
            blocked_hosts=tuple(sorted(registries.blocked_hosts)),
            global_auth_file=Path(crio.image.global_auth_file)
            if crio.image.global_auth_file
            else None,
        ),
        image_pull_progress_timeout_s=parse_duration(crio.image.pull_progress_timeout),
        log_size_max=crio.runtime.log_size_max,
        log_dir=Path(crio.log_dir),
        container_defaults=ContainerDefaults(
            capabilities=tuple(crio.runtime.default_capabilities),
            sysctls=dict(item.split("=", 1) for item in crio.runtime.default_sysctls),
            ulimits=tuple(crio.runtime.default_ulimits),
            env=tuple(crio.runtime.default_env),
            pids_limit=crio.runtime.pids_limit,
            read_only=crio.runtime.read_only,
        ),
        security=SecuritySettings(
            seccomp_profile=crio.runtime.seccomp_profile,
            apparmor_profile=crio.runtime.apparmor_profile,
            selinux_enabled=crio.runtime.selinux,
        ),
        stream=StreamSettings(
            address=api.stream_address,
            port=int(api.stream_port),
            tls_enabled=api.stream_enable_tls,
            tls_cert=Path(api.stream_tls_cert) if api.stream_tls_cert else None,
            tls_key=Path(api.stream_tls_key) if api.stream_tls_key else None,
            tls_ca=Path(api.stream_tls_ca) if api.stream_tls_ca else None,
            # CRI-O leaves streams open 4 hours unless stream_idle_timeout says otherwise.
            idle_timeout_s=parse_duration(api.stream_idle_timeout or "4h"),
        ),
        metrics_address=_metrics_address(config),
        metrics_cert=Path(crio.metrics.metrics_cert) if crio.metrics.metrics_cert else None,
        metrics_key=Path(crio.metrics.metrics_key) if crio.metrics.metrics_key else None,
        metrics_collectors=tuple(crio.metrics.metrics_collectors),
        pinned_images=tuple(crio.image.pinned_images),
        signature_policy=Path(crio.image.signature_policy) if crio.image.signature_policy else None,
        signature_policy_dir=Path(crio.image.signature_policy_dir),
        stop_timeout_s=float(max(crio.runtime.ctr_stop_timeout, 30)),
        log_level=crio.runtime.log_level,
        cdi_spec_dirs=tuple(Path(d) for d in crio.runtime.cdi_spec_dirs),
        enable_unprivileged_ports=UNPRIVILEGED_PORTS in crio.runtime.default_sysctls,
        enable_unprivileged_icmp=UNPRIVILEGED_ICMP in crio.runtime.default_sysctls,
        namespaces_dir=Path(crio.runtime.namespaces_dir),
    )


def plugin_dirs(config: CrioConfig) -> list[str]:
    """CNI binary directories as CRI-O uses them: the deprecated plugin_dir first."""
    network = config.crio.network
    dirs = list(network.plugin_dirs)
    if network.plugin_dir and network.plugin_dir not in dirs:
        dirs.insert(0, network.plugin_dir)
    return dirs


def _metrics_address(config: CrioConfig) -> str:
    metrics = config.crio.metrics
    if not metrics.enable_metrics:
        return ""
    if metrics.metrics_socket:
        return f"unix://{metrics.metrics_socket}"
    return f"{metrics.metrics_host}:{metrics.metrics_port}"


def _monitor_cgroup(configured: str, runtime: CrioRuntime) -> str:
    """CRI-O's empty conmon cgroup: the pod's with cgroupfs, system.slice with systemd."""
    if configured:
        return configured
    return "system.slice" if runtime.cgroup_manager == "systemd" else "pod"


def _handler(name: str, handler: RuntimeHandler, config: CrioConfig) -> HandlerSettings:
    runtime = config.crio.runtime
    kind = handler.runtime_type or "oci"
    return HandlerSettings(
        name=name,
        kind=kind if kind in ("oci", "vm", "pod") else "vm",
        runtime_type=kind,
        binary=handler.runtime_path or name,
        flavour=flavour_of(handler.runtime_path or name),
        root=Path(handler.runtime_root) if handler.runtime_root else None,
        cgroup_driver="systemd" if runtime.cgroup_manager == "systemd" else "cgroupfs",
        config_path=Path(handler.runtime_config_path) if handler.runtime_config_path else None,
        monitor_path=runtime.conmon or handler.monitor_path or "conmon",
        monitor_cgroup=_monitor_cgroup(runtime.conmon_cgroup or handler.monitor_cgroup, runtime),
        monitor_env=tuple(runtime.conmon_env or handler.monitor_env),
        privileged_without_host_devices=handler.privileged_without_host_devices,
        no_pivot=runtime.no_pivot,
        allowed_annotations=tuple(handler.allowed_annotations),
    )
