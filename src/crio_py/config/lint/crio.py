"""Lint rules for CRI-O: per-file key checks, drop-in merging, and CRI-O's own validation
(pkg/config/config.go `Validate`), reported at the line of the file that set the key."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from crio_py.config.crio.merge import merge_sources
from crio_py.config.crio.models import CrioConfig, CrioRuntime, RuntimeHandler, effective_runtime
from crio_py.config.crio.rules import KEY_RULES
from crio_py.config.diagnostics import Diagnostic, Severity
from crio_py.config.locate import Reporter
from crio_py.config.rules import Target
from crio_py.config.source import KeyPath, Source
from crio_py.config.walk import Walker

_RUNTIME: KeyPath = ("crio", "runtime")
_HANDLERS: KeyPath = (*_RUNTIME, "runtimes")
_LOG_LEVELS = {"fatal", "panic", "error", "warn", "warning", "info", "debug", "trace"}
_SHIM_V2 = re.compile(r"containerd-shim-[\w.-]+-v2$")
_SYSCTL = re.compile(r"^[a-zA-Z0-9_./-]+=.*$")
_ULIMIT = re.compile(r"^[a-z_]+=-?\d+:-?\d+$")
_POD_METRICS = {
    "all",
    "cpu",
    "hugetlb",
    "memory",
    "network",
    "oom",
    "process",
    "spec",
    "disk",
    "diskIO",
    "pressure",
}
CAPABILITIES = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
}


def lint_crio(sources: Sequence[Source], target: Target) -> tuple[list[Diagnostic], CrioConfig]:
    """Lint crio.conf and its drop-ins together, in the order given."""
    reporter = Reporter(target, list(sources))
    for source in sources:
        walker = Walker(source, target, KEY_RULES)
        walker.run(CrioConfig, source.data)
        reporter.diagnostics.extend(walker.diagnostics)
    merged = merge_sources(sources, reporter)
    quiet = Walker(Source("<merged>", "", merged), target, KEY_RULES)
    config: CrioConfig = quiet.run(CrioConfig, merged)
    check_semantics(reporter, config)
    return reporter.diagnostics, config


def check_semantics(reporter: Reporter, config: CrioConfig) -> None:
    """CRI-O's validation of the merged configuration."""
    runtime = config.crio.runtime
    default, handlers = effective_runtime(runtime, reporter.target)
    _check_default_runtime(reporter, default, handlers)
    for name, handler in handlers.items():
        if reporter.has((*_HANDLERS, name)):
            _check_handler(reporter, name, handler, is_default=name == default)
    _check_cgroups(reporter, runtime, handlers)
    _check_runtime_values(reporter, runtime)
    _check_image(reporter, config)
    _check_api(reporter, config)
    _check_misc(reporter, config)


def _check_default_runtime(
    reporter: Reporter, default: str, handlers: dict[str, RuntimeHandler]
) -> None:
    if default and default not in handlers:
        reporter.report(
            "default-runtime-missing",
            (*_RUNTIME, "default_runtime"),
            f'default_runtime is set to "{default}", but there is no '
            f"[crio.runtime.runtimes.{default}] table; CRI-O refuses to start",
            value=True,
            hint=f"add [crio.runtime.runtimes.{default}] or set "
            f"default_runtime to one of: {', '.join(sorted(handlers))}",
        )


def _check_handler(
    reporter: Reporter, name: str, handler: RuntimeHandler, *, is_default: bool
) -> None:
    path = (*_HANDLERS, name)
    outcome = "CRI-O refuses to start" if is_default else "CRI-O drops this handler"
    for code, key, message in _handler_problems(handler):
        # A broken default handler is fatal; CRI-O drops any other one with a warning.
        severity = None
        if code == "invalid-runtime":
            message = f"{message}; {outcome}"
            severity = Severity.ERROR if is_default else Severity.WARNING
        reporter.report(code, (*path, key), message, value=True, severity=severity)


def _handler_problems(handler: RuntimeHandler) -> list[tuple[str, str, str]]:
    """(code, key, message) for each rule of CRI-O's handler validation that fails."""
    kind = handler.runtime_type or "oci"
    checks = [
        (
            kind not in ("oci", "vm", "pod"),
            "invalid-runtime",
            "runtime_type",
            f'runtime_type "{kind}" must be oci, vm or pod',
        ),
        (
            bool(handler.runtime_config_path) and kind != "vm",
            "invalid-runtime",
            "runtime_config_path",
            'runtime_config_path is only allowed with runtime_type "vm"',
        ),
        (
            kind == "vm"
            and bool(handler.runtime_path)
            and not _SHIM_V2.search(handler.runtime_path),
            "invalid-runtime",
            "runtime_path",
            "a vm handler's runtime_path must be a containerd-shim-<name>-v2 binary",
        ),
        (
            handler.no_sync_log and kind != "oci",
            "invalid-value",
            "no_sync_log",
            'no_sync_log only works with runtime_type "oci"',
        ),
        (
            handler.stream_websockets and kind != "pod",
            "invalid-value",
            "stream_websockets",
            'stream_websockets only works with runtime_type "pod"',
        ),
        (
            handler.exec_cpu_affinity not in ("", "first"),
            "invalid-value",
            "exec_cpu_affinity",
            'exec_cpu_affinity must be "" or "first"',
        ),
        (
            handler.monitor_exec_cgroup not in ("", "container"),
            "invalid-value",
            "monitor_exec_cgroup",
            'monitor_exec_cgroup must be "" or "container"',
        ),
        (
            "container_create_timeout" in handler.model_fields_set
            and handler.container_create_timeout < 30,
            "adjusted-value",
            "container_create_timeout",
            "container_create_timeout is below 30 seconds; CRI-O raises it to 30",
        ),
    ]
    return [(code, key, message) for failed, code, key, message in checks if failed]


def _check_cgroups(
    reporter: Reporter, runtime: CrioRuntime, handlers: dict[str, RuntimeHandler]
) -> None:
    manager = runtime.cgroup_manager
    if manager not in ("systemd", "cgroupfs"):
        reporter.report(
            "invalid-value",
            (*_RUNTIME, "cgroup_manager"),
            f'cgroup_manager "{manager}" must be systemd or cgroupfs',
            value=True,
        )
        return
    places: list[tuple[KeyPath, str]] = []
    if runtime.conmon_cgroup:
        places.append(((*_RUNTIME, "conmon_cgroup"), runtime.conmon_cgroup))
    else:
        places += [
            ((*_HANDLERS, n, "monitor_cgroup"), h.monitor_cgroup)
            for n, h in handlers.items()
            if (h.runtime_type or "oci") == "oci"
        ]
    for path, cgroup in places:
        if manager == "cgroupfs" and cgroup not in ("", "pod"):
            reporter.report(
                "cgroup-driver-mismatch",
                path,
                f'cgroup_manager is cgroupfs, so `{path[-1]}` must be "pod" or '
                f'empty, not "{cgroup}"; CRI-O refuses to start',
                value=True,
                hint='set it to "pod", or cgroup_manager = "systemd"',
            )
        if manager == "systemd" and cgroup and cgroup != "pod" and not cgroup.endswith(".slice"):
            reporter.report(
                "cgroup-driver-mismatch",
                path,
                f'cgroup_manager is systemd, so `{path[-1]}` must be "pod" or a '
                f'systemd slice, not "{cgroup}"; CRI-O refuses to start',
                value=True,
                hint='set it to "pod" or "system.slice"',
            )


def _check_runtime_values(reporter: Reporter, runtime: CrioRuntime) -> None:
    if 0 <= runtime.log_size_max < 8192:
        reporter.report(
            "invalid-value",
            (*_RUNTIME, "log_size_max"),
            "log_size_max must be negative (unlimited) or at least 8192",
            value=True,
        )
    if reporter.has((*_RUNTIME, "ctr_stop_timeout")) and runtime.ctr_stop_timeout < 30:
        reporter.report(
            "adjusted-value",
            (*_RUNTIME, "ctr_stop_timeout"),
            "ctr_stop_timeout is below 30 seconds; CRI-O raises it to 30",
            value=True,
        )
    if runtime.log_level.lower() not in _LOG_LEVELS:
        reporter.report(
            "invalid-value",
            (*_RUNTIME, "log_level"),
            f'log_level "{runtime.log_level}" is not one of '
            "fatal, panic, error, warn, info, debug, trace",
            value=True,
        )
    _check_items(
        reporter,
        "default_sysctls",
        runtime.default_sysctls,
        lambda v: bool(_SYSCTL.match(v)),
        "is not name=value",
    )
    _check_items(
        reporter,
        "default_ulimits",
        runtime.default_ulimits,
        lambda v: bool(_ULIMIT.match(v)),
        "is not name=soft:hard",
    )
    _check_items(
        reporter,
        "default_capabilities",
        runtime.default_capabilities,
        lambda v: v.upper().removeprefix("CAP_") in CAPABILITIES,
        "is not a capability",
    )
    if runtime.min_injected_gomaxprocs < 0:
        reporter.report(
            "invalid-value",
            (*_RUNTIME, "min_injected_gomaxprocs"),
            "min_injected_gomaxprocs must be 0 or more",
            value=True,
        )
    for index, store in enumerate(runtime.additional_artifact_stores):
        if not store.startswith("/"):
            reporter.report(
                "relative-path",
                (*_RUNTIME, "additional_artifact_stores", index),
                f"'{store}' is a relative path; write an absolute one",
                value=True,
            )


def _check_items(reporter: Reporter, key: str, values: list[str], valid: Any, problem: str) -> None:
    for index, value in enumerate(values):
        if not valid(value):
            reporter.report(
                "invalid-value",
                (*_RUNTIME, key, index),
                f'"{value}" in {key} {problem}',
                value=True,
            )


def _check_image(reporter: Reporter, config: CrioConfig) -> None:
    image = config.crio.image
    base: KeyPath = ("crio", "image")
    if image.image_volumes not in ("mkdir", "bind", "ignore"):
        reporter.report(
            "invalid-value",
            (*base, "image_volumes"),
            f'unrecognized image volume type "{image.image_volumes}"; use mkdir, bind or ignore',
            value=True,
        )
    if image.short_name_mode not in ("enforcing", "disabled"):
        reporter.report(
            "invalid-value",
            (*base, "short_name_mode"),
            "short_name_mode must be enforcing or disabled",
            value=True,
        )


def _check_api(reporter: Reporter, config: CrioConfig) -> None:
    api = config.crio.api
    base: KeyPath = ("crio", "api")
    if api.stream_enable_tls and not (api.stream_tls_cert and api.stream_tls_key):
        reporter.report(
            "conflicting-keys",
            (*base, "stream_enable_tls"),
            "stream_enable_tls needs stream_tls_cert and stream_tls_key",
            value=True,
        )
    if api.tls_min_version not in ("VersionTLS12", "VersionTLS13"):
        reporter.report(
            "invalid-value",
            (*base, "tls_min_version"),
            "tls_min_version must be VersionTLS12 or VersionTLS13",
            value=True,
        )
    elif api.tls_cipher_suites and api.tls_min_version == "VersionTLS13":
        reporter.report(
            "ineffective-key",
            (*base, "tls_cipher_suites"),
            "tls_cipher_suites is ignored when tls_min_version is VersionTLS13",
        )


def _check_misc(reporter: Reporter, config: CrioConfig) -> None:
    metrics = config.crio.metrics
    if not 0 <= metrics.metrics_port <= 65535:
        reporter.report(
            "invalid-port",
            ("crio", "metrics", "metrics_port"),
            f"metrics_port {metrics.metrics_port} is not a port from 0 to 65535",
            value=True,
        )
    included = config.crio.stats.included_pod_metrics
    for index, name in enumerate(included):
        if name not in _POD_METRICS or (name == "all" and len(included) > 1):
            reporter.report(
                "invalid-value",
                ("crio", "stats", "included_pod_metrics", index),
                f'"{name}" is not a pod metric, or "all" is mixed with others',
                value=True,
            )
