"""Docker's daemon.json → a containerd version 3 config or a CRI-O drop-in.

What a node running Docker (with cri-dockerd or dockershim) configured for its containers is
carried where the CRI runtime has it; engine settings with no CRI meaning (bridge networking,
swarm, the API socket) are named in the report with what to do instead. Registry mirrors and
insecure registries become hosts.toml files (containerd) or a registries.conf snippet (CRI-O).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.cri import RUNC_SHIM
from crio_py.config.diagnostics import Severity, sort_key
from crio_py.config.docker.jsonpos import parse
from crio_py.config.docker.lint import lint_daemon_json
from crio_py.config.migrate.docker_common import (
    STORAGE_DRIVERS,
    cgroup_driver,
    log_size,
    nested,
    other_exec_opts,
    pruned,
    reason_for,
)
from crio_py.config.migrate.docker_to_crio import ToCrio
from crio_py.config.migrate.hosts import DEFAULT_HOSTS_DIR, hosts_files
from crio_py.config.migrate.report import MigrationResult
from crio_py.errors import ConfigReadError

TARGETS = ("containerd-v3", "crio-dropin")
_RUNTIME = ("plugins", cr.CRI_RUNTIME, "containerd")
_IMAGES = ("plugins", cr.CRI_IMAGES)


def migrate_daemon_json(path: Path, text: str, to: str, hosts_dir: str | None) -> MigrationResult:
    """Convert daemon.json; ConfigReadError when it has errors or the target is not supported."""
    if to not in TARGETS:
        raise ConfigReadError(f"Docker's daemon.json migrates to {' or '.join(TARGETS)}, not {to}")
    found = sorted(lint_daemon_json(path, text), key=sort_key)
    errors = [d for d in found if d.severity is Severity.ERROR]
    if errors:
        raise ConfigReadError(f"{path}: dockerd would refuse this file; fix it first", errors)
    data: dict[str, Any] = parse(text).data
    result = MigrationResult("docker", to, "")
    out: dict[str, Any] = {"version": 3} if to == "containerd-v3" else {}
    convert = _Containerd(data, result, out, hosts_dir) if to == "containerd-v3" else None
    if convert is not None:
        convert.run()
    else:
        ToCrio(data, result, out).run()
    handled = _HANDLED_CONTAINERD if convert is not None else _HANDLED_CRIO
    for key in data:
        if key not in handled:
            result.add("not-carried", key, None, reason_for(key, data[key]))
    header = f"# Converted from {path} by `crio-py config migrate`; see its report.\n"
    result.text = header + tomlkit.dumps(pruned(out))
    return result


class _Containerd:
    def __init__(
        self, data: dict[str, Any], result: MigrationResult, out: dict[str, Any], hosts: str | None
    ) -> None:
        self.data, self.result, self.out, self.hosts_dir = data, result, out, hosts

    def run(self) -> None:
        if "data-root" in self.data:
            root = f"{self.data['data-root'].rstrip('/')}/containerd"
            self.out["root"] = root
            self.result.add(
                "converted",
                "data-root",
                f"root = {root!r}",
                "a directory of its own on the same disk; Docker's images and "
                "containers are not reused (pull them again)",
            )
        self.images()
        self.runtimes()
        self.registries()
        other_exec_opts(self.data, self.result)
        log_size(self.data, self.result)

    def images(self) -> None:
        driver = self.data.get("storage-driver")
        if driver in STORAGE_DRIVERS:
            snapshotter = STORAGE_DRIVERS[driver][0]
            nested(self.out, _IMAGES)["snapshotter"] = snapshotter
            self.result.add(
                "converted", "storage-driver", f"plugins.{cr.CRI_IMAGES}.snapshotter", snapshotter
            )
        if "max-concurrent-downloads" in self.data:
            nested(self.out, _IMAGES)["max_concurrent_downloads"] = self.data[
                "max-concurrent-downloads"
            ]
            self.result.add(
                "moved",
                "max-concurrent-downloads",
                f"plugins.{cr.CRI_IMAGES}.max_concurrent_downloads",
            )

    def runtimes(self) -> None:
        systemd = cgroup_driver(self.data) == "systemd"
        runtimes: dict[str, Any] = dict(self.data.get("runtimes", {}))
        default = self.data.get("default-runtime", "runc")
        if systemd and "runc" not in runtimes:
            runtimes = {"runc": {}, **runtimes}
        table = nested(self.out, _RUNTIME)
        if default != "runc":
            table["default_runtime_name"] = default
            self.result.add(
                "moved",
                "default-runtime",
                f"plugins.{cr.CRI_RUNTIME}.containerd.default_runtime_name",
            )
        for name, runtime in runtimes.items():
            nested(table, ("runtimes",))[name] = self.runtime(name, runtime, systemd)
        if systemd:
            self.result.add(
                "converted",
                "exec-opts native.cgroupdriver=systemd",
                "options.SystemdCgroup = true of every runc runtime",
                "the kubelet's cgroupDriver must be systemd too",
            )

    def runtime(self, name: str, runtime: dict[str, Any], systemd: bool) -> dict[str, Any]:
        runtime_type = runtime.get("runtimeType", RUNC_SHIM)
        options: dict[str, Any] = dict(runtime.get("options", {}))
        if runtime.get("path"):
            options["BinaryName"] = runtime["path"]
            self.result.add(
                "converted", f"runtimes.{name}.path", f"runtimes.{name}.options.BinaryName"
            )
        if systemd and runtime_type == RUNC_SHIM:
            options["SystemdCgroup"] = True
        if runtime.get("runtimeArgs"):
            self.result.add(
                "not-carried",
                f"runtimes.{name}.runtimeArgs",
                None,
                "the runc shim passes no extra arguments; put them in a wrapper "
                "script named by BinaryName",
            )
        entry: dict[str, Any] = {"runtime_type": runtime_type}
        if options:
            entry["options"] = options
        return entry

    def registries(self) -> None:
        mirrors = {"docker.io": {"endpoint": self.data.get("registry-mirrors", [])}}
        if not mirrors["docker.io"]["endpoint"]:
            mirrors = {}
        insecure = [h for h in self.data.get("insecure-registries", []) if "/" not in h]
        files = hosts_files(mirrors, {})
        for host in insecure:
            files[f"{_dir_name(host)}/hosts.toml"] = _insecure_hosts(host)
            self.result.add(
                "converted",
                f"insecure-registries {host}",
                f"{_dir_name(host)}/hosts.toml",
                "HTTPS without verification, then plain HTTP, as dockerd tried",
            )
        for cidr in (h for h in self.data.get("insecure-registries", []) if "/" in h):
            self.result.add(
                "not-carried",
                f"insecure-registries {cidr}",
                None,
                "hosts.toml names hosts, not address ranges: add one per registry",
            )
        if "registry-mirrors" in self.data:
            self.result.add(
                "converted",
                "registry-mirrors",
                "docker.io/hosts.toml",
                "dockerd used them for Docker Hub only; so does this file",
            )
        if not files:
            return
        self.result.hosts_dir = self.hosts_dir or DEFAULT_HOSTS_DIR
        self.result.hosts_files.update(files)
        nested(self.out, (*_IMAGES, "registry"))["config_path"] = self.result.hosts_dir


def _dir_name(host: str) -> str:
    if ":" in host:
        name, _, port = host.rpartition(":")
        return f"{name}_{port}_"
    return host


def _insecure_hosts(host: str) -> str:
    both = ["pull", "resolve", "push"]
    document = {
        "server": f"https://{host}",
        "host": {
            f"https://{host}": {"capabilities": both, "skip_verify": True},
            f"http://{host}": {"capabilities": both},
        },
    }
    return tomlkit.dumps(document)


_COMMON = {
    "data-root",
    "storage-driver",
    "exec-opts",
    "log-opts",
    "default-runtime",
    "runtimes",
    "registry-mirrors",
    "insecure-registries",
    "max-concurrent-downloads",
}
_HANDLED_CONTAINERD = _COMMON
_HANDLED_CRIO = _COMMON | {"default-ulimits"}
