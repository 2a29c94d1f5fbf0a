"""Where a setting of RuntimeSettings was written, for diagnostics about the settings.

Host checks speak of settings ("the binary of runtime handler runc", "the CNI conf dir");
this module turns such a setting into the file, line, column and key that configured it, in
either format. A setting nobody wrote points at the top of the main file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crio_py.config.containerd import rules as cr
from crio_py.config.containerd.view import config_version
from crio_py.config.locate import Reporter
from crio_py.config.rules import newest
from crio_py.config.source import KeyPath, Source
from crio_py.config.walk import dotted

Setting = tuple[str, ...]


@dataclass(frozen=True)
class Location:
    """A place in a config file."""

    file: str
    line: int
    column: int
    key: str


Locator = Callable[[Setting], Location]


def locator(kind: str, sources: Sequence[Source]) -> Locator:
    """A function from a setting to where it was configured."""
    candidates = _crio_paths if kind == "crio" else _containerd_paths(sources)
    reporter = Reporter(newest("crio" if kind == "crio" else "containerd"), list(sources))

    def locate(setting: Setting) -> Location:
        paths = candidates(setting)
        path = next((p for p in paths if reporter.has(p)), paths[-1] if paths else ())
        source = reporter.source_of(path) if path else reporter.sources[0]
        line, column = source.position(path) if path else (1, 1)
        return Location(source.path, line, column, dotted(path))

    return locate


def _crio_paths(setting: Setting) -> list[KeyPath]:
    runtime: KeyPath = ("crio", "runtime")
    match setting:
        case ("runtime", name):
            handler = (*runtime, "runtimes", name)
            return [(*handler, "runtime_path"), handler, runtime]
        case ("monitor", name):
            handler = (*runtime, "runtimes", name)
            return [(*runtime, "conmon"), (*handler, "monitor_path"), handler, runtime]
        case ("cgroup_driver", _) | ("cgroup_writable", _):
            return [(*runtime, "cgroup_manager")]
        case ("cni_conf_dir",):
            return [("crio", "network", "network_dir")]
        case ("cni_bin_dirs",):
            return [("crio", "network", "plugin_dirs"), ("crio", "network", "plugin_dir")]
        case ("root",):
            return [("crio", "root")]
        case ("state",):
            return [("crio", "runroot")]
    return []


def _containerd_paths(sources: Sequence[Source]) -> Callable[[Setting], list[KeyPath]]:
    version = config_version(sources[0].data) if sources else 3
    plugin = {1: cr.CRI_V1, 2: cr.CRI_V2}.get(version, cr.CRI_RUNTIME)
    runtimes: KeyPath = ("plugins", plugin, "containerd", "runtimes")

    def paths(setting: Setting) -> list[KeyPath]:
        match setting:
            case ("runtime", name) | ("monitor", name):
                return [(*runtimes, name, "options", "BinaryName"), (*runtimes, name)]
            case ("cgroup_driver", name):
                return [(*runtimes, name, "options", "SystemdCgroup"), (*runtimes, name)]
            case ("cgroup_writable", name):
                return [(*runtimes, name, "cgroup_writable"), (*runtimes, name)]
            case ("cni_conf_dir",):
                return [("plugins", plugin, "cni", "conf_dir")]
            case ("cni_bin_dirs",):
                return [
                    ("plugins", plugin, "cni", "bin_dirs"),
                    ("plugins", plugin, "cni", "bin_dir"),
                ]
            case ("root",):
                return [("root",)]
            case ("state",):
                return [("state",)]
        return []

    return paths
