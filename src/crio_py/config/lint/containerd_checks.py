"""containerd semantic checks across keys: runtimes, cgroup drivers, registry, CNI, logging."""

from __future__ import annotations

import re
from typing import Any

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.cri import (
    RUNC_SHIM,
    CriV2,
)
from crio_py.config.containerd.models import ContainerdConfig
from crio_py.config.containerd.view import CriView, cri_view
from crio_py.config.diagnostics import Severity
from crio_py.config.locate import Reporter
from crio_py.config.source import KeyPath
from crio_py.config.walk import table_name

_LOG_LEVELS = {"", "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_REMOVED_SHIMS = {"io.containerd.runc.v1", "io.containerd.runtime.v1.linux"}


def check_semantics(reporter: Reporter, config: ContainerdConfig) -> None:
    """Checks across keys: runtimes, registry, CNI, cgroups, log levels."""
    view = cri_view(config, legacy=reporter.target.version < (2, 0))
    _check_default_runtime(reporter, view)
    _check_runtimes(reporter, view, config)
    _check_registry(reporter, view)
    _check_cni(reporter, view, config)
    _check_legacy_cri(reporter, config)
    _check_server(reporter, config)


def _check_default_runtime(reporter: Reporter, view: CriView) -> None:
    path = (*view.containerd_path, "default_runtime_name")
    name = view.default_runtime_name
    if not name:
        reporter.report(
            "default-runtime-missing",
            path,
            "`default_runtime_name` is empty; containerd's CRI plugin fails to load",
            value=True,
            hint='set it to a runtime name, e.g. "runc"',
        )
    elif name not in view.runtimes:
        known = ", ".join(sorted(view.runtimes))
        reporter.report(
            "default-runtime-missing",
            path,
            f'`default_runtime_name = "{name}"` names no runtime; the configured '
            f"runtimes are: {known}",
            value=True,
            hint=f"add [{table_name((*view.containerd_path, 'runtimes', name))}] or "
            "pick one of those",
        )


def _check_runtimes(reporter: Reporter, view: CriView, config: ContainerdConfig) -> None:
    target = reporter.target
    drivers: dict[bool, list[str]] = {}
    for name, runtime in view.runtimes.items():
        path = (*view.containerd_path, "runtimes", name)
        if not reporter.has(path):
            continue
        if not _DNS_LABEL.match(name):
            reporter.report(
                "invalid-runtime",
                path,
                f'runtime name "{name}" is not a DNS label, so no RuntimeClass '
                "handler can select it",
                severity=Severity.WARNING,
                hint="use lowercase letters, digits and '-'",
            )
        if runtime.runtime_type in _REMOVED_SHIMS and target.version >= (2, 0):
            reporter.report(
                "invalid-runtime",
                (*path, "runtime_type"),
                f'runtime_type "{runtime.runtime_type}" was removed in containerd '
                f"2.0; {target.label} cannot start containers with it",
                value=True,
                hint=f'use runtime_type = "{RUNC_SHIM}"',
            )
        if runtime.io_type not in ("", "fifo", "streaming"):
            reporter.report(
                "invalid-value",
                (*path, "io_type"),
                f'io_type "{runtime.io_type}" must be fifo or streaming',
                value=True,
            )
        if (
            runtime.privileged_without_host_devices_all_devices_allowed
            and not runtime.privileged_without_host_devices
        ):
            reporter.report(
                "conflicting-keys",
                (*path, "privileged_without_host_devices_all_devices_allowed"),
                "privileged_without_host_devices_all_devices_allowed needs "
                "privileged_without_host_devices = true",
            )
        if runtime.runtime_type in ("", RUNC_SHIM):
            systemd = bool(runtime.options.get("SystemdCgroup", False))
            drivers.setdefault(systemd, []).append(name)
    if len(drivers) == 2:
        _report_mixed_drivers(reporter, view, drivers)


def _report_mixed_drivers(
    reporter: Reporter, view: CriView, drivers: dict[bool, list[str]]
) -> None:
    fewer = min(drivers.values(), key=len)
    systemd_ones = ", ".join(drivers[True])
    cgroupfs_ones = ", ".join(drivers[False])
    for name in fewer:
        path = (*view.containerd_path, "runtimes", name)
        options = (*path, "options", "SystemdCgroup")
        reporter.report(
            "cgroup-driver-mismatch",
            options if reporter.has(options) else path,
            f"runc runtimes disagree on the cgroup driver (SystemdCgroup = true: "
            f"{systemd_ones}; false: {cgroupfs_ones}); the kubelet has one "
            "cgroupDriver, so pods of one group fail",
            hint="set the same SystemdCgroup in every runc runtime's options",
        )


def _check_registry(reporter: Reporter, view: CriView) -> None:
    registry = view.registry
    base = view.registry_path
    if not registry.config_path:
        return
    if registry.mirrors:
        reporter.report(
            "conflicting-keys",
            (*base, "mirrors"),
            f"`{table_name((*base, 'mirrors'))}` cannot be set together with "
            f"`{table_name((*base, 'config_path'))}`; containerd refuses to start "
            "the CRI plugin",
            hint="move the mirrors into hosts.toml files under config_path "
            "(`crio-py config migrate --write PATH` does it)",
        )
    for host, host_config in registry.configs.items():
        if host_config.tls is not None:
            reporter.report(
                "conflicting-keys",
                (*base, "configs", host, "tls"),
                f'`configs."{host}".tls` cannot be set together with `config_path`',
                hint="put ca, client and skip_verify in hosts.toml",
            )


def _check_cni(reporter: Reporter, view: CriView, config: ContainerdConfig) -> None:
    plugins: Any = config.plugins
    runtime = plugins.cri_runtime if config.version >= 3 else None
    # An empty bin_dir (as containerd 2.1+ prints in `config default`) counts as unset.
    both = (
        runtime is not None
        and bool(runtime.cni.bin_dir)
        and reporter.has((*view.cni_path, "bin_dir"))
        and reporter.has((*view.cni_path, "bin_dirs"))
    )
    if both and config.version >= 3 and reporter.target.version >= (2, 1):
        reporter.report(
            "conflicting-keys",
            (*view.cni_path, "bin_dirs"),
            "`cni.bin_dir` and `cni.bin_dirs` are both set; containerd refuses to "
            "load the CRI plugin",
            hint="keep only bin_dirs",
        )


def _check_legacy_cri(reporter: Reporter, config: ContainerdConfig) -> None:
    """containerd 1.x rules for the keys of the removed io.containerd.runtime.v1.linux."""
    if config.version not in (0, 1, 2) or reporter.target.version >= (2, 0):
        return
    plugins: Any = config.plugins
    cri: CriV2 = plugins.cri or CriV2()
    view = cri_view(config, legacy=True)
    base = view.containerd_path[:-1]
    default = view.runtimes.get(view.default_runtime_name)
    v1_linux = default is not None and default.runtime_type == "io.containerd.runtime.v1.linux"
    if cri.systemd_cgroup and not v1_linux:
        reporter.report(
            "cgroup-driver-mismatch",
            (*base, "systemd_cgroup"),
            "`systemd_cgroup` only works for runtime io.containerd.runtime.v1.linux; "
            f"{reporter.target.label} refuses to load the CRI plugin",
            value=True,
            hint="set SystemdCgroup = true in the runtime's options table instead",
        )
    if cri.containerd.no_pivot and not v1_linux:
        reporter.report(
            "invalid-value",
            (*view.containerd_path, "no_pivot"),
            "`no_pivot` only works for runtime io.containerd.runtime.v1.linux",
            value=True,
            hint="set NoPivotRoot = true in the runtime's options",
        )
    for legacy, builtin in (
        ("default_runtime", "default"),
        ("untrusted_workload_runtime", "untrusted"),
    ):
        legacy_runtime = getattr(cri.containerd, legacy)
        if (
            legacy_runtime is not None
            and legacy_runtime.runtime_type
            and builtin in cri.containerd.runtimes
        ):
            # containerd 1.x: default_runtime silently replaces runtimes.default, while an
            # untrusted_workload_runtime beside runtimes.untrusted is a start-up error.
            replaced = builtin == "default"
            outcome = (
                f"{reporter.target.label} replaces runtimes.{builtin} with it"
                if replaced
                else f"{reporter.target.label} refuses to start (conflicting definitions)"
            )
            reporter.report(
                "duplicate-runtime",
                (*view.containerd_path, legacy),
                f'`{legacy}` defines runtime "{builtin}", which `runtimes.{builtin}` defines '
                f"too; {outcome}",
                hint=f"keep only runtimes.{builtin}",
                severity=Severity.WARNING if replaced else None,
            )


def _check_server(reporter: Reporter, config: ContainerdConfig) -> None:
    level = config.debug.level
    if level.lower() not in _LOG_LEVELS:
        reporter.report(
            "invalid-value",
            ("debug", "level"),
            f'log level "{level}" is not one of trace, debug, info, warn, error, fatal, panic',
            value=True,
        )
    if config.debug.format not in ("", "text", "json"):
        reporter.report(
            "invalid-value",
            ("debug", "format"),
            f'log format "{config.debug.format}" must be text or json',
            value=True,
        )
    for key in ("disabled_plugins", "required_plugins"):
        for index, plugin_id in enumerate(getattr(config, key)):
            if config.version >= 2 and "." not in plugin_id:
                reporter.report(
                    "invalid-plugin-id",
                    (key, index),
                    f'"{plugin_id}" in `{key}` is a version 1 short id; '
                    f"version {config.version} files need the full plugin URI",
                    hint=f'write "{cr.short_id_uri(plugin_id)}"',
                )
    metrics: Any = getattr(config, "metrics", None)
    if metrics is not None and metrics.address:
        _check_host_port(reporter, ("metrics", "address"), metrics.address)


def _check_host_port(reporter: Reporter, path: KeyPath, address: str) -> None:
    _, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        reporter.report(
            "invalid-port",
            path,
            f'"{address}" is not host:port with a port from 0 to 65535',
            value=True,
        )
