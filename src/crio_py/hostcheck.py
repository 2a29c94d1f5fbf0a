"""`config lint --host`: checks of the settings against this machine (it runs binaries, so it
sits above config/ and backends/, and the command line hands it to lint).

Runtime binaries and conmon exist and answer `--version`; the CNI bin dirs hold every plugin the
first conflists name; the cgroup driver fits the host (systemd running or not); the root and
state dirs are writable. Like CRI-O's `Validate(onExecution=true)`, these run only on request.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from crio_py.backends import _exec
from crio_py.config.diagnostics import Diagnostic, Severity, make
from crio_py.config.model import RuntimeSettings
from crio_py.config.source import Source
from crio_py.errors import CommandError

SYSTEMD_RUN_DIR = Path("/run/systemd/system")
CGROUP_ROOT = Path("/sys/fs/cgroup")
VERSION_TIMEOUT_S = 10.0


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


def check_host(
    settings: RuntimeSettings, sources: Sequence[Source], host: Host | None = None
) -> list[Diagnostic]:
    """Every host diagnostic for these settings."""
    host = host or Host.detect()
    file = sources[0].path if sources else ""
    found = [
        *_check_runtimes(settings, host),
        *_check_cni(settings),
        *_check_cgroup_driver(settings, host),
        *_check_dirs(settings),
    ]
    return [
        make(code, message, file=file, severity=severity, hint=hint)
        for code, message, severity, hint in found
    ]


Finding = tuple[str, str, Severity | None, str | None]


def _check_runtimes(settings: RuntimeSettings, host: Host) -> Iterator[Finding]:
    monitors: set[str] = set()
    for name, handler in settings.runtimes.items():
        if handler.kind != "oci":
            continue
        severity = None if name == settings.default_runtime else Severity.WARNING
        yield from _check_binary(handler.binary, f'runtime handler "{name}"', host, severity)
        monitors.add(handler.monitor_path)
    for monitor in sorted(monitors):
        yield from _check_binary(monitor, "the container monitor", host, None)


def _check_binary(
    binary: str, role: str, host: Host, severity: Severity | None
) -> Iterator[Finding]:
    resolved = binary if "/" in binary else shutil.which(binary, path=host.path)
    if resolved is None or not os.access(resolved, os.X_OK):
        yield (
            "host-binary-missing",
            f"{role}: `{binary}` is not an executable on this host",
            severity,
            "install it, or point the config at its absolute path",
        )
        return
    try:
        asyncio.run(_exec.run([resolved, "--version"], timeout_s=VERSION_TIMEOUT_S))
    except CommandError as exc:
        yield ("host-binary-broken", f"{role}: {exc}", severity, None)


def _check_cni(settings: RuntimeSettings) -> Iterator[Finding]:
    conf_dir = settings.cni.conf_dir
    conflists = (
        sorted(p for p in conf_dir.glob("*") if p.suffix in (".conflist", ".conf", ".json"))
        if conf_dir.is_dir()
        else []
    )
    if not conflists:
        yield (
            "host-cni-config-missing",
            f"no CNI network configuration in {conf_dir}; pods "
            "cannot get a network until one appears",
            None,
            None,
        )
        return
    for conflist in conflists[: max(settings.cni.max_conf_num, 1)]:
        for plugin in _plugin_types(conflist):
            if not any((d / plugin).is_file() for d in settings.cni.bin_dirs):
                dirs = ", ".join(str(d) for d in settings.cni.bin_dirs)
                yield (
                    "host-cni-plugin-missing",
                    f'{conflist.name} uses the CNI plugin "{plugin}", which is in none of: {dirs}',
                    None,
                    "install containernetworking-plugins or add its directory to the bin dirs",
                )


def _plugin_types(conflist: Path) -> list[str]:
    try:
        data = json.loads(conflist.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    plugins = data.get("plugins", [data]) if isinstance(data, dict) else []
    return [p["type"] for p in plugins if isinstance(p, dict) and isinstance(p.get("type"), str)]


def _check_cgroup_driver(settings: RuntimeSettings, host: Host) -> Iterator[Finding]:
    drivers = {h.cgroup_driver for h in settings.runtimes.values() if h.kind == "oci"}
    if "systemd" in drivers and not host.systemd_running:
        yield (
            "host-cgroup-driver",
            "the systemd cgroup driver is configured, but systemd is "
            "not running on this host, so no container can start",
            None,
            'use the cgroupfs driver (SystemdCgroup = false / cgroup_manager = "cgroupfs")',
        )


def _check_dirs(settings: RuntimeSettings) -> Iterator[Finding]:
    for role, directory in (("root", settings.root_dir), ("state", settings.state_dir)):
        existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
        if existing is None or not os.access(existing, os.W_OK):
            yield (
                "host-dir-not-writable",
                f"the {role} directory {directory} cannot be created or written",
                None,
                None,
            )
