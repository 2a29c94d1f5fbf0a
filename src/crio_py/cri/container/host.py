"""Facts about this host that the spec builders need, gathered once (`HostFeatures`) or per
request (device nodes, missing bind-mount sources). The only module of the container service
that reads /proc and /sys."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends import mountapi, netns
from crio_py.backends.runc import takes_prepared_mounts
from crio_py.config.model import RuntimeHandler
from crio_py.errors import InvalidArgumentError, quote
from crio_py.ocispec.defaults import ALL_CAPABILITIES
from crio_py.ocispec.request import HostDevice, HostFeatures

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CAP_SYS_RESOURCE = ALL_CAPABILITIES.index("CAP_SYS_RESOURCE")


def probe_host(
    proc_status: Path = Path("/proc/self/status"), scratch_dir: Path | None = None
) -> HostFeatures:
    """What this host and this process can do; the mount probes run in `scratch_dir`."""
    effective, bounding = _capability_masks(proc_status)
    return HostFeatures(
        recursive_read_only_mounts=scratch_dir is not None and mountapi.probe(scratch_dir),
        apparmor=_apparmor_enabled(),
        cgroup_v2=(CGROUP_ROOT / "cgroup.controllers").is_file(),
        swap_controller=(CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists(),
        hugetlb_controller=(CGROUP_ROOT / "hugetlb").is_dir(),
        can_lower_oom_score_adj=bool(effective >> _CAP_SYS_RESOURCE & 1),
        capabilities=tuple(c for i, c in enumerate(ALL_CAPABILITIES) if bounding >> i & 1),
        online_cpus=_read_or_empty(Path("/sys/devices/system/cpu/online")),
        online_mems=_read_or_empty(Path("/sys/devices/system/node/online")),
    )


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


async def probe_host_fully(root_dir: Path, state_dir: Path) -> HostFeatures:
    """`probe_host` with the probe of user namespaces, which needs a child process: the
    kernel must idmap mounts of the root dir's filesystem, and a pod root that is not host
    root must reach the rootfs and files runc mounts from the root and state dirs."""
    features = probe_host(scratch_dir=root_dir)
    closed = [str(d) for d in (root_dir, state_dir) if not searchable_by_others(d)]
    if closed:
        logger.info(
            "No user namespaces: the parents of %s are not searchable by other users",
            ", ".join(closed),
        )
        return features
    userns = await netns.probe_idmap(root_dir)
    return dataclasses.replace(features, user_namespaces=userns)


def searchable_by_others(directory: Path) -> bool:
    """Whether every directory above `directory` lets any user pass (the x bit for others)."""
    return all(
        os.stat(parent).st_mode & stat.S_IXOTH for parent in directory.parents if parent.exists()
    )


@dataclass(frozen=True)
class HandlerFeatures:
    """What Status advertises for a runtime handler, and CreateContainer relies on."""

    recursive_read_only_mounts: bool
    user_namespaces: bool


def handler_features(handler: RuntimeHandler, features: HostFeatures) -> HandlerFeatures:
    """The host's mount features, where the handler's runtime can use them."""
    takes = handler.kind == "oci" and takes_prepared_mounts(handler)
    return HandlerFeatures(
        recursive_read_only_mounts=takes and features.recursive_read_only_mounts,
        user_namespaces=takes and features.user_namespaces,
    )


def _capability_masks(proc_status: Path) -> tuple[int, int]:
    fields = {}
    for line in proc_status.read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields.get("CapEff", "0"), 16), int(fields.get("CapBnd", "0"), 16)


def _apparmor_enabled() -> bool:
    try:
        enabled = Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
    except OSError:
        return False
    return enabled and shutil.which("apparmor_parser") is not None


def daemon_oom_score_adj() -> int:
    """This process's oom_score_adj (no container may get less when the host forbids it)."""
    try:
        return int(Path("/proc/self/oom_score_adj").read_text().strip())
    except (OSError, ValueError):
        return 0


def host_device(path: str) -> HostDevice | None:
    """The device node at `path`, or None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if stat.S_ISCHR(info.st_mode):
        kind = "c"
    elif stat.S_ISBLK(info.st_mode):
        kind = "b"
    else:
        return None
    return HostDevice(
        path=path,
        type=kind,  # type: ignore[arg-type]
        major=os.major(info.st_rdev),
        minor=os.minor(info.st_rdev),
        file_mode=stat.S_IMODE(info.st_mode),
        uid=info.st_uid,
        gid=info.st_gid,
    )


def host_devices(devices: Iterable[api_pb2.Device], *, all_of_dev: bool) -> dict[str, HostDevice]:
    """The host devices a container asks for, and every node under /dev when privileged."""
    found: dict[str, HostDevice] = {}
    for device in devices:
        node = host_device(device.host_path)
        if node is None:
            raise InvalidArgumentError(
                f"device {quote(device.host_path)} is not a device on the host"
            )
        found[device.host_path] = node
    if all_of_dev:
        for directory, _, names in os.walk("/dev"):
            if directory.startswith(("/dev/pts", "/dev/mqueue", "/dev/shm")):
                continue
            for name in names:
                path = os.path.join(directory, name)
                node = host_device(path)
                if node is not None and name != "console":
                    found.setdefault(path, node)
    return found


def ensure_mount_sources(mounts: Iterable[api_pb2.Mount]) -> None:
    """Create a missing bind-mount source as a directory (containerd's and CRI-O's
    behaviour); a relative source is refused."""
    for mount in mounts:
        source, where = mount.host_path, quote(mount.container_path)
        if not source or not os.path.isabs(source):
            raise InvalidArgumentError(
                f"mount {where}: host_path {quote(source)} is not an absolute path"
            )
        if not os.path.lexists(source):
            try:
                os.makedirs(source, mode=0o755, exist_ok=True)
            except OSError as exc:
                raise InvalidArgumentError(
                    f"mount {where}: cannot create host_path {quote(source)}: {exc.strerror}"
                ) from exc
