"""Lint rules for containerd config.toml: config versions, plugin ids, and semantic checks."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crio_py.config import containerd_rules as cr
from crio_py.config.containerd import MODELS, ContainerdConfig
from crio_py.config.containerd_cri import (
    RUNC_SHIM,
    CriImagesV3,
    CriRuntimeV3,
    CriV2,
    Registry,
    Runtime,
)
from crio_py.config.diagnostics import Diagnostic, Severity
from crio_py.config.locate import Reporter
from crio_py.config.rules import Target
from crio_py.config.source import KeyPath, Source
from crio_py.config.walk import Walker, table_name

_LOG_LEVELS = {"", "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_REMOVED_SHIMS = {"io.containerd.runc.v1", "io.containerd.runtime.v1.linux"}


def max_config_version(target: Target) -> int:
    """The newest config version a containerd release reads."""
    if target.version < (2, 0):
        return 2
    return 4 if target.version >= (2, 3) else 3


def config_version(data: dict[str, Any]) -> int:
    """The file's config version; no `version` key means 1."""
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        return -1
    return 1 if version == 0 else version  # containerd reads version 0 as version 1


@dataclass(frozen=True)
class CriView:
    """The CRI settings of any config version, with the key paths where they live."""

    runtimes: dict[str, Runtime]
    default_runtime_name: str
    containerd_path: KeyPath
    registry: Registry
    registry_path: KeyPath
    cni_path: KeyPath


def cri_view(config: ContainerdConfig, *, legacy: bool = False) -> CriView:
    """Where the runtimes, registry and CNI settings live in this config version.

    With `legacy` (containerd 1.x), the deprecated `default_runtime` and
    `untrusted_workload_runtime` tables become runtimes "default" and "untrusted", and a
    `default_runtime` with a runtime_type becomes the default, as 1.x does.
    """
    builtin = {"runc": Runtime(runtime_type=RUNC_SHIM)}
    plugins: Any = config.plugins
    if config.version in (3, 4):
        runtime: CriRuntimeV3 = plugins.cri_runtime or CriRuntimeV3()
        images: CriImagesV3 = plugins.cri_images or CriImagesV3()
        return CriView(
            runtimes={**builtin, **runtime.containerd.runtimes},
            default_runtime_name=runtime.containerd.default_runtime_name,
            containerd_path=("plugins", cr.CRI_RUNTIME, "containerd"),
            registry=images.registry,
            registry_path=("plugins", cr.CRI_IMAGES, "registry"),
            cni_path=("plugins", cr.CRI_RUNTIME, "cni"),
        )
    cri: CriV2 = plugins.cri or CriV2()
    base: KeyPath = ("plugins", cr.CRI_V1 if config.version in (0, 1) else cr.CRI_V2)
    runtimes = {**builtin, **cri.containerd.runtimes}
    default_name = cri.containerd.default_runtime_name
    legacy_default = cri.containerd.default_runtime
    legacy_untrusted = cri.containerd.untrusted_workload_runtime
    if legacy and legacy_untrusted is not None and legacy_untrusted.runtime_type:
        runtimes.setdefault("untrusted", legacy_untrusted)
    if legacy and legacy_default is not None and legacy_default.runtime_type:
        runtimes["default"] = legacy_default
        default_name = "default"
    return CriView(
        runtimes=runtimes,
        default_runtime_name=default_name,
        containerd_path=(*base, "containerd"),
        registry=cri.registry,
        registry_path=(*base, "registry"),
        cni_path=(*base, "cni"),
    )


def lint_containerd(
    sources: Sequence[Source], target: Target
) -> tuple[list[Diagnostic], ContainerdConfig | None]:
    """Lint a config file and the files it imports (given in load order).

    Each file is checked on its own; the semantic checks see the merged configuration and
    point at the file that set the key.
    """
    reporter = Reporter(target, list(sources))
    version = config_version(sources[0].data)
    if not _check_version(reporter, version, target):
        return reporter.diagnostics, None
    for source in sources:
        data = {"version": version, **source.data}
        walker = Walker(source, target, cr.KEY_RULES[version], unknown_hook=_unknown_hook(version))
        walker.run(MODELS[version], data)
        _check_modelled_plugins(walker, data, version)
        reporter.diagnostics.extend(walker.diagnostics)
    merged = merge_imports([s.data for s in sources], target)
    quiet = Walker(Source("<merged>", "", merged), target, cr.KEY_RULES[version])
    config: ContainerdConfig = quiet.run(MODELS[version], {**merged, "version": version})
    check_semantics(reporter, config, merged)
    return reporter.diagnostics, config


def merge_imports(datas: Sequence[dict[str, Any]], target: Target) -> dict[str, Any]:
    """Merge a config with its imports as containerd does (reference §1.1).

    A later non-empty scalar wins; lists are appended (containerd 2.x drops duplicates); a
    `[plugins.X]` table of a later file replaces the earlier one whole on containerd 1.x and
    is merged key by key on 2.x.
    """
    merged: dict[str, Any] = {}
    for data in datas:
        _merge_into(merged, copy.deepcopy(data), (), target.version >= (2, 0))
    return merged


def _merge_into(into: dict[str, Any], data: dict[str, Any], path: KeyPath, v2: bool) -> None:
    for key, value in data.items():
        current = into.get(key)
        if isinstance(value, dict) and isinstance(current, dict) and (v2 or path != ("plugins",)):
            _merge_into(current, value, (*path, key), v2)
        elif isinstance(value, list) and isinstance(current, list):
            into[key] = current + [v for v in value if not (v2 and v in current)]
        elif value not in ("", 0, False) or key not in into:
            into[key] = value


def _check_version(reporter: Reporter, version: int, target: Target) -> bool:
    path: KeyPath = ("version",)
    if version not in (0, 1, 2, 3, 4):
        reporter.report("unsupported-version", path, "`version` must be 1, 2, 3 or 4", value=True)
        return False
    newest = max_config_version(target)
    if version > newest:
        reporter.report(
            "unsupported-version",
            path,
            f"{target.label} reads config versions up to {newest}, "
            f"and refuses to start on version {version}",
            value=True,
            hint=f"pick a newer --target, or rewrite the file as config version {newest}",
        )
        return False
    if version in (0, 1):
        _report_version_1(reporter, target)
    elif version < newest and newest >= 3 and version == 2:
        reporter.report(
            "config-migrated",
            path,
            f"{target.label} migrates a version 2 config to version {newest} in "
            "memory on every start; the CRI plugin keys move to "
            f'[plugins."{cr.CRI_RUNTIME}"] and [plugins."{cr.CRI_IMAGES}"]',
            value=True,
            hint=f"rewrite the file as config version {newest} to skip the migration",
        )
    return True


def _report_version_1(reporter: Reporter, target: Target) -> None:
    path: KeyPath = ("version",)
    if target.version < (2, 0):
        message = f"config version 1 is deprecated; {target.label} logs a warning at start"
    elif target.version < (2, 3):
        message = (
            f"{target.label} migrates a version 1 file straight to version 3 and loses "
            "the settings under [plugins.cri]"
        )
    else:
        message = f"{target.label} migrates a version 1 config on every start"
    reporter.report(
        "config-migrated",
        path,
        message,
        hint="add `version = 2` and use full plugin ids (io.containerd.grpc.v1.cri)",
    )


def _unknown_hook(version: int) -> Any:
    def hook(walker: Walker, path: KeyPath, key: str, value: Any) -> bool:
        if len(path) == 2 and path[0] == "plugins":
            _classify_plugin(walker, path, key, version)
            return True
        if version == 4 and len(path) == 1 and key in cr.V4_MOVED_TABLES:
            walker.report(
                "misplaced-key",
                path,
                f"config version 4 moved [{key}] into [plugins."
                f"{cr.V4_MOVED_TABLES[key]}]; the top-level table is ignored",
                hint=f"move the keys to {cr.V4_MOVED_TABLES[key]}",
            )
            return True
        if version == 4 and path[0] == "debug" and key in ("address", "uid", "gid"):
            walker.report(
                "misplaced-key",
                path,
                f"config version 4 moved the debug socket `{key}` into "
                '[plugins."io.containerd.server.v1.debug"]',
                hint="move it to io.containerd.server.v1.debug",
            )
            return True
        if version >= 3 and path == ("plugins", cr.CRI_V2, "sandbox_image"):
            walker.report(
                "misplaced-key",
                path,
                "in config version 3 the sandbox image is `pinned_images.sandbox` in "
                f'[plugins."{cr.CRI_IMAGES}"]; `sandbox_image` here is ignored and '
                "the default pause image is used",
                hint=f'set [plugins."{cr.CRI_IMAGES}".pinned_images] sandbox = …',
            )
            return True
        return False

    return hook


def _classify_plugin(walker: Walker, path: KeyPath, plugin_id: str, version: int) -> None:
    target = walker.target
    if version in (0, 1):
        if "." in plugin_id and target.version < (2, 0):
            walker.report(
                "invalid-plugin-id",
                path,
                f"[{table_name(path)}]: a version 1 file names plugins by short ids, so "
                f"{target.label} ignores this table",
                severity=Severity.WARNING,
                hint="set `version = 2` to use full plugin ids",
            )
        elif "." not in plugin_id:
            _unknown_plugin(walker, path, cr.short_id_uri(plugin_id), shown=plugin_id)
        return
    if "." not in plugin_id:
        _short_plugin_name(walker, path, plugin_id, version)
        return
    if not plugin_id.startswith("io.containerd."):
        _foreign_plugin_id(walker, path, plugin_id)
        return
    info = cr.PLUGINS.get(plugin_id)
    if info is None:
        _unknown_plugin(walker, path, plugin_id, shown=plugin_id)
        return
    _plugin_availability(walker, path, plugin_id, info, version)


def _check_modelled_plugins(walker: Walker, data: dict[str, Any], version: int) -> None:
    """Availability of the plugins the model knows (the unknown ones went through the hook)."""
    plugins = data.get("plugins")
    model = MODELS[version].model_fields["plugins"].annotation
    if not isinstance(plugins, dict) or not isinstance(model, type):
        return
    aliases = {info.alias for info in model.model_fields.values()}
    for plugin_id in plugins:
        uri = cr.short_id_uri(plugin_id) if version in (0, 1) else plugin_id
        if plugin_id in aliases and uri in cr.PLUGINS:
            _plugin_availability(walker, ("plugins", plugin_id), uri, cr.PLUGINS[uri], version)


def _short_plugin_name(walker: Walker, path: KeyPath, name: str, version: int) -> None:
    target = walker.target
    uri = cr.short_id_uri(name)
    where = uri
    if name == "cri" and version >= 3:
        where = f"{cr.CRI_RUNTIME}, {cr.CRI_IMAGES} and {cr.CRI_V2}"
    if target.version < (2, 0):
        consequence = (
            f"{target.label} refuses to start: invalid plugin key URI (expected io.containerd.x.vx)"
        )
        severity = Severity.ERROR
    else:
        consequence = f"{target.label} does not recognise the table and ignores it"
        severity = Severity.WARNING
    walker.report(
        "short-plugin-name",
        path,
        f"[plugins.{name}] is a version 1 short plugin name, but this file is version "
        f"{version}; {consequence}",
        severity=severity,
        hint=f'use [plugins."{where}"]'
        if "," not in where
        else f'split it into [plugins."…"] tables: {where}',
    )


def _foreign_plugin_id(walker: Walker, path: KeyPath, plugin_id: str) -> None:
    target = walker.target
    if target.version < (2, 0) and (target.version >= (1, 7) or plugin_id.count(".") < 3):
        walker.report(
            "invalid-plugin-id",
            path,
            f'"{plugin_id}" is not an io.containerd.<type>.<version>.<name> plugin id; '
            f"{target.label} refuses to start on it (invalid plugin key URI)",
            hint="plugin ids look like io.containerd.grpc.v1.cri; configure external "
            "plugins under [proxy_plugins]",
        )
        return
    walker.report(
        "third-party-plugin",
        path,
        f'[plugins."{plugin_id}"] is not a built-in plugin of {target.label}; '
        "it is kept as it is and has effect only if such a plugin is loaded",
    )


def _unknown_plugin(walker: Walker, path: KeyPath, plugin_id: str, *, shown: str) -> None:
    close = difflib.get_close_matches(plugin_id, list(cr.PLUGINS), n=1, cutoff=0.9)
    if close:
        walker.report(
            "unknown-key",
            path,
            f'unknown plugin "{shown}"; {walker.target.label} ignores this table',
            hint=f'did you mean "{close[0]}"?',
        )
        return
    walker.report(
        "third-party-plugin",
        path,
        f'[plugins."{shown}"] is not a built-in plugin of {walker.target.label}; it '
        "is kept as it is and has effect only if such a plugin is loaded",
    )


def _plugin_availability(
    walker: Walker, path: KeyPath, plugin_id: str, info: cr.PluginInfo, version: int
) -> None:
    target = walker.target
    note = f" ({info.note})" if info.note else ""
    if target.version < info.added:
        walker.report(
            "unavailable-plugin",
            path,
            f'{target.label} has no plugin "{plugin_id}" (added in containerd '
            f"{info.added[0]}.{info.added[1]}); the table is unused",
        )
        return
    if info.removed is None or target.version < info.removed:
        return
    if info.renamed_to and version <= 2:
        return  # the version 2 → 3 migration renames it
    if info.renamed_to:
        walker.report(
            "unavailable-plugin",
            path,
            f'"{plugin_id}" was renamed "{info.renamed_to}" in containerd 2.0; '
            f"{target.label} ignores this table",
            hint=f'use [plugins."{info.renamed_to}"]',
        )
        return
    walker.report(
        "unavailable-plugin",
        path,
        f'"{plugin_id}" was removed in containerd {info.removed[0]}.{info.removed[1]}'
        f"{note}; {target.label} does not have it and silently ignores this table",
    )


# -- semantic checks -------------------------------------------------------------------------------
def check_semantics(reporter: Reporter, config: ContainerdConfig, raw: dict[str, Any]) -> None:
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
            hint="move the mirrors into hosts.toml files under config_path",
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
