"""`config lint --host`: checks of the settings against this machine (it runs binaries, so it
sits above config/ and backends/, and the command line hands it to lint).

Runtime binaries and conmon exist and answer `--version`; the CNI bin dirs hold every plugin the
first conflists name; the cgroup driver fits the host (systemd running or not, cgroup v1 or v2);
the root and state dirs are writable. Like CRI-O's `Validate(onExecution=true)`, these run only
on request.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crio_py.backends import _exec
from crio_py.config.diagnostics import Diagnostic, Severity, make
from crio_py.config.lint.provenance import Locator, Setting
from crio_py.config.model import RuntimeSettings
from crio_py.errors import CommandError

SYSTEMD_RUN_DIR = Path("/run/systemd/system")
CGROUP_ROOT = Path("/sys/fs/cgroup")
VERSION_TIMEOUT_S = 10.0
CNI_SUFFIXES = (".conflist", ".conf", ".json")


@dataclass(frozen=True)
class Host:
    """The facts about this machine that the checks read (tests pass their own)."""

    systemd_running: bool
    cgroup_v2: bool
    path: str

    @classmethod
    def detect(cls) -> Host:
        return cls(
            systemd_running=SYSTEMD_RUN_DIR.is_dir(),
            cgroup_v2=(CGROUP_ROOT / "cgroup.controllers").exists(),
            path=os.environ.get("PATH", os.defpath),
        )


@dataclass(frozen=True)
class Finding:
    """A host problem, tied to the setting that causes it."""

    code: str
    setting: Setting
    message: str
    severity: Severity | None = None
    hint: str | None = None


def check_host(
    settings: RuntimeSettings, locate: Locator, host: Host | None = None
) -> list[Diagnostic]:
    """Every host diagnostic for these settings, at the line that configured each setting."""
    host = host or Host.detect()
    findings = [
        *_check_runtimes(settings, host),
        *_check_cni(settings),
        *_check_cgroups(settings, host),
        *_check_dirs(settings),
    ]
    diagnostics = []
    for finding in findings:
        where = locate(finding.setting)
        diagnostics.append(
            make(
                finding.code,
                finding.message,
                file=where.file,
                line=where.line,
                column=where.column,
                key=where.key,
                severity=finding.severity,
                hint=finding.hint,
            )
        )
    return diagnostics


def _check_runtimes(settings: RuntimeSettings, host: Host) -> Iterator[Finding]:
    checked_monitors: set[str] = set()
    for name, handler in settings.runtimes.items():
        if handler.kind != "oci":
            continue
        severity = None if name == settings.default_runtime else Severity.WARNING
        role = f'runtime handler "{name}"'
        yield from _check_binary(handler.binary, role, ("runtime", name), host, severity)
        if handler.monitor_path not in checked_monitors:
            checked_monitors.add(handler.monitor_path)
            yield from _check_binary(
                handler.monitor_path,
                "the container monitor (conmon)",
                ("monitor", name),
                host,
                None,
            )


def _check_binary(
    binary: str, role: str, setting: Setting, host: Host, severity: Severity | None
) -> Iterator[Finding]:
    resolved = binary if "/" in binary else shutil.which(binary, path=host.path)
    if resolved is None or not os.access(resolved, os.X_OK):
        yield Finding(
            "host-binary-missing",
            setting,
            f"{role}: `{binary}` is not an executable on this host",
            severity,
            "install it, or point the config at its absolute path",
        )
        return
    try:
        asyncio.run(_exec.run([resolved, "--version"], timeout_s=VERSION_TIMEOUT_S))
    except CommandError as exc:
        yield Finding("host-binary-broken", setting, f"{role}: {exc}", severity)


def _check_cni(settings: RuntimeSettings) -> Iterator[Finding]:
    conf_dir = settings.cni.conf_dir
    found = sorted(conf_dir.iterdir()) if conf_dir.is_dir() else []
    conflists = [p for p in found if p.suffix in CNI_SUFFIXES]
    if not conflists:
        yield Finding(
            "host-cni-config-missing",
            ("cni_conf_dir",),
            f"no CNI network configuration in {conf_dir}; pods cannot get a network "
            "until one appears",
        )
        return
    dirs = settings.cni.bin_dirs
    for conflist in conflists[: max(settings.cni.max_conf_num, 1)]:
        for plugin in _plugin_types(conflist):
            if not any((d / plugin).is_file() for d in dirs):
                yield Finding(
                    "host-cni-plugin-missing",
                    ("cni_bin_dirs",),
                    f'{conflist.name} uses the CNI plugin "{plugin}", which is in none '
                    f"of: {', '.join(str(d) for d in dirs)}",
                    None,
                    "install containernetworking-plugins or add its directory",
                )


def _plugin_types(conflist: Path) -> list[str]:
    try:
        data = json.loads(conflist.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    plugins = data.get("plugins", [data]) if isinstance(data, dict) else []
    return [p["type"] for p in plugins if isinstance(p, dict) and isinstance(p.get("type"), str)]


def _check_cgroups(settings: RuntimeSettings, host: Host) -> Iterator[Finding]:
    oci = {name: h for name, h in settings.runtimes.items() if h.kind == "oci"}
    systemd = [name for name, h in oci.items() if h.cgroup_driver == "systemd"]
    if systemd and not host.systemd_running:
        names = ", ".join(f'"{name}"' for name in systemd)
        yield Finding(
            "host-cgroup-driver",
            ("cgroup_driver", systemd[0]),
            f"the systemd cgroup driver is configured (runtime handlers {names}), but "
            "systemd is not running on this host, so those containers cannot start",
            None,
            'use the cgroupfs driver (SystemdCgroup = false / cgroup_manager = "cgroupfs")',
        )
    for name, handler in oci.items():
        if handler.cgroup_writable and not host.cgroup_v2:
            yield Finding(
                "host-cgroup-driver",
                ("cgroup_writable", name),
                f'runtime handler "{name}" sets cgroup_writable, which needs cgroup '
                "v2; this host runs cgroup v1",
            )


def _check_dirs(settings: RuntimeSettings) -> Iterator[Finding]:
    for role, directory in (("root", settings.root_dir), ("state", settings.state_dir)):
        existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
        if existing is None or not os.access(existing, os.W_OK):
            yield Finding(
                "host-dir-not-writable",
                (role,),
                f"the {role} directory {directory} cannot be created or written",
            )
