"""The spec's mounts and devices.

Mounts follow containerd's `internal/cri/opts.WithMounts`: default mounts (without those a
CRI or sandbox mount replaces, and without /dev/* when /dev itself is mounted), the cgroup
mount, then the CRI mounts and the sandbox's files, sorted by depth so that no mount hides a
deeper one. Host paths are taken as given: creating missing ones, resolving symlinks, checking
the propagation of the host mount and SELinux relabelling belong to the caller.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cri_api.v1 import api_pb2

from crio_py.errors import InvalidArgumentError, UnimplementedError, quote
from crio_py.ocispec.defaults import DEFAULT_MOUNTS, READ_ONLY_TMPFS, READ_ONLY_TMPFS_OPTIONS
from crio_py.ocispec.request import HostDevice

_PROPAGATION = {
    api_pb2.PROPAGATION_PRIVATE: "rprivate",
    api_pb2.PROPAGATION_HOST_TO_CONTAINER: "rslave",
    api_pb2.PROPAGATION_BIDIRECTIONAL: "rshared",
}
_ACCESS = re.compile(r"^[rwm]{1,3}$")
DEV_SHM = "/dev/shm"


@dataclass(frozen=True)
class MountPlan:
    """The spec's mounts and the rootfs propagation they need ("" for runc's default)."""

    mounts: list[dict[str, object]]
    rootfs_propagation: str


def _mount(dest: str, kind: str, source: str, options: Iterable[str]) -> dict[str, object]:
    return {"destination": dest, "type": kind, "source": source, "options": list(options)}


def _absolute(path: str, what: str) -> str:
    if not path.startswith("/"):
        raise InvalidArgumentError(f"{what} {quote(path)} is not an absolute path")
    return posixpath.normpath(path)


def bind_mount(mount: api_pb2.Mount) -> dict[str, object]:
    """One CRI mount as a bind mount: rbind, its propagation, then ro or rw. Image volumes and
    recursive read-only mounts are prepared on the host first (cri/container/volumes.py) and
    reach this as plain binds of what was prepared."""
    dest = _absolute(mount.container_path, "mount container_path")
    if not mount.host_path:
        if mount.HasField("image"):
            raise UnimplementedError(f"image volume {dest} was not prepared for the spec")
        raise InvalidArgumentError(f"mount {dest} has no host_path")
    if mount.recursive_read_only:
        raise UnimplementedError(f"recursive read-only mount {dest} was not prepared for the spec")
    source = _absolute(mount.host_path, "mount host_path")
    options = ["rbind", _PROPAGATION.get(mount.propagation, "rprivate")]
    options.append("ro" if mount.readonly else "rw")
    # selinux_relabel needs the sandbox's mount label and a chcon on the host: the caller's job.
    return _mount(dest, "bind", source, options)


def sandbox_file_mounts(
    files: Mapping[str, str], *, readonly_rootfs: bool, host_ipc: bool
) -> list[api_pb2.Mount]:
    """The sandbox's /etc/hosts, /etc/resolv.conf, /etc/hostname (read-only with a read-only
    rootfs, as containerd does) and /dev/shm (the host's with host IPC)."""
    mounts = []
    for dest, source in sorted(files.items()):
        shm = dest == DEV_SHM
        mounts.append(
            api_pb2.Mount(
                container_path=dest,
                host_path=DEV_SHM if shm and host_ipc else source,
                readonly=readonly_rootfs and not shm,
            )
        )
    return mounts


def container_mounts(
    cri: Sequence[api_pb2.Mount],
    extra: Sequence[api_pb2.Mount],
    *,
    privileged: bool,
    read_only_tmpfs: bool,
    cgroup_writable: bool,
) -> MountPlan:
    """All mounts of a container spec, in order, and the rootfs propagation."""
    cri_dests = {_absolute(m.container_path, "mount container_path") for m in cri}
    chosen = list(cri) + [m for m in extra if posixpath.normpath(m.container_path) not in cri_dests]
    chosen.sort(key=lambda m: posixpath.normpath(m.container_path).count("/"))
    taken = {posixpath.normpath(m.container_path) for m in chosen}
    writable = "rw" if privileged else "ro"
    defaults = [_mount(d, t, s, _rw(o, privileged)) for d, t, s, o in DEFAULT_MOUNTS]
    defaults.append(
        _mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            ("nosuid", "noexec", "nodev", "relatime", "rw" if cgroup_writable else writable),
        )
    )
    if read_only_tmpfs:
        defaults += [
            _mount(d, "tmpfs", "tmpfs", (*READ_ONLY_TMPFS_OPTIONS, mode))
            for d, mode in READ_ONLY_TMPFS
        ]
    kept = [m for m in defaults if not _replaced(str(m["destination"]), taken)]
    binds = [bind_mount(m) for m in chosen]
    return MountPlan(kept + binds, _rootfs_propagation(chosen))


def _rw(options: Sequence[str], privileged: bool) -> list[str]:
    """A privileged container gets a writable sysfs (containerd's WithWriteableSysfs)."""
    return ["rw" if privileged and o == "ro" else o for o in options]


def _replaced(dest: str, taken: set[str]) -> bool:
    return dest in taken or ("/dev" in taken and dest.startswith("/dev/"))


def _rootfs_propagation(mounts: Iterable[api_pb2.Mount]) -> str:
    modes = {m.propagation for m in mounts}
    if api_pb2.PROPAGATION_BIDIRECTIONAL in modes:
        return "rshared"
    if api_pb2.PROPAGATION_HOST_TO_CONTAINER in modes:
        return "rslave"
    return ""


@dataclass(frozen=True)
class DevicePlan:
    """linux.devices and the cgroup device rules that go with them."""

    devices: list[dict[str, object]]
    rules: list[dict[str, object]]


def device_json(path: str, dev: HostDevice) -> dict[str, object]:
    """A linux.devices entry for `dev`, created in the container at `path`."""
    return {
        "path": path,
        "type": dev.type,
        "major": dev.major,
        "minor": dev.minor,
        "fileMode": dev.file_mode,
        "uid": dev.uid,
        "gid": dev.gid,
    }


def container_devices(
    devices: Sequence[api_pb2.Device],
    host_devices: Mapping[str, HostDevice],
    *,
    all_host_devices: bool,
) -> DevicePlan:
    """CRI devices (each with an allow rule carrying its permissions) after a deny-all rule;
    with `all_host_devices` (privileged) every host device and one allow-all rule."""
    listed: dict[str, dict[str, object]] = {}
    rules: list[dict[str, object]] = [{"allow": False, "access": "rwm"}]
    for device in devices:
        dest = _absolute(device.container_path, "device container_path")
        access = device.permissions or "rwm"
        if not _ACCESS.match(access):
            raise InvalidArgumentError(
                f"device {dest}: permissions {quote(access)} not made of r, w, m"
            )
        dev = host_devices.get(device.host_path)
        if dev is None:
            raise InvalidArgumentError(
                f"device {quote(device.host_path)} is not a device on the host"
            )
        listed[dest] = device_json(dest, dev)
        rules.append(
            {
                "allow": True,
                "type": dev.type,
                "major": dev.major,
                "minor": dev.minor,
                "access": access,
            }
        )
    if all_host_devices:
        for path, dev in sorted(host_devices.items()):
            listed.setdefault(path, device_json(path, dev))
        rules = [{"allow": True, "access": "rwm"}]
    return DevicePlan(list(listed.values()), rules)
