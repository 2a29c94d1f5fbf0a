"""Docker's daemon.json → a CRI-O drop-in (the registries as a registries.conf snippet)."""

from __future__ import annotations

import shutil
from typing import Any

import tomlkit

from crio_py.config.migrate.docker_common import (
    STORAGE_DRIVERS,
    cgroup_driver,
    log_size,
    nested,
    other_exec_opts,
)
from crio_py.config.migrate.report import MigrationResult


class ToCrio:
    def __init__(self, data: dict[str, Any], result: MigrationResult, out: dict[str, Any]) -> None:
        self.data, self.result, self.out = data, result, out

    def run(self) -> None:
        crio = nested(self.out, ("crio",))
        if "data-root" in self.data:
            crio["root"] = f"{self.data['data-root'].rstrip('/')}/containers/storage"
            self.result.add(
                "converted",
                "data-root",
                f"crio.root = {crio['root']!r}",
                "containers/storage of its own on the same disk; Docker's images are not reused",
            )
        driver = self.data.get("storage-driver")
        if driver in STORAGE_DRIVERS:
            crio["storage_driver"] = STORAGE_DRIVERS[driver][1]
            self.result.add("converted", "storage-driver", "crio.storage_driver")
        self.runtime_table()
        self.registries()
        other_exec_opts(self.data, self.result)
        log_size(self.data, self.result)
        if not crio:
            del self.out["crio"]

    def runtime_table(self) -> None:
        table: dict[str, Any] = {}
        driver = cgroup_driver(self.data)
        if driver:
            table["cgroup_manager"] = driver
            self.result.add(
                "converted",
                f"exec-opts native.cgroupdriver={driver}",
                "crio.runtime.cgroup_manager",
                f"the kubelet's cgroupDriver must be {driver} too",
            )
        ulimits = [
            f"{name}={limit.get('Soft', limit.get('Hard'))}:{limit.get('Hard', limit.get('Soft'))}"
            for name, limit in self.data.get("default-ulimits", {}).items()
        ]
        if ulimits:
            table["default_ulimits"] = ulimits
            self.result.add("converted", "default-ulimits", "crio.runtime.default_ulimits")
        if "max-concurrent-downloads" in self.data:
            self.result.add(
                "not-carried",
                "max-concurrent-downloads",
                None,
                "CRI-O pulls each layer as containers/image decides; no limit",
            )
        default = self.data.get("default-runtime")
        if default and default != "runc":
            table["default_runtime"] = default
            self.result.add("moved", "default-runtime", "crio.runtime.default_runtime")
        elif "default-runtime" in self.data or "runtimes" in self.data:
            self.result.add(
                "not-carried",
                "default-runtime",
                None,
                "dockerd ran runc; CRI-O's default handler is its own (crun since "
                "1.31): add a runc handler to keep runc",
            )
        handlers = {
            name: self.handler(name, r) for name, r in self.data.get("runtimes", {}).items()
        }
        if handlers:
            table["runtimes"] = handlers
        if table:
            nested(self.out, ("crio", "runtime")).update(table)

    def handler(self, name: str, runtime: dict[str, Any]) -> dict[str, Any]:
        path = runtime.get("path", "")
        if path and not path.startswith("/"):
            found = shutil.which(path) or f"/usr/bin/{path}"
            self.result.add(
                "converted",
                f"runtimes.{name}.path",
                found,
                "dockerd looked the name up in PATH; CRI-O needs the full path",
            )
            path = found
        handler: dict[str, Any] = {"runtime_path": path, "runtime_type": "oci"}
        if runtime.get("runtimeType"):
            self.result.add(
                "not-carried",
                f"runtimes.{name}.runtimeType",
                None,
                "a containerd shim; CRI-O runs OCI runtimes (or a VM runtime "
                'with runtime_type = "vm")',
            )
        if runtime.get("runtimeArgs"):
            self.result.add(
                "not-carried",
                f"runtimes.{name}.runtimeArgs",
                None,
                "CRI-O passes no extra arguments; use a wrapper script as runtime_path",
            )
        return handler

    def registries(self) -> None:
        entries: list[dict[str, Any]] = []
        mirrors = [_crio_mirror(m) for m in self.data.get("registry-mirrors", [])]
        if mirrors:
            entries.append({"prefix": "docker.io", "location": "docker.io", "mirror": mirrors})
        for host in self.data.get("insecure-registries", []):
            if "/" not in host:
                entries.append({"prefix": host, "location": host, "insecure": True})
        snippet = tomlkit.dumps({"registry": entries}).strip()
        keys = [k for k in ("registry-mirrors", "insecure-registries") if k in self.data]
        if keys:
            self.result.add(
                "not-carried",
                ", ".join(keys),
                None,
                "CRI-O reads registries from containers-registries.conf(5); add "
                f"this to a file in /etc/containers/registries.conf.d/:\n{snippet}",
            )
        for cidr in (h for h in self.data.get("insecure-registries", []) if "/" in h):
            self.result.add(
                "not-carried",
                f"insecure-registries {cidr}",
                None,
                "registries.conf names hosts, not address ranges",
            )


def _crio_mirror(url: str) -> dict[str, Any]:
    mirror: dict[str, Any] = {"location": url.split("://", 1)[-1].rstrip("/")}
    if url.startswith("http://"):
        mirror["insecure"] = True
    return mirror
