"""CRI-O crio.conf (+ drop-ins) → containerd config.toml version 3 (crossmap.md, left to right)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crio_py.config.containerd.cri import (
    RUNC_SHIM,
)
from crio_py.config.crio.merge import merge_sources
from crio_py.config.crio.models import (
    CrioConfig,
    CrioRuntime,
    RuntimeHandler,
    effective_runtime,
)
from crio_py.config.crio.settings import plugin_dirs
from crio_py.config.lint.crio import lint_crio
from crio_py.config.migrate.convert._common import (
    API,
    CNRI,
    EMPTY_IS_DEFAULT,
    GRPC_DEFAULT_CRIO,
    HANDLERS,
    ICMP_SYSCTL,
    IMAGE,
    IMG,
    METRICS,
    NET,
    NRI_PLUGIN,
    OTEL,
    PORTS_SYSCTL,
    RT,
    RUN,
    RUNTIMES,
    SAME,
    SHIM_FILE,
    SRV,
    STORAGE_TO_SNAPSHOTTER,
    TASKS,
    TRACING,
    ConvertContext,
    Key,
    OutTree,
    carry_or_write,
    key_name,
    notes_for,
    put_table,
    refuse_errors,
    report_rest,
)
from crio_py.config.migrate.convert.crio_only import crio_only_trailer
from crio_py.config.migrate.convert.not_carried import CRIO_UNITS, crio_reason
from crio_py.config.migrate.report import Action, MigrationResult
from crio_py.config.rules import newest
from crio_py.config.source import Source

_CONTAINERD_SKELETON: tuple[Key, ...] = (
    ("grpc",),
    ("debug",),
    ("metrics",),
    IMG,
    RT,
    SRV,
    NRI_PLUGIN,
    TASKS,
    OTEL,
)
_CONTAINERD_HEADER = (
    "containerd config (version 3) converted from a CRI-O configuration by",
    "`crio-py config migrate`; settings without an equivalent are listed in its report.",
)


def crio_to_containerd(sources: Sequence[Source], *, force: bool = False) -> MigrationResult:
    """Convert crio.conf and its drop-ins (in load order) to a containerd config version 3.

    Raises ConfigReadError when the CRI-O configuration has lint errors.
    """
    diagnostics, config = lint_crio(sources, newest("crio"))
    refuse_errors(sources, diagnostics, force=force)
    result = MigrationResult(source_format="crio", target="containerd-v3", text="")
    ctx = ConvertContext(sources, merge_sources(sources), result, OutTree(_CONTAINERD_SKELETON))
    ctx.out.put(("version",), 3)
    _handlers_to_containerd(ctx, config.crio.runtime)
    for step in (
        _api_to_containerd,
        _images_to_containerd,
        _network_to_containerd,
        _sysctls_to_containerd,
        _metrics_to_containerd,
        _nri_tracing_to_containerd,
        _same_to_containerd,
    ):
        step(ctx, config)
    report_rest(ctx, CRIO_UNITS, crio_reason)
    result.text = ctx.out.render(_CONTAINERD_HEADER) + crio_only_trailer(ctx)
    return result


def _handlers_to_containerd(ctx: ConvertContext, runtime: CrioRuntime) -> None:
    default, handlers = effective_runtime(runtime, newest("crio"))
    carried = [
        name
        for name, handler in handlers.items()
        if _handler_to_containerd(ctx, name, handler, runtime, default)
    ]
    _default_to_containerd(ctx, default, carried, runtime)
    _cgroups_to_containerd(ctx, runtime, default)


def _runc_options(binary: str, root: str, runtime: CrioRuntime) -> dict[str, Any]:
    options: dict[str, Any] = {"BinaryName": binary}
    if root:
        options["Root"] = root
    options["SystemdCgroup"] = runtime.cgroup_manager == "systemd"
    if "no_pivot" in runtime.model_fields_set:
        options["NoPivotRoot"] = runtime.no_pivot
    return options


def _containerd_runtime(
    name: str, handler: RuntimeHandler, runtime: CrioRuntime
) -> tuple[dict[str, Any] | None, str]:
    """The containerd runtime table for a CRI-O handler, and what the conversion did."""
    kind = handler.runtime_type or "oci"
    if kind == "oci":
        binary = handler.runtime_path or name
        table: dict[str, Any] = {"runtime_type": RUNC_SHIM}
        reason = (
            f"runtime_type oci → {RUNC_SHIM}; the OCI runtime {binary} goes to "
            "options.BinaryName (containerd's runtime_path would name the shim)"
        )
        if handler.runtime_root:
            reason += ", runtime_root to options.Root"
        options = _runc_options(binary, handler.runtime_root, runtime)
    elif kind == "vm":
        match = SHIM_FILE.search(handler.runtime_path)
        if match is None:
            return None, "a vm handler needs runtime_path = a containerd-shim-<name>-v2 binary"
        table = {
            "runtime_type": f"io.containerd.{match[1]}.v2",
            "runtime_path": handler.runtime_path,
        }
        reason = f"runtime_type vm → io.containerd.{match[1]}.v2, named after the shim binary"
        options = {"ConfigPath": handler.runtime_config_path} if handler.runtime_config_path else {}
        if options:
            reason += "; runtime_config_path → options.ConfigPath"
    else:
        return None, f'runtime_type "{kind}" (conmon-rs) has no containerd equivalent'
    if handler.privileged_without_host_devices:
        table["privileged_without_host_devices"] = True
    if options:
        table["options"] = options
    return table, reason


def _handler_to_containerd(
    ctx: ConvertContext, name: str, handler: RuntimeHandler, runtime: CrioRuntime, default: str
) -> bool:
    source = (*HANDLERS, name)
    table, reason = _containerd_runtime(name, handler, runtime)
    if table is None:
        ctx.skip(source, reason)
        return False
    target = (*RUNTIMES, name)
    if not ctx.is_set(source):
        reason = f"CRI-O's built-in {name} handler, written out; " + reason
    if handler.inherit_default_runtime and name != default:
        reason += f"; inherit_default_runtime resolved from {default}"
    action: Action = "converted" if ctx.is_set(source) else "written"
    change = ctx.record(action, source, key_name(target), reason, mark=False)
    ctx.out.table_notes[target] = notes_for(ctx.sources, source)
    put_table(ctx, target, table, change)
    mapped = ["runtime_type", "runtime_path", "privileged_without_host_devices"]
    mapped += ["inherit_default_runtime", "runtime_config_path"]
    if (handler.runtime_type or "oci") == "vm":
        if handler.runtime_root:
            ctx.skip((*source, "runtime_root"), _VM_ROOT)
    else:
        mapped.append("runtime_root")
    ctx.consume(*((*source, key) for key in mapped))
    return True


_VM_ROOT = (
    "a vm handler's state belongs to its shim; containerd's options.Root is a runc option "
    "and the kata shim keeps its own state directory"
)


def _default_to_containerd(
    ctx: ConvertContext, default: str, carried: list[str], runtime: CrioRuntime
) -> None:
    source = (*RUN, "default_runtime")
    target = (*RT, "containerd", "default_runtime_name")
    if default not in carried:
        if "runc" not in carried:
            reason = "containerd's built-in runc, written out to be the default"
            change = ctx.record(
                "written", (*HANDLERS, "runc"), key_name((*RUNTIMES, "runc")), reason
            )
            table = {"runtime_type": RUNC_SHIM, "options": _runc_options("runc", "", runtime)}
            put_table(ctx, (*RUNTIMES, "runc"), table, change)
        reason = (
            f"the default handler {default} is not carried, so containerd's runc is the default"
        )
        change = ctx.record("converted", source, key_name(target), reason)
        ctx.out.put(target, "runc", change=change)
    elif ctx.is_set(source):
        ctx.carry("moved", source, target, default)
    else:
        reason = f"not set: CRI-O's default handler is {default}, containerd's is runc"
        ctx.write(source, target, default, reason)


def _cgroups_to_containerd(ctx: ConvertContext, runtime: CrioRuntime, default: str) -> None:
    systemd = runtime.cgroup_manager == "systemd"
    to = f"{key_name(RUNTIMES)}.*.options.SystemdCgroup"
    source = (*RUN, "cgroup_manager")
    value = "true" if systemd else "false"
    if ctx.is_set(source):
        reason = (
            f"SystemdCgroup = {value} on every runc runtime: CRI-O's cgroup_manager is "
            "global, containerd's cgroup driver is set per runtime"
        )
        ctx.record("converted", source, to, reason)
        leaf = ctx.out.leaf((*RUNTIMES, default, "options", "SystemdCgroup"))
        if leaf is not None:
            leaf.notes = notes_for(ctx.sources, source)
    else:
        reason = (
            "not set: CRI-O's default cgroup_manager is systemd, containerd's default is "
            "SystemdCgroup = false; SystemdCgroup = true is written on every runc runtime"
        )
        ctx.result.add("written", key_name(source), to, reason)
    if "no_pivot" in runtime.model_fields_set:
        reason = "NoPivotRoot on every runc runtime (CRI-O's no_pivot is global)"
        ctx.record(
            "converted", (*RUN, "no_pivot"), f"{key_name(RUNTIMES)}.*.options.NoPivotRoot", reason
        )


_CRIO_SOCKETS = ("/var/run/crio/crio.sock", "/run/crio/crio.sock")


def _api_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    api = config.crio.api
    if ctx.raw((*API, "listen")) in _CRIO_SOCKETS:
        ctx.skip((*API, "listen"), "CRI-O's own socket, left to containerd's default "
                 "/run/containerd/containerd.sock: point the kubelet's "
                 "--container-runtime-endpoint there")  # fmt: skip
    for key, target_key in (
        ("grpc_max_send_msg_size", "max_send_message_size"),
        ("grpc_max_recv_msg_size", "max_recv_message_size"),
    ):
        value = getattr(api, key)
        effective = value if value > 0 else GRPC_DEFAULT_CRIO
        source, target = (*API, key), ("grpc", target_key)
        if not ctx.is_set(source):
            reason = "not set: CRI-O's default is 80 MiB, containerd's 16 MiB"
            ctx.write(source, target, effective, reason)
        elif value > 0:
            ctx.carry("moved", source, target, value)
        else:
            ctx.carry("converted", source, target, effective, "0 or less means 80 MiB in CRI-O")


def _images_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    image = config.crio.image
    carry_or_write(
        ctx,
        (*IMAGE, "pause_image"),
        (*IMG, "pinned_images", "sandbox"),
        image.pause_image,
        f"not set: CRI-O's default pause image is {image.pause_image}, containerd's differs",
    )
    carry_or_write(
        ctx,
        (*IMAGE, "pull_progress_timeout"),
        (*IMG, "image_pull_progress_timeout"),
        image.pull_progress_timeout or "0s",
        "not set: CRI-O's default is 0s (no timeout), containerd's 5m0s",
    )
    volumes = (*IMAGE, "image_volumes")
    if ctx.is_set(volumes):
        reason = f"image_volumes = {image.image_volumes}"
        if image.image_volumes == "bind":
            reason += ": containerd has no bind mode, it always creates image volumes"
        target = (*RT, "ignore_image_defined_volumes")
        ctx.convert(volumes, {target: image.image_volumes == "ignore"}, reason)
    _storage_to_containerd(ctx, config)


def _storage_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    source = ("crio", "storage_driver")
    if not ctx.is_set(source):
        return
    driver = config.crio.storage_driver
    snapshotter = STORAGE_TO_SNAPSHOTTER.get(driver)
    if snapshotter is None:
        ctx.skip(source, f'storage driver "{driver}" has no containerd snapshotter of its own')
        return
    reason = f"storage driver {driver} → snapshotter {snapshotter}"
    ctx.convert(source, {(*IMG, "snapshotter"): snapshotter}, reason)


def _network_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    keys = [(*NET, "plugin_dirs"), (*NET, "plugin_dir")]
    written = [key for key in keys if ctx.is_set(key)]
    if not written:
        return
    dirs = plugin_dirs(config)
    if len(dirs) == 1:
        targets: dict[Key, Any] = {(*RT, "cni", "bin_dir"): dirs[0]}
        reason = "one directory: bin_dir"
    else:
        targets = {(*RT, "cni", "bin_dirs"): dirs}
        reason = "several directories: bin_dirs needs containerd 2.1+ (2.0 reads only bin_dir)"
    ctx.convert(written[0], targets, reason)
    ctx.consume(*written)


def _sysctls_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    source = (*RUN, "default_sysctls")
    found = {"ports": False, "icmp": False}
    for item in config.crio.runtime.default_sysctls:
        name, _, value = item.partition("=")
        normal = f"{name.strip()}={' '.join(value.split())}"
        which = {PORTS_SYSCTL: "ports", ICMP_SYSCTL: "icmp"}.get(normal)
        if which is None:
            ctx.skip(source, f'"{item}": {_SYSCTL_REASON}')
        else:
            found[which] = True
            target = (*RT, f"enable_unprivileged_{which}")
            ctx.record("converted", source, key_name(target), f'"{item}" → {target[-1]} = true')
    for which, enabled in found.items():
        target = (*RT, f"enable_unprivileged_{which}")
        if enabled:
            ctx.out.put(target, True, notes_for(ctx.sources, source))
        else:
            reason = f"containerd 2.x defaults {target[-1]} to true; CRI-O sets no such sysctl"
            ctx.write(source, target, False, reason)


_SYSCTL_REASON = (
    "only net.ipv4.ip_unprivileged_port_start=0 and net.ipv4.ping_group_range=0 2147483647 "
    "have containerd switches"
)


def _metrics_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    metrics = config.crio.metrics
    keys = [(*METRICS, k) for k in ("enable_metrics", "metrics_host", "metrics_port")]
    written = [key for key in keys if ctx.is_set(key)]
    if not written:
        return
    if not metrics.enable_metrics:
        for key in written:
            ctx.skip(key, "metrics are disabled, so containerd's [metrics] address stays empty")
        return
    host = f"[{metrics.metrics_host}]" if ":" in metrics.metrics_host else metrics.metrics_host
    address = f"{host}:{metrics.metrics_port}"
    reason = "enable_metrics, metrics_host and metrics_port joined as host:port"
    ctx.convert(written[0], {("metrics", "address"): address}, reason)
    ctx.consume(*written)


def _nri_tracing_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    enable = (*CNRI, "enable_nri")
    if ctx.is_set(enable):
        value = config.crio.nri.enable_nri
        ctx.convert(enable, {(*NRI_PLUGIN, "disable"): not value}, "the boolean is inverted")
    rate = (*TRACING, "tracing_sampling_rate_per_million")
    if ctx.is_set(rate):
        ratio = config.crio.tracing.tracing_sampling_rate_per_million / 1_000_000
        reason = "samples per million divided by 1 000 000 (the tracing plugin is deprecated)"
        ctx.convert(rate, {(*OTEL, "sampling_ratio"): ratio}, reason)


def _same_to_containerd(ctx: ConvertContext, config: CrioConfig) -> None:
    for crio_key, containerd_key, note in SAME:
        if ctx.is_used(crio_key) or not ctx.is_set(crio_key):
            continue
        value = ctx.raw(crio_key)
        if value == "" and crio_key[-1] in EMPTY_IS_DEFAULT:
            ctx.skip(crio_key, "empty: both daemons use their built-in default")
        else:
            ctx.carry("moved", crio_key, containerd_key, value, note)
