"""Which cgroup a container's conmon goes into (the handler's monitor_cgroup), remembered in
the bundle so that RemoveContainer removes that cgroup even after a SIGHUP or a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from crio_py.backends import monitor_cgroup
from crio_py.backends.conmon import ConmonOptions
from crio_py.fsutil import atomic_write_text

CGROUP_FILE = "monitor-cgroup"


def placed(options: ConmonOptions, handler_cgroup: str, spec: dict[str, object]) -> ConmonOptions:
    """`options` with conmon's cgroup for this container's spec, recorded in its bundle."""
    linux = spec.get("linux")
    cgroups_path = str(linux.get("cgroupsPath", "")) if isinstance(linux, dict) else ""
    path = monitor_cgroup.monitor_cgroup_path(handler_cgroup, cgroups_path, options.container_id)
    if path:
        atomic_write_text(options.bundle_dir / CGROUP_FILE, path)
    return dataclasses.replace(options, monitor_cgroup=path)


async def remove(bundle_dir: Path) -> None:
    """Remove the cgroup conmon of this bundle was placed in, if any."""
    try:
        path = (bundle_dir / CGROUP_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return
    if path:
        await monitor_cgroup.remove(path)
