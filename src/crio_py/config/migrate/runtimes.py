"""What containerd's own migration loses, kept: the deprecated default/untrusted runtime tables
become runtimes, and runtimes of the removed io.containerd.runtime.v1.linux become runc v2
runtimes that keep their binary, root, cgroup driver and pivot setting."""

from __future__ import annotations

from typing import Any

from tomlkit.items import Table

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.cri import RUNC_SHIM
from crio_py.config.migrate.report import MigrationResult
from crio_py.config.tomledit import (
    drop,
    ensure_table,
    plain,
    pop_with_comments,
    put,
)

V1_LINUX = "io.containerd.runtime.v1.linux"
_OLD_SHIMS = (V1_LINUX, "io.containerd.runc.v1")


V1_LINUX = "io.containerd.runtime.v1.linux"


_OLD_SHIMS = (V1_LINUX, "io.containerd.runc.v1")


# -- legacy runtimes (what upstream's migration loses) -------------------------------------
def convert_legacy_runtimes(cri: Table, linux: Table | None, result: MigrationResult) -> None:
    containerd = cri.get("containerd")
    if not isinstance(containerd, Table):
        containerd = None
    legacy = {
        "systemd_cgroup": plain(cri.get("systemd_cgroup", False)),
        "no_pivot": plain(containerd.get("no_pivot", False)) if containerd else False,
        "binary": plain(linux.get("runtime", "")) if linux else "",
        "root": plain(linux.get("runtime_root", "")) if linux else "",
    }
    base = f"plugins.{cr.CRI_V2}"
    if containerd is not None:
        runtimes = ensure_table(containerd, ("runtimes",), holds_tables=True)
        _adopt_legacy_table(containerd, runtimes, "default_runtime", "default", result)
        _adopt_legacy_table(containerd, runtimes, "untrusted_workload_runtime", "untrusted", result)
        for name, runtime in list(runtimes.items()):
            if isinstance(runtime, Table):
                _modernise_runtime(runtime, f"{base}.containerd.runtimes.{name}", legacy, result)
        if "no_pivot" in containerd:
            drop(containerd, "no_pivot")
            result.add(
                "removed",
                f"{base}.containerd.no_pivot",
                None,
                "removed in containerd 2.0; carried to options.NoPivotRoot of the "
                "former v1-linux runtimes"
                if legacy["no_pivot"]
                else "false is the default",
            )
    for key, reason in (
        (
            "systemd_cgroup",
            "removed in containerd 2.0; carried to "
            "options.SystemdCgroup of the former v1-linux runtimes",
        ),
        ("disable_cgroup", "removed in containerd 2.0; delegate cgroup v2 instead"),
    ):
        if key in cri:
            drop(cri, key)
            result.add("removed", f"{base}.{key}", None, reason)


def _adopt_legacy_table(
    containerd: Table, runtimes: Table, legacy_key: str, name: str, result: MigrationResult
) -> None:
    """containerd 1.x turned default_runtime into runtimes.default (and made it the default)."""
    if legacy_key not in containerd:
        return
    legacy, comments = pop_with_comments(containerd, legacy_key)
    key = f"plugins.{cr.CRI_V2}.containerd.{legacy_key}"
    if not isinstance(legacy, Table) or not plain(legacy.get("runtime_type", "")):
        result.add("removed", key, None, "it has no runtime_type, so containerd 1.x ignored it")
        return
    del comments  # the lines above the key describe the deprecated form, which is gone
    runtimes[name] = legacy
    result.add(
        "converted",
        key,
        f"plugins.{cr.CRI_RUNTIME}.containerd.runtimes.{name}",
        "containerd's own migrate keeps it as it is, and 2.x then ignores it",
    )
    if name == "default":
        put(containerd, "default_runtime_name", "default")
        result.add(
            "converted",
            key,
            'default_runtime_name = "default"',
            "containerd 1.x made it the default runtime",
        )


def _modernise_runtime(
    runtime: Table, key: str, legacy: dict[str, Any], result: MigrationResult
) -> None:
    runtime_type = str(plain(runtime.get("runtime_type", "")))
    options = ensure_table(runtime, ("options",)) if runtime_type in _OLD_SHIMS else None
    if options is not None:
        put(runtime, "runtime_type", RUNC_SHIM)
        result.add(
            "converted",
            f"{key}.runtime_type",
            RUNC_SHIM,
            f"{runtime_type} was removed in containerd 2.0",
        )
        _carry(options, "SystemdCgroup", legacy["systemd_cgroup"] and runtime_type == V1_LINUX)
        _carry(options, "NoPivotRoot", legacy["no_pivot"] and runtime_type == V1_LINUX)
    for old, new, fallback in (
        ("runtime_engine", "BinaryName", legacy["binary"]),
        ("runtime_root", "Root", legacy["root"]),
    ):
        written = plain(drop(runtime, old)) if old in runtime else ""
        value = written or (fallback if runtime_type == V1_LINUX else "")
        if options is not None and value and value != "runc":
            _carry(options, new, value)
            origin = f"{key}.{old}" if written else f"plugins.{V1_LINUX}"
            result.add("converted", origin, f"{key}.options.{new}")
        elif written:
            result.add("removed", f"{key}.{old}", None, "removed in containerd 2.0")
    options_table = runtime.get("options")
    if isinstance(options_table, Table) and "CriuPath" in options_table:
        drop(options_table, "CriuPath")
        result.add(
            "removed",
            f"{key}.options.CriuPath",
            None,
            "removed in containerd 2.0; put criu in PATH",
        )
    if "sandbox_mode" in runtime and "sandboxer" not in runtime:
        put(runtime, "sandboxer", plain(drop(runtime, "sandbox_mode")))
        result.add("renamed", f"{key}.sandbox_mode", f"{key}.sandboxer")


def _carry(options: Table, key: str, value: Any) -> None:
    if value and key not in options:
        put(options, key, value)
