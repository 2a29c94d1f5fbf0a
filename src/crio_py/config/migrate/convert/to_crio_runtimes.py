"""containerd runtimes → CRI-O runtime handlers, the default handler and the cgroup driver
(crossmap.md, right to left)."""

from __future__ import annotations

from typing import Any

from crio_py.config.containerd.cri import (
    RUNC_SHIM,
    RUNSC_SHIM,
    Runtime,
)
from crio_py.config.containerd.view import CriView
from crio_py.config.migrate.convert._common import (
    HANDLERS,
    RUN,
    RUNC_TYPES,
    SHIM_FILE,
    SHIM_TYPE,
    ConvertContext,
    Key,
    key_name,
    notes_for,
    put_table,
    str_key,
)
from crio_py.config.migrate.convert.containerd_input import (
    ContainerdInput,
    Parts,
)
from crio_py.config.migrate.report import Action


def _runtime_source(ctx: ConvertContext, view: CriView, name: str) -> Key | None:
    """Where the input defines a runtime (None for containerd's built-in runc)."""
    base = str_key(view.containerd_path)
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
    if kind in RUNC_TYPES:
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
        match = SHIM_TYPE.match(kind)
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
    if not SHIM_FILE.search(path):
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


def handlers_to_crio(ctx: ConvertContext, config: ContainerdInput, parts: Parts) -> None:
    view = parts.view
    carried: list[str] = []
    for name, runtime in view.runtimes.items():
        source = _runtime_source(ctx, view, name)
        if source is None and name != view.default_runtime_name:
            continue  # containerd's built-in runc, which nothing here uses
        label = source or str_key((*view.containerd_path, "runtimes", name))
        table, reason, used = _crio_handler(name, runtime)
        if table is None:
            ctx.skip(label, reason)
            continue
        if source is None:
            reason = (
                "containerd's built-in runc runtime, written out (CRI-O 1.31+ has only crun "
                f"built in); {reason}"
            )
        target = (*HANDLERS, name)
        action: Action = "written" if source is None else "converted"
        change = ctx.record(action, label, key_name(target), reason, mark=False)
        ctx.out.table_notes[target] = notes_for(ctx.sources, label)
        put_table(ctx, target, table, change)
        ctx.consume(*((*label, *key.split(".", 1)) for key in used))
        _runsc_options(ctx, label, runtime)
        carried.append(name)
    default = _default_to_crio(ctx, parts, carried)
    _cgroups_to_crio(ctx, parts, default)


def _runsc_options(ctx: ConvertContext, label: Key, runtime: Runtime) -> None:
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


def _default_to_crio(ctx: ConvertContext, parts: Parts, carried: list[str]) -> str:
    view = parts.view
    source = str_key((*view.containerd_path, "default_runtime_name"))
    target = (*RUN, "default_runtime")
    name = view.default_runtime_name
    if name not in carried:
        reason = f"the default runtime {name} is not carried, so runc is CRI-O's default"
        change = ctx.record("converted", source, key_name(target), reason)
        ctx.out.put(target, "runc", change=change)
        return "runc"
    legacy = str_key((*view.containerd_path, "default_runtime"))
    if ctx.is_set(source):
        ctx.carry("moved", source, target, name)
    elif name == "default" and ctx.is_set(legacy):
        reason = "containerd 1.x makes the deprecated default_runtime table the default"
        change = ctx.record("converted", legacy, key_name(target), reason, mark=False)
        ctx.out.put(target, name, change=change)
    else:
        reason = "not set: containerd's default runtime is runc, CRI-O's crun"
        ctx.write(source, target, name, reason)
    return name


def _cgroups_to_crio(ctx: ConvertContext, parts: Parts, default: str) -> None:
    """CRI-O's one cgroup_manager follows the default runtime's SystemdCgroup (NoPivotRoot
    likewise for no_pivot); runtimes that disagree are reported."""
    view = parts.view
    runc = {n: r for n, r in view.runtimes.items() if r.runtime_type in RUNC_TYPES}
    leader = default if default in runc else next(iter(runc), None)
    if leader is None:
        return
    for option, target, values in (
        ("SystemdCgroup", (*RUN, "cgroup_manager"), ("systemd", "cgroupfs")),
        ("NoPivotRoot", (*RUN, "no_pivot"), (True, False)),
    ):
        _global_option(ctx, parts, runc, leader, option, target, values)


def _option_path(
    ctx: ConvertContext, view: CriView, name: str, runtime: Runtime, option: str
) -> Key:
    label = _runtime_source(ctx, view, name) or str_key((*view.containerd_path, "runtimes", name))
    return (*label, "options", _option(runtime.options, option)[0])


def _global_option(
    ctx: ConvertContext,
    parts: Parts,
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

