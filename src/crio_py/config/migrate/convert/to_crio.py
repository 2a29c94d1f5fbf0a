"""containerd config.toml version 2 or 3 → CRI-O crio.conf or a crio.conf.d drop-in
(crossmap.md, right to left)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import tomlkit

from crio_py.config.containerd.models import ContainerdConfigV2, ContainerdConfigV3
from crio_py.config.containerd.cri import (
    RUNC_SHIM,
    RUNSC_SHIM,
    CriImagesV3,
    CriRuntimeV3,
    CriServerV3,
    CriV2,
    Registry,
    Runtime,
)
from crio_py.config.lint.containerd import lint_containerd, merge_imports
from crio_py.config.containerd.view import CriView, config_version, cri_view
from crio_py.config.migrate.convert._common import (
    _API,
    _CNRI,
    _EMPTY_IS_DEFAULT,
    _HANDLERS,
    _ICMP_SYSCTL,
    _IMAGE,
    _IMG,
    _METRICS,
    _MISSING,
    _NET,
    _NO_NOTES,
    _NRI,
    _OTEL,
    _PORTS_SYSCTL,
    _RT,
    _RUN,
    _RUNC_TYPES,
    _SAME,
    _SHIM_FILE,
    _SHIM_TYPE,
    _SNAPSHOTTER_TO_STORAGE,
    _SRV,
    _TRACING,
    Key,
    _carry_or_write,
    _Context,
    _key,
    _Leaf,
    _name,
    _notes,
    _Out,
    _put_table,
    _refuse_errors,
    _report_rest,
)
from crio_py.config.migrate.convert.not_carried import (
    _CONTAINERD_UNITS,
    _containerd_reason,
    _unmapped_plugin_units,
)
from crio_py.config.crio.models import (
    CrioConfig,
    builtin_handler,
)
from crio_py.config.diagnostics import Severity
from crio_py.config.migrate.report import Action, MigrationResult
from crio_py.config.rules import newest
from crio_py.config.source import Source
from crio_py.errors import ConfigReadError

_CRIO_SKELETON: tuple[Key, ...] = (
    ("crio",),
    _API,
    _RUN,
    _HANDLERS,
    _IMAGE,
    _NET,
    _METRICS,
    _TRACING,
    _CNRI,
)

ContainerdInput = ContainerdConfigV2 | ContainerdConfigV3


@dataclass(frozen=True)
class _Parts:
    """The CRI settings of a version 2 or 3 config, and where they live."""

    version: int
    runtime: CriV2 | CriRuntimeV3
    images: CriV2 | CriImagesV3
    server: CriV2 | CriServerV3
    view: CriView

    def loc(self, path: Key) -> Key:
        """Where a version 3 key lives in this config version."""
        if self.version == 3:
            return path
        rest = path[2:]
        if path[:2] == _IMG:
            if rest == ("pinned_images", "sandbox"):
                return (*_SRV, "sandbox_image")
            if rest[0] in (
                "snapshotter",
                "disable_snapshot_annotations",
                "discard_unpacked_layers",
            ):
                return (*_SRV, "containerd", *rest)
            return (*_SRV, *rest)
        return (*_SRV, *rest) if path[:2] == _RT else path


def _parts(config: ContainerdInput) -> _Parts:
    view = cri_view(config, legacy=config.version == 2)
    if isinstance(config, ContainerdConfigV3):
        plugins = config.plugins
        return _Parts(
            3,
            plugins.cri_runtime or CriRuntimeV3(),
            plugins.cri_images or CriImagesV3(),
            plugins.cri_server or CriServerV3(),
            view,
        )
    cri = config.plugins.cri or CriV2()
    return _Parts(2, cri, cri, cri, view)


def containerd_to_crio(sources: Sequence[Source], *, dropin: bool) -> MigrationResult:
    """Convert a containerd config (version 2 or 3, with its imports in load order) to crio.conf,
    or with `dropin` to a crio.conf.d drop-in holding only what differs from CRI-O's defaults.

    Raises ConfigReadError for config versions other than 2 and 3, and when the containerd
    configuration has lint errors.
    """
    config = _validated_containerd(sources)
    result = MigrationResult(
        source_format="containerd", target="crio-dropin" if dropin else "crio", text=""
    )
    data = merge_imports([s.data for s in sources], newest("containerd"))
    ctx = _Context(sources, data, result, _Out(_CRIO_SKELETON))
    parts = _parts(config)
    ctx.consume(("version",))
    _handlers_to_crio(ctx, config, parts)
    for step in (
        _server_to_crio,
        _images_to_crio,
        _cni_to_crio,
        _sysctls_to_crio,
        _metrics_to_crio,
        _nri_tracing_to_crio,
        _registry_to_crio,
        _same_to_crio,
    ):
        step(ctx, config, parts)
    _report_rest(ctx, _CONTAINERD_UNITS + _unmapped_plugin_units(data), _containerd_reason)
    if dropin:
        _drop_crio_defaults(ctx)
    result.text = ctx.out.render(_crio_header(parts.version, dropin))
    return result


def _crio_header(version: int, dropin: bool) -> tuple[str, ...]:
    what = "CRI-O drop-in for crio.conf.d" if dropin else "CRI-O crio.conf"
    lines: tuple[str, ...] = (
        f"{what} converted from a containerd config (version {version}) by",
        "`crio-py config migrate`; settings without an equivalent are listed in its report.",
    )
    if dropin:
        lines += ("It holds only the settings that differ from CRI-O's defaults.",)
    return lines


def _validated_containerd(sources: Sequence[Source]) -> ContainerdInput:
    if not sources:
        raise ConfigReadError("no containerd configuration to convert")
    version = config_version(sources[0].data)
    if version not in (2, 3):
        hint = {
            1: "; migrate it to version 2 or 3 first (crio-py config migrate)",
            4: "; containerd 2.3's version 4 is not supported by the CRI-O conversion yet",
        }.get(version, "")
        shown = "1 (no version key)" if version == 1 else str(version)
        raise ConfigReadError(
            f"{sources[0].path}: containerd config version {shown} cannot be converted to "
            f"CRI-O; only versions 2 and 3 can{hint}"
        )
    diagnostics, config = lint_containerd(sources, newest("containerd"))
    if not isinstance(config, ContainerdConfigV2 | ContainerdConfigV3):
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        raise ConfigReadError(f"{sources[0].path}: not a usable containerd configuration", errors)
    # Runtimes that disagree on SystemdCgroup: CRI-O gets the default runtime's driver.
    _refuse_errors(sources, diagnostics, frozenset({"cgroup-driver-mismatch"}))
    return config


def _runtime_source(ctx: _Context, view: CriView, name: str) -> Key | None:
    """Where the input defines a runtime (None for containerd's built-in runc)."""
    base = _key(view.containerd_path)
    candidates: list[Key] = [(*base, "runtimes", name)]
    legacy = {"default": "default_runtime", "untrusted": "untrusted_workload_runtime"}
    if name in legacy:
        candidates.append((*base, legacy[name]))
    return next((path for path in candidates if ctx.is_set(path)), None)


def _option(options: dict[str, Any], name: str) -> tuple[str, Any]:
    """An options key and its value, matched without regard to case as containerd does."""
    for key, value in options.items():
        if key.lower() == name.lower():
            return key, value
    return name, None


def _crio_handler(name: str, runtime: Runtime) -> tuple[dict[str, Any] | None, str, list[str]]:
    """The CRI-O handler table for a containerd runtime, what the conversion did, and the
    runtime keys (options.X for options) it used."""
    kind = runtime.runtime_type or RUNC_SHIM
    options = runtime.options
    if kind in _RUNC_TYPES:
        key, binary = _option(options, "BinaryName")
        table, reason = _oci_handler(name, str(binary or "runc"), f"{kind} → runtime_type oci")
        root_key, root = _option(options, "Root")
        if root:
            table["runtime_root"] = str(root)
            reason += "; options.Root → runtime_root"
        used = ["runtime_type", f"options.{key}", f"options.{root_key}"]
    elif kind == RUNSC_SHIM:
        reason = f"{kind} → an oci handler running runsc (CRI-O drives runsc through conmon)"
        table, reason = _oci_handler(name, "runsc", reason)
        used = ["runtime_type"]
    else:
        match = _SHIM_TYPE.match(kind)
        if match is None:
            return None, f'runtime_type "{kind}" has no CRI-O equivalent', []
        vm_table, reason, used = _vm_handler(match[1], runtime)
        if vm_table is None:
            return None, reason, []
        table = vm_table
    if runtime.privileged_without_host_devices:
        table["privileged_without_host_devices"] = True
    return table, reason, [*used, "privileged_without_host_devices"]


def _oci_handler(name: str, binary: str, reason: str) -> tuple[dict[str, Any], str]:
    table: dict[str, Any] = {"runtime_type": "oci"}
    if binary.startswith("/"):
        table["runtime_path"] = binary
        return table, f"{reason}; runtime_path = {binary}"
    if binary == name:
        return (
            table,
            f"{reason}; runtime_path left empty: CRI-O finds {name} in PATH, as containerd did",
        )
    table["runtime_path"] = f"/usr/bin/{binary}"
    return table, (
        f"{reason}; runtime_path = /usr/bin/{binary}: containerd found {binary} in PATH, but "
        "CRI-O needs an absolute path unless the binary is named like the handler — check it"
    )


def _vm_handler(shim: str, runtime: Runtime) -> tuple[dict[str, Any] | None, str, list[str]]:
    path = runtime.runtime_path or f"/usr/bin/containerd-shim-{shim}-v2"
    if not _SHIM_FILE.search(path):
        return None, f"runtime_path {path} is not a containerd-shim-<name>-v2 binary", []
    table: dict[str, Any] = {"runtime_type": "vm", "runtime_path": path}
    reason = f"{runtime.runtime_type} → runtime_type vm with runtime_path {path}"
    if not runtime.runtime_path:
        reason += " (containerd looks the shim up in PATH; CRI-O needs its path — check it)"
    key, config_path = _option(runtime.options, "ConfigPath")
    if config_path:
        table["runtime_config_path"] = str(config_path)
        reason += "; options.ConfigPath → runtime_config_path"
    return table, reason, ["runtime_type", "runtime_path", f"options.{key}"]


def _handlers_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    view = parts.view
    carried: list[str] = []
    for name, runtime in view.runtimes.items():
        source = _runtime_source(ctx, view, name)
        label = source or _key((*view.containerd_path, "runtimes", name))
        table, reason, used = _crio_handler(name, runtime)
        if table is None:
            ctx.skip(label, reason)
            continue
        if source is None:
            reason = (
                "containerd's built-in runc runtime, written out (CRI-O 1.31+ has only crun "
                f"built in); {reason}"
            )
        target = (*_HANDLERS, name)
        action: Action = "written" if source is None else "converted"
        change = ctx.record(action, label, _name(target), reason, mark=False)
        ctx.out.table_notes[target] = _notes(ctx.sources, label)
        _put_table(ctx, target, table, change)
        ctx.consume(*((*label, *key.split(".", 1)) for key in used))
        _runsc_options(ctx, label, runtime)
        carried.append(name)
    default = _default_to_crio(ctx, parts, carried)
    _cgroups_to_crio(ctx, parts, default)


def _runsc_options(ctx: _Context, label: Key, runtime: Runtime) -> None:
    if runtime.runtime_type != RUNSC_SHIM:
        return
    key, config_path = _option(runtime.options, "ConfigPath")
    if config_path:
        ctx.skip(
            (*label, "options", key),
            f"the runsc flags in {config_path} ([runsc_config]) are not carried: CRI-O runs "
            "runsc as a plain OCI runtime; to keep them, point runtime_path at a wrapper "
            "script that runs runsc with those flags",
        )


def _default_to_crio(ctx: _Context, parts: _Parts, carried: list[str]) -> str:
    view = parts.view
    source = _key((*view.containerd_path, "default_runtime_name"))
    target = (*_RUN, "default_runtime")
    name = view.default_runtime_name
    if name not in carried:
        reason = f"the default runtime {name} is not carried, so runc is CRI-O's default"
        ctx.out.put(target, "runc", change=ctx.record("converted", source, _name(target), reason))
        return "runc"
    legacy = _key((*view.containerd_path, "default_runtime"))
    if ctx.is_set(source):
        ctx.carry("moved", source, target, name)
    elif name == "default" and ctx.is_set(legacy):
        reason = "containerd 1.x makes the deprecated default_runtime table the default"
        change = ctx.record("converted", legacy, _name(target), reason, mark=False)
        ctx.out.put(target, name, change=change)
    else:
        reason = "not set: containerd's default runtime is runc, CRI-O's crun"
        ctx.write(source, target, name, reason)
    return name


def _cgroups_to_crio(ctx: _Context, parts: _Parts, default: str) -> None:
    """CRI-O's one cgroup_manager follows the default runtime's SystemdCgroup (NoPivotRoot
    likewise for no_pivot); runtimes that disagree are reported."""
    view = parts.view
    runc = {n: r for n, r in view.runtimes.items() if r.runtime_type in _RUNC_TYPES}
    leader = default if default in runc else next(iter(runc), None)
    if leader is None:
        return
    for option, target, values in (
        ("SystemdCgroup", (*_RUN, "cgroup_manager"), ("systemd", "cgroupfs")),
        ("NoPivotRoot", (*_RUN, "no_pivot"), (True, False)),
    ):
        _global_option(ctx, parts, runc, leader, option, target, values)


def _option_path(ctx: _Context, view: CriView, name: str, runtime: Runtime, option: str) -> Key:
    label = _runtime_source(ctx, view, name) or _key((*view.containerd_path, "runtimes", name))
    return (*label, "options", _option(runtime.options, option)[0])


def _global_option(
    ctx: _Context,
    parts: _Parts,
    runc: dict[str, Runtime],
    leader: str,
    option: str,
    target: Key,
    values: tuple[Any, Any],
) -> None:
    view = parts.view
    chosen = bool(_option(runc[leader].options, option)[1])
    source = _option_path(ctx, view, leader, runc[leader], option)
    value = values[0] if chosen else values[1]
    if ctx.is_set(source):
        reason = (
            f"{option} = {str(chosen).lower()} of runtime {leader}: CRI-O sets it once "
            "for every handler"
        )
        ctx.carry("converted", source, target, value, reason)
    elif option == "SystemdCgroup":
        reason = (
            "not set: containerd's default is SystemdCgroup = false, CRI-O's cgroup_manager systemd"
        )
        ctx.write(source, target, value, reason)
    for name, runtime in runc.items():
        path = _option_path(ctx, view, name, runtime, option)
        if name == leader or bool(_option(runtime.options, option)[1]) == chosen:
            ctx.consume(path)
        elif option == "SystemdCgroup" or ctx.is_set(path):
            ctx.skip(
                path,
                f"CRI-O has one {target[-1]} for every handler; it follows runtime {leader} "
                f"({option} = {str(chosen).lower()}), so {name} changes too",
            )


def _server_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    for key, target_key in (
        ("max_send_message_size", "grpc_max_send_msg_size"),
        ("max_recv_message_size", "grpc_max_recv_msg_size"),
    ):
        source, target = ("grpc", key), (*_API, target_key)
        written = "not set: containerd's default is 16 MiB, CRI-O's 80 MiB"
        _carry_or_write(ctx, source, target, getattr(config.grpc, key), written)
    _tls_to_crio(ctx, parts)


def _tls_to_crio(ctx: _Context, parts: _Parts) -> None:
    """containerd makes itself a certificate when none is given; CRI-O cannot."""
    server = parts.server
    source = parts.loc((*_SRV, "enable_tls_streaming"))
    pair = server.x509_key_pair_streaming
    if server.enable_tls_streaming and not (pair.tls_cert_file and pair.tls_key_file):
        ctx.skip(
            source,
            "containerd serves TLS streams with a self-signed certificate when none is "
            "given; CRI-O needs stream_tls_cert and stream_tls_key, so TLS stays off",
        )


def _images_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    images = parts.images
    source = parts.loc((*_IMG, "pinned_images", "sandbox"))
    if isinstance(images, CriV2):
        sandbox = images.sandbox_image
    else:
        sandbox = images.pinned_images.get("sandbox", "registry.k8s.io/pause:3.10")
    qualified = _qualified(sandbox)
    target = (*_IMAGE, "pause_image")
    if not ctx.is_set(source):
        reason = f"not set: containerd's default sandbox image is {sandbox}, CRI-O's differs"
        ctx.write(source, target, qualified, reason)
    elif qualified != sandbox:
        ctx.convert(source, {target: qualified}, "CRI-O needs the registry host in the name")
    else:
        ctx.carry("moved", source, target, sandbox)
    timeout = images.image_pull_progress_timeout
    source = parts.loc((*_IMG, "image_pull_progress_timeout"))
    if timeout:
        written = "not set: containerd's default is 5m0s, CRI-O's 0s (no timeout)"
        _carry_or_write(ctx, source, (*_IMAGE, "pull_progress_timeout"), timeout, written)
    _volumes_storage_to_crio(ctx, parts)


def _qualified(image: str) -> str:
    """An image reference with its registry host, as CRI-O wants it (docker.io/library/…)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if slash else f"docker.io/library/{image}"


def _volumes_storage_to_crio(ctx: _Context, parts: _Parts) -> None:
    source = parts.loc((*_RT, "ignore_image_defined_volumes"))
    if ctx.is_set(source):
        value = "ignore" if parts.runtime.ignore_image_defined_volumes else "mkdir"
        ctx.convert(source, {(*_IMAGE, "image_volumes"): value}, f"image_volumes = {value}")
    source = parts.loc((*_IMG, "snapshotter"))
    if not ctx.is_set(source):
        return
    snapshotter = ctx.raw(source)
    driver = _SNAPSHOTTER_TO_STORAGE.get(snapshotter)
    if driver is None:
        reason = f'CRI-O\'s containers/storage has no driver for the "{snapshotter}" snapshotter'
        ctx.skip(source, reason)
    else:
        reason = f"snapshotter {snapshotter} → storage driver {driver}"
        ctx.convert(source, {("crio", "storage_driver"): driver}, reason)


def _cni_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    cni_path = parts.loc((*_RT, "cni"))
    cni = parts.runtime.cni
    dirs_key, dir_key = (*cni_path, "bin_dirs"), (*cni_path, "bin_dir")
    if parts.version == 3 and ctx.is_set(dirs_key):
        source, dirs = dirs_key, list(cni.bin_dirs)
        if ctx.is_set(dir_key):
            ctx.skip(dir_key, "bin_dirs wins over bin_dir")
    elif ctx.is_set(dir_key) and cni.bin_dir:
        source, dirs = dir_key, [cni.bin_dir]
    else:
        return
    ctx.carry("moved" if source == dirs_key else "converted", source, (*_NET, "plugin_dirs"), dirs)


def _sysctls_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    target = (*_RUN, "default_sysctls")
    sysctls: list[str] = []
    first: Key | None = None
    for key, sysctl in (
        ("enable_unprivileged_ports", _PORTS_SYSCTL),
        ("enable_unprivileged_icmp", _ICMP_SYSCTL),
    ):
        source = parts.loc((*_RT, key))
        enabled = bool(getattr(parts.runtime, key))
        if enabled:
            sysctls.append(sysctl)
        if ctx.is_set(source):
            first = first or source
            ctx.record("converted", source, _name(target), f"{key} = {str(enabled).lower()}")
        elif enabled:
            reason = f"not set: containerd 2.x enables it by default; CRI-O needs {sysctl}"
            ctx.result.add("written", _name(source), _name(target), reason)
    if sysctls:
        ctx.out.put(target, sysctls, _notes(ctx.sources, first) if first else _NO_NOTES)


def _metrics_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    source: Key = ("metrics", "address")
    address = config.metrics.address
    if not ctx.is_set(source):
        return
    if not address:
        ctx.convert(source, {(*_METRICS, "enable_metrics"): False}, "empty: metrics are off")
        return
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        ctx.skip(source, f'"{address}" is not host:port')
        return
    targets = {
        (*_METRICS, "enable_metrics"): True,
        (*_METRICS, "metrics_host"): host.strip("[]"),
        (*_METRICS, "metrics_port"): int(port),
    }
    ctx.convert(source, targets, "host:port split into metrics_host and metrics_port")


def _nri_tracing_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    source, target = (*_NRI, "disable"), (*_CNRI, "enable_nri")
    if ctx.is_set(source):
        ctx.convert(source, {target: not ctx.raw(source)}, "the boolean is inverted")
    elif parts.version == 2:
        reason = "not set: containerd 1.7 leaves NRI off (1.6 has none), CRI-O turns it on"
        ctx.write(source, target, False, reason)
    source = (*_OTEL, "sampling_ratio")
    if ctx.is_set(source):
        rate = round(float(ctx.raw(source)) * 1_000_000)
        target = (*_TRACING, "tracing_sampling_rate_per_million")
        ctx.convert(source, {target: rate}, "the ratio times 1 000 000")


def _same_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    for crio_key, containerd_key, _note in _SAME:
        source = parts.loc(containerd_key)
        if ctx.is_used(source) or not ctx.is_set(source):
            continue
        value = ctx.raw(source)
        if value == "" and source[-1] in _EMPTY_IS_DEFAULT:
            ctx.skip(source, "empty: both daemons use their built-in default")
        else:
            ctx.carry("moved", source, crio_key, value)


# -- registries -----------------------------------------------------------------------------------

_REGISTRIES_CONF = (
    "CRI-O reads registries from containers-registries.conf(5), not crio.conf; add this to "
    "/etc/containers/registries.conf (or a file in /etc/containers/registries.conf.d/):\n"
)


def _registry_to_crio(ctx: _Context, config: ContainerdInput, parts: _Parts) -> None:
    base = _key(parts.view.registry_path)
    registry = parts.view.registry
    if ctx.is_set((*base, "config_path")):
        ctx.skip((*base, "config_path"), _CONFIG_PATH)
    if ctx.is_set((*base, "mirrors")):
        snippet = _registries_snippet(registry, list(registry.mirrors))
        reason = _REGISTRIES_CONF + snippet if snippet else _NO_MIRRORS
        ctx.skip((*base, "mirrors"), reason)
    for host in registry.configs:
        if ctx.is_set((*base, "configs", host, "auth")):
            ctx.skip((*base, "configs", host, "auth"), _AUTH)
        if ctx.is_set((*base, "configs", host, "tls")):
            ctx.skip((*base, "configs", host, "tls"), _tls_reason(registry, host))
    if ctx.is_set((*base, "auths")):
        ctx.skip((*base, "auths"), _AUTH)
    if ctx.is_set((*base, "headers")):
        ctx.skip((*base, "headers"), "none: CRI-O sends no extra registry headers")


_CONFIG_PATH = (
    "CRI-O reads containers-registries.conf(5) and /etc/containers/certs.d/<host>/ instead of "
    "hosts.toml files: each <dir>/<host>/hosts.toml becomes a [[registry]] location = <host> "
    "with one [[registry.mirror]] per [host.…] entry, and its ca / client files go to "
    "/etc/containers/certs.d/<host>/"
)
_NO_MIRRORS = (
    "CRI-O reads mirrors from containers-registries.conf(5); these endpoints only name the "
    "registries themselves, so nothing needs to be added there"
)
_AUTH = (
    "credentials are not carried (nor shown here): give CRI-O an auth.json (global_auth_file) "
    "or let the kubelet pass ImagePullSecrets / credential-provider credentials"
)


def _tls_reason(registry: Registry, host: str) -> str:
    reason = (
        f"put the CA for {host} in /etc/containers/certs.d/{host}/ca.crt and a client pair as "
        "client.cert / client.key there (containers-certs.d(5))"
    )
    snippet = _registries_snippet(registry, [host])
    return f"{reason}; skip_verify becomes insecure = true:\n{snippet}" if snippet else reason


def _registries_snippet(registry: Registry, hosts: list[str]) -> str:
    """registries.conf [[registry]] entries for the mirrors and insecure hosts of a registry."""
    entries: list[dict[str, Any]] = []
    for host in hosts:
        mirror = registry.mirrors.get(host)
        config = registry.configs.get(host)
        insecure = bool(config and config.tls and config.tls.insecure_skip_verify)
        mirrors = [
            m for m in (_mirror(host, url) for url in (mirror.endpoint if mirror else [])) if m
        ]
        if host in ("*", "_default") or not (mirrors or insecure):
            continue
        entry: dict[str, Any] = {"location": host}
        if insecure:
            entry["insecure"] = True
        if mirrors:
            entry["mirror"] = mirrors
        entries.append(entry)
    return tomlkit.dumps({"registry": entries}).strip() if entries else ""


def _mirror(host: str, url: str) -> dict[str, Any] | None:
    """A [[registry.mirror]] for one containerd endpoint URL (None for the registry itself)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["v2"]:
        segments = segments[1:]
    if segments[-1:] == ["v2"]:
        segments = segments[:-1]
    location = "/".join([parts.netloc, *segments])
    upstream = {host, "registry-1.docker.io", "index.docker.io"} if host == "docker.io" else {host}
    if location in upstream:
        return None
    mirror: dict[str, Any] = {"location": location}
    if parts.scheme == "http":
        mirror["insecure"] = True
    return mirror


# -- what is not carried, and the drop-in filter ------------------------------------------------


def _drop_crio_defaults(ctx: _Context) -> None:
    """Leave out of a drop-in every setting that equals CRI-O's default."""
    defaults = CrioConfig()
    for path in list(ctx.out.leaves()):
        if path[:3] == _HANDLERS:
            continue
        default = _model_value(defaults, path)
        if default is not _MISSING and _same(ctx.out.leaf(path), default):
            _mark_default(ctx, path)
            ctx.out.remove(path)
    name, builtin = builtin_handler(newest("crio"))
    table = ctx.out.table((*_HANDLERS, name))
    if table is not None and {k: v.value for k, v in table.items()} == {
        "runtime_type": "oci",
        "runtime_root": builtin.runtime_root,
    }:
        for key in list(table):
            _mark_default(ctx, (*_HANDLERS, name, key))
        ctx.out.remove((*_HANDLERS, name))


def _model_value(model: Any, path: Key) -> Any:
    for part in path:
        model = getattr(model, part, _MISSING)
        if model is _MISSING:
            return _MISSING
    return model


def _same(leaf: _Leaf | None, default: Any) -> bool:
    """Equal, counting "/etc/cni/net.d/" and "/etc/cni/net.d" as the same path."""
    if leaf is None:
        return False
    value = leaf.value

    def norm(item: Any) -> Any:
        return item.rstrip("/") if isinstance(item, str) and item.startswith("/") else item

    if isinstance(value, list) and isinstance(default, list):
        return [norm(v) for v in value] == [norm(d) for d in default]
    return bool(norm(value) == norm(default)) and type(value) is type(default)


def _mark_default(ctx: _Context, path: Key) -> None:
    leaf = ctx.out.leaf(path)
    if leaf is None or leaf.change is None:
        return
    change = ctx.result.changes[leaf.change]
    note = f"{path[-1]} is CRI-O's default, so the drop-in leaves it out"
    reason = f"{change.reason}; {note}" if change.reason else note
    ctx.result.changes[leaf.change] = dataclasses.replace(change, reason=reason)
