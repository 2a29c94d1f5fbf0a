"""Mounts and devices (ocispec/mounts.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.errors import InvalidArgumentError, UnimplementedError
from crio_py.ocispec import HostDevice
from crio_py.ocispec.mounts import (
    MountPlan,
    bind_mount,
    container_devices,
    container_mounts,
    sandbox_file_mounts,
)

PROC = {
    "destination": "/proc",
    "type": "proc",
    "source": "proc",
    "options": ["nosuid", "noexec", "nodev"],
}
CGROUP_RO = {
    "destination": "/sys/fs/cgroup",
    "type": "cgroup",
    "source": "cgroup",
    "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
}


def plan(cri: list[pb.Mount], extra: Sequence[pb.Mount] = (), **kw: bool) -> MountPlan:
    args = {
        "privileged": False,
        "read_only_tmpfs": False,
        "cgroup_writable": False,
    }
    args.update(kw)
    return container_mounts(cri, extra, **args)


def dests(mounts: list[dict[str, object]]) -> list[object]:
    return [m["destination"] for m in mounts]


@pytest.mark.parametrize(
    ("propagation", "option", "rootfs"),
    [
        (pb.PROPAGATION_PRIVATE, "rprivate", ""),
        (pb.PROPAGATION_HOST_TO_CONTAINER, "rslave", "rslave"),
        (pb.PROPAGATION_BIDIRECTIONAL, "rshared", "rshared"),
    ],
)
def test_bind_mount_propagation(propagation: int, option: str, rootfs: str) -> None:
    mount = pb.Mount(container_path="/data", host_path="/srv/data", propagation=propagation)  # type: ignore[arg-type]
    result = plan([mount])
    assert result.mounts[-1] == {
        "destination": "/data",
        "type": "bind",
        "source": "/srv/data",
        "options": ["rbind", option, "rw"],
    }
    assert result.rootfs_propagation == rootfs


def test_shared_wins_over_slave_for_the_rootfs() -> None:
    mounts = [
        pb.Mount(container_path="/a", host_path="/a", propagation=pb.PROPAGATION_BIDIRECTIONAL),
        pb.Mount(container_path="/b", host_path="/b", propagation=pb.PROPAGATION_HOST_TO_CONTAINER),
    ]
    assert plan(mounts).rootfs_propagation == "rshared"


def test_readonly_and_selinux_relabel() -> None:
    mount = pb.Mount(
        container_path="/cfg/", host_path="/etc/app//", readonly=True, selinux_relabel=True
    )
    assert bind_mount(mount) == {
        "destination": "/cfg",
        "type": "bind",
        "source": "/etc/app",
        "options": ["rbind", "rprivate", "ro"],
    }


def test_unprepared_mounts_are_refused() -> None:
    """Image volumes and recursive read-only mounts reach the spec only once prepared."""
    rro = pb.Mount(container_path="/r", host_path="/r", readonly=True, recursive_read_only=True)
    with pytest.raises(UnimplementedError, match="was not prepared"):
        bind_mount(rro)
    image = pb.Mount(container_path="/i", readonly=True, image=pb.ImageSpec(image="busybox"))
    with pytest.raises(UnimplementedError, match="was not prepared"):
        bind_mount(image)


@pytest.mark.parametrize(
    ("mount", "error", "message"),
    [
        (
            pb.Mount(container_path="data", host_path="/d"),
            InvalidArgumentError,
            "container_path 'data' is not an absolute path",
        ),
        (
            pb.Mount(container_path="/d", host_path="d"),
            InvalidArgumentError,
            "host_path 'd' is not an absolute path",
        ),
        (pb.Mount(container_path="/d"), InvalidArgumentError, "has no host_path"),
        (
            pb.Mount(container_path="/d", image=pb.ImageSpec(image="x")),
            UnimplementedError,
            "image volume",
        ),
    ],
)
def test_bad_mounts(mount: pb.Mount, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        plan([mount])


def test_default_mounts_order_and_depth_sorting() -> None:
    cri = [
        pb.Mount(container_path="/var/lib/x/y", host_path="/h1"),
        pb.Mount(container_path="/var", host_path="/h2"),
    ]
    result = plan(cri)
    assert dests(result.mounts) == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/var",
        "/var/lib/x/y",
    ]
    assert result.mounts[0] == PROC
    assert result.mounts[6] == CGROUP_RO


def test_cri_mounts_replace_defaults_and_sandbox_files() -> None:
    cri = [
        pb.Mount(container_path="/etc/hosts", host_path="/my/hosts"),
        pb.Mount(container_path="/dev", host_path="/dev"),
    ]
    extra = [
        pb.Mount(container_path="/etc/hosts", host_path="/sandbox/hosts"),
        pb.Mount(container_path="/etc/resolv.conf", host_path="/sandbox/resolv.conf"),
    ]
    result = plan(cri, extra)
    # A host /dev replaces the default /dev and everything below it.
    assert dests(result.mounts) == [
        "/proc",
        "/sys",
        "/sys/fs/cgroup",
        "/dev",
        "/etc/hosts",
        "/etc/resolv.conf",
    ]
    assert result.mounts[4]["source"] == "/my/hosts"


def test_privileged_gets_writable_sysfs_and_cgroupfs() -> None:
    mounts = plan([], privileged=True).mounts
    sysfs = next(m for m in mounts if m["destination"] == "/sys")
    cgroup = next(m for m in mounts if m["destination"] == "/sys/fs/cgroup")
    assert sysfs["options"] == ["nosuid", "noexec", "nodev", "rw"]
    assert cgroup["options"] == ["nosuid", "noexec", "nodev", "relatime", "rw"]
    handler_writable = plan([], cgroup_writable=True).mounts
    assert handler_writable[-1]["options"][-1] == "rw"  # type: ignore[index]


def test_read_only_setting_adds_scratch_tmpfs() -> None:
    cri = [pb.Mount(container_path="/tmp", host_path="/scratch")]
    mounts = plan(cri, read_only_tmpfs=True).mounts
    run = next(m for m in mounts if m["destination"] == "/run")
    assert run == {
        "destination": "/run",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["rw", "noexec", "nosuid", "nodev", "tmpcopyup", "mode=0755"],
    }
    assert [m["type"] for m in mounts if m["destination"] == "/tmp"] == ["bind"]
    assert any(m["destination"] == "/var/tmp" for m in mounts)


def test_sandbox_file_mounts() -> None:
    files = {"/etc/hosts": "/sb/hosts", "/dev/shm": "/sb/shm", "/etc/resolv.conf": "/sb/resolv"}
    mounts = sandbox_file_mounts(files, readonly_rootfs=True, host_ipc=False)
    assert [(m.container_path, m.host_path, m.readonly) for m in mounts] == [
        ("/dev/shm", "/sb/shm", False),
        ("/etc/hosts", "/sb/hosts", True),
        ("/etc/resolv.conf", "/sb/resolv", True),
    ]
    host_ipc = sandbox_file_mounts(files, readonly_rootfs=False, host_ipc=True)
    assert host_ipc[0].host_path == "/dev/shm"


FUSE = HostDevice(path="/dev/fuse", type="c", major=10, minor=229)
SDA = HostDevice(path="/dev/sda", type="b", major=8, minor=0, file_mode=0o660, gid=6)


def test_devices_and_cgroup_rules() -> None:
    devices = [
        pb.Device(container_path="/dev/fuse", host_path="/dev/fuse", permissions="rw"),
        pb.Device(container_path="/dev/disk0", host_path="/dev/sda"),
    ]
    result = container_devices(
        devices, {"/dev/fuse": FUSE, "/dev/sda": SDA}, all_host_devices=False
    )
    assert result.devices == [
        {
            "path": "/dev/fuse",
            "type": "c",
            "major": 10,
            "minor": 229,
            "fileMode": 0o666,
            "uid": 0,
            "gid": 0,
        },
        {
            "path": "/dev/disk0",
            "type": "b",
            "major": 8,
            "minor": 0,
            "fileMode": 0o660,
            "uid": 0,
            "gid": 6,
        },
    ]
    assert result.rules == [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "rwm"},
    ]


def test_privileged_gets_all_host_devices() -> None:
    devices = [pb.Device(container_path="/dev/my-fuse", host_path="/dev/fuse")]
    result = container_devices(devices, {"/dev/fuse": FUSE, "/dev/sda": SDA}, all_host_devices=True)
    assert [d["path"] for d in result.devices] == ["/dev/my-fuse", "/dev/fuse", "/dev/sda"]
    assert result.rules == [{"allow": True, "access": "rwm"}]


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (pb.Device(container_path="dev/fuse", host_path="/dev/fuse"), "is not an absolute path"),
        (
            pb.Device(container_path="/dev/fuse", host_path="/dev/fuse", permissions="rwx"),
            "permissions 'rwx'",
        ),
        (pb.Device(container_path="/dev/nope", host_path="/dev/nope"), "not a device on the host"),
    ],
)
def test_bad_devices(device: pb.Device, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        container_devices([device], {"/dev/fuse": FUSE}, all_host_devices=False)
