"""The specs have the shape runc accepts (runc_shape.py: runtime-spec 1.0.2-dev types plus
runc's cross-field validation), across the main kinds of request."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.config.model import RuntimeSettings
from crio_py.ocispec import HostDevice, HostFeatures, container_spec, sandbox_spec
from tests.unit.ocispec.conftest import MakeRequest, MakeSandbox
from tests.unit.ocispec.helpers import container_config, sandbox_config, with_defaults
from tests.unit.ocispec.runc_shape import runc_problems

# The shape `runc spec` prints (runc 1.1.5), trimmed: the schema must accept it.
RUNC_SPEC_DEFAULT: dict[str, Any] = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {
            k: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            for k in ("bounding", "effective", "permitted", "ambient")
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        "maskedPaths": ["/proc/acpi", "/sys/firmware"],
        "readonlyPaths": ["/proc/bus", "/proc/sys"],
    },
}


def test_the_checker_accepts_runcs_own_default() -> None:
    assert runc_problems(RUNC_SPEC_DEFAULT) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda s: s["process"]["user"].update(uid=-1), "-1 is less than the minimum"),
        (lambda s: s["linux"]["resources"].update(cpu={"shares": "512"}), "'512' is not of type"),
        (lambda s: s["process"].update(cwd="srv"), "'srv' does not match"),
        (lambda s: s["linux"].update(seccomp={"defaultAction": "DENY"}), "'DENY' is not one of"),
        (lambda s: s["process"].update(capabilities={"bounding": ["NET_ADMIN"]}), "does not match"),
        (
            lambda s: s["linux"].update(
                namespaces=[{"type": "mount"}, {"type": "uts", "path": "/x"}]
            ),
            "hostname without a private UTS namespace",
        ),
        (
            lambda s: (
                s.pop("hostname"),
                s["linux"].update(namespaces=[{"type": "mount"}], sysctl={"net.a": "1"}),
            ),
            "sysctl net.a in the host network namespace",
        ),
        (lambda s: s["linux"].update(cgroupsPath="pod:crio"), "not slice:prefix:name"),
        (lambda s: s["process"].update(noNewPrivilege=True), "Additional properties"),
    ],
)
def test_the_checker_rejects_what_runc_rejects(
    edit: Callable[[dict[str, Any]], None], problem: str
) -> None:
    spec = copy.deepcopy(RUNC_SPEC_DEFAULT)
    edit(spec)
    assert any(problem in p for p in runc_problems(spec)), runc_problems(spec)


FULL_RESOURCES = pb.LinuxContainerResources(
    cpu_shares=512,
    cpu_quota=50000,
    cpu_period=100000,
    cpuset_cpus="0",
    cpuset_mems="0",
    memory_limit_in_bytes=128 << 20,
    memory_swap_limit_in_bytes=256 << 20,
    oom_score_adj=500,
    hugepage_limits=[pb.HugepageLimit(page_size="2MB", limit=0)],
    unified={"memory.high": "max"},
)
RD = pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault)
PRIVILEGED_POD = sandbox_config(security_context=pb.LinuxSandboxSecurityContext(privileged=True))
HOST_POD_OPTIONS = pb.NamespaceOption(network=pb.NODE, pid=pb.NODE, ipc=pb.NODE)
FEATURES = HostFeatures(
    arch="amd64", apparmor=True, cgroup_v2=True, swap_controller=True, hugetlb_controller=True
)
FILES = {"/etc/hosts": "/sb/hosts", "/etc/resolv.conf": "/sb/resolv", "/dev/shm": "/sb/shm"}
PATHS = {"network": "/run/netns/x", "ipc": "/proc/9/ns/ipc", "uts": "/proc/9/ns/uts"}


def container_cases(settings: RuntimeSettings) -> dict[str, dict[str, Any]]:
    """Request overrides covering the main shapes a container spec takes."""
    return {
        "minimal": {},
        "pod member": {
            "namespace_paths": PATHS,
            "sandbox_files": FILES,
            "cgroup_parent": "/kubepods/pod1",
        },
        "everything": {
            "config": container_config(
                pb.LinuxContainerSecurityContext(
                    seccomp=RD,
                    run_as_username="app",
                    no_new_privs=True,
                    readonly_rootfs=True,
                    capabilities=pb.Capability(
                        add_capabilities=["NET_ADMIN"],
                        add_ambient_capabilities=["NET_BIND_SERVICE"],
                    ),
                    supplemental_groups=[5000],
                ),
                tty=True,
                linux=pb.LinuxContainerConfig(resources=FULL_RESOURCES),
                mounts=[
                    pb.Mount(
                        container_path="/data",
                        host_path="/srv",
                        propagation=pb.PROPAGATION_HOST_TO_CONTAINER,
                        readonly=True,
                    )
                ],
                devices=[
                    pb.Device(container_path="/dev/fuse", host_path="/dev/fuse", permissions="rw")
                ],
            ),
            "host_devices": {
                "/dev/fuse": HostDevice(path="/dev/fuse", type="c", major=10, minor=229)
            },
            "settings": with_defaults(
                settings,
                ulimits=("nofile=1024:4096",),
                pids_limit=100,
                read_only=True,
                sysctls={"net.ipv4.ip_forward": "1"},
            ),
            "sandbox_config": sandbox_config(sysctls={"kernel.shmmax": "1000"}),
            "namespace_paths": {**PATHS, "pid": "/proc/9/ns/pid"},
            "cgroup_parent": "kubepods-pod1.slice",
            "cgroup_driver": "systemd",
            "host": FEATURES,
            "sandbox_files": FILES,
            "daemon_oom_score_adj": -999,
        },
        "privileged": {
            "config": container_config(
                pb.LinuxContainerSecurityContext(privileged=True, seccomp=RD)
            ),
            "sandbox_config": PRIVILEGED_POD,
            "host_devices": {"/dev/null": HostDevice(path="/dev/null", type="c", major=1, minor=3)},
            "host": FEATURES,
        },
        "host namespaces": {
            "config": container_config(
                pb.LinuxContainerSecurityContext(namespace_options=HOST_POD_OPTIONS)
            ),
            "sandbox_config": sandbox_config(
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=HOST_POD_OPTIONS),
                sysctls={"net.core.somaxconn": "1", "kernel.shmmax": "1"},
            ),
            "sandbox_files": FILES,
        },
    }


@pytest.mark.parametrize(
    "case", ["minimal", "pod member", "everything", "privileged", "host namespaces"]
)
def test_container_specs_have_runcs_shape(
    make_request: MakeRequest, settings: RuntimeSettings, case: str
) -> None:
    spec = container_spec(make_request(**container_cases(settings)[case]))
    assert runc_problems(spec) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "sandbox_config": sandbox_config(
                resources=FULL_RESOURCES,
                sysctls={"net.ipv4.ip_forward": "1"},
                security_context=pb.LinuxSandboxSecurityContext(seccomp=RD),
            ),
            "namespace_paths": {"network": "/run/netns/x"},
            "sandbox_files": FILES,
            "host": FEATURES,
            "cgroup_parent": "kubepods-pod1.slice",
            "cgroup_driver": "systemd",
        },
        {
            "sandbox_config": sandbox_config(
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=HOST_POD_OPTIONS, privileged=True
                ),
                sysctls={"net.core.somaxconn": "1"},
            )
        },
    ],
    ids=["minimal", "everything", "host privileged"],
)
def test_sandbox_specs_have_runcs_shape(
    make_sandbox: MakeSandbox, overrides: dict[str, Any]
) -> None:
    assert runc_problems(sandbox_spec(make_sandbox(**overrides))) == []


def test_runc_accepts_a_numeric_user_in_an_image_without_etc(
    make_request: MakeRequest, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-rootfs"
    empty.mkdir()
    spec = container_spec(
        make_request(rootfs_path=empty, image_config={"config": {"User": "65532:65532"}})
    )
    assert spec["process"]["user"] == {"uid": 65532, "gid": 65532, "additionalGids": [65532]}  # type: ignore[index]
    assert runc_problems(spec) == []
