"""crio-py's default configuration in each format, rendered from the models.

The defaults are the models' own (upstream's), overlaid with what crio-py needs to run beside
containerd or CRI-O on the same node: its own root, state and socket, the Debian CNI plugin
directory, and the cgroupfs driver. Keys the target release deprecates, removed or does not have
yet are left out, so the output lints clean; every other key is written with its description.
"""

from __future__ import annotations

from typing import Any

import tomlkit
from pydantic import BaseModel
from tomlkit.items import Table as TomlTable

from crio_py.config.containerd.models import MODELS
from crio_py.config.containerd.rules import KEY_RULES as CONTAINERD_RULES
from crio_py.config.crio.models import CrioConfig
from crio_py.config.crio.rules import KEY_RULES as CRIO_RULES
from crio_py.config.introspect import child_of
from crio_py.config.rules import KeyRule, Target, find_rule, newest

ROOT_DIR = "/var/lib/crio-py"
STATE_DIR = "/run/crio-py"
SOCKET = f"{STATE_DIR}/crio-py.sock"
CNI_BIN_DIRS = ["/usr/lib/cni", "/opt/cni/bin"]

# The newest release that reads each containerd config version natively.
CONTAINERD_TARGET = {
    2: Target("containerd", (1, 7)),
    3: Target("containerd", (2, 2)),
    4: Target("containerd", (2, 3)),
}

_CRI_PLUGINS_V2 = ("io.containerd.grpc.v1.cri",)
_CRI_PLUGINS_V3 = (
    "io.containerd.cri.v1.runtime",
    "io.containerd.cri.v1.images",
    "io.containerd.grpc.v1.cri",
)
_SHOWN_PLUGINS = ("io.containerd.gc.v1.scheduler", "io.containerd.snapshotter.v1.overlayfs")
_SERVER_PLUGINS = (
    "io.containerd.server.v1.grpc",
    "io.containerd.server.v1.ttrpc",
    "io.containerd.server.v1.metrics",
)
# Deprecated inline registry tables: the defaults use config_path instead.
_SKIPPED_KEYS = {"mirrors", "configs", "auths", "default_runtime", "untrusted_workload_runtime"}


def _runc(systemd: bool = False) -> dict[str, Any]:
    return {
        "runtime_type": "io.containerd.runc.v2",
        "options": {"BinaryName": "runc", "Root": f"{STATE_DIR}/runc", "SystemdCgroup": systemd},
    }


def containerd_overrides(version: int) -> dict[str, Any]:
    """What crio-py's default containerd-format config sets beyond upstream's defaults."""
    runtimes = {"default_runtime_name": "runc", "runtimes": {"runc": _runc()}}
    data: dict[str, Any] = {"version": version, "root": ROOT_DIR, "state": STATE_DIR}
    if version == 2:
        data["grpc"] = {"address": SOCKET}
        data["plugins"] = {
            "io.containerd.grpc.v1.cri": {
                "containerd": runtimes,
                "cni": {"bin_dir": CNI_BIN_DIRS[0]},
                "registry": {"config_path": "/etc/containerd/certs.d:/etc/docker/certs.d"},
            }
        }
        return data
    plugins: dict[str, Any] = {
        "io.containerd.cri.v1.runtime": {"containerd": runtimes, "cni": {"bin_dirs": CNI_BIN_DIRS}},
        "io.containerd.cri.v1.images": {
            "registry": {"config_path": "/etc/containerd/certs.d:/etc/docker/certs.d"}
        },
    }
    if version == 4:
        plugins["io.containerd.server.v1.grpc"] = {"address": SOCKET}
    else:
        data["grpc"] = {"address": SOCKET}
    data["plugins"] = plugins
    return data


def crio_overrides() -> dict[str, Any]:
    """What crio-py's default CRI-O-format config sets beyond CRI-O's defaults."""
    return {
        "crio": {
            "root": ROOT_DIR,
            "runroot": STATE_DIR,
            "api": {"listen": SOCKET},
            "runtime": {
                "default_runtime": "runc",
                "cgroup_manager": "cgroupfs",
                "container_exits_dir": f"{STATE_DIR}/exits",
                "container_attach_socket_dir": STATE_DIR,
                "namespaces_dir": f"{STATE_DIR}/ns",
                "runtimes": {
                    "runc": {
                        "runtime_path": "",
                        "runtime_type": "oci",
                        "runtime_root": f"{STATE_DIR}/runc",
                        "monitor_cgroup": "pod",
                    },
                    "crun": {
                        "runtime_path": "",
                        "runtime_type": "oci",
                        "runtime_root": f"{STATE_DIR}/crun",
                        "monitor_cgroup": "pod",
                    },
                },
            },
            "network": {"plugin_dirs": CNI_BIN_DIRS},
        }
    }


def default_text(kind: str, version: int = 3) -> str:
    """The commented default configuration of a format."""
    plugins: tuple[str, ...] = ()
    if kind == "crio":
        model: BaseModel = CrioConfig.model_validate(crio_overrides())
        rules, target = CRIO_RULES, newest("crio")
        header = "# crio-py default configuration in CRI-O format (crio.conf).\n"
    else:
        model = MODELS[version].model_validate(containerd_overrides(version))
        rules, target = CONTAINERD_RULES[version], CONTAINERD_TARGET[version]
        plugins = (_CRI_PLUGINS_V2 if version == 2 else _CRI_PLUGINS_V3) + _SHOWN_PLUGINS
        if version == 4:
            plugins += _SERVER_PLUGINS
        header = (
            f"# crio-py default configuration in containerd format, config version "
            f"{version} ({target.label} reads it as it is).\n"
        )
    document = tomlkit.document()
    renderer = _Renderer(rules, target, plugins)
    renderer.fill(document, model, ())
    return (
        header
        + "# Generated by `crio-py config default`; edit what you need.\n\n"
        + tomlkit.dumps(document)
    )


class _Renderer:
    def __init__(self, rules: list[KeyRule], target: Target, plugins: tuple[str, ...]) -> None:
        self.rules = rules
        self.target = target
        self.plugins = plugins

    def skip(self, path: tuple[str, ...], value: Any) -> bool:
        if value is None or path[-1] in _SKIPPED_KEYS:
            return True
        rule = find_rule(self.rules, path)
        if rule is None:
            return False
        version = self.target.version
        return bool(
            (rule.added and version < rule.added)
            or (rule.deprecated and version >= rule.deprecated)
            or (rule.removed and version >= rule.removed)
        )

    def fill(self, table: Any, model: BaseModel, path: tuple[str, ...]) -> None:
        scalars: list[tuple[str, Any, str | None]] = []
        tables: list[tuple[str, Any]] = []
        for name, info in type(model).model_fields.items():
            key = info.alias or name
            value = getattr(model, name)
            if path == ("plugins",):
                if key not in self.plugins:
                    continue
                _, plugin_model = child_of(info.annotation)
                if value is None and plugin_model is not None:
                    value = plugin_model()
            if self.skip((*path, key), value) or value == {}:
                continue
            if isinstance(value, BaseModel | dict):
                tables.append((key, value))
            else:
                scalars.append((key, value, info.description))
        scalars.sort(key=lambda item: item[0] != "version")
        for key, value, description in scalars:
            if description:
                table.add(tomlkit.comment(f"{key}: {description}"))
            table.add(key, value)
        for key, value in tables:
            table.add(key, self.subtable((*path, key), value))

    def subtable(self, path: tuple[str, ...], value: Any) -> TomlTable:
        holds_tables = isinstance(value, dict) and all(
            isinstance(v, BaseModel) for v in value.values()
        )
        sub = tomlkit.table(is_super_table=path == ("plugins",) or holds_tables)
        if isinstance(value, BaseModel):
            self.fill(sub, value, path)
        else:
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    sub.add(key, self.subtable((*path, key), item))
                elif not self.skip((*path, key), item):
                    sub.add(key, item)
        return sub
