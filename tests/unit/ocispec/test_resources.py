"""Resources, OOM score, cgroups path, rlimits and sysctls (ocispec/resources.py)."""

from __future__ import annotations

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.errors import InvalidArgumentError
from crio_py.ocispec import HostFeatures
from crio_py.ocispec.resources import (
    cgroups_path,
    oom_score_adj,
    resources_section,
    rlimits,
    sysctls,
)

ALL = HostFeatures(arch="amd64", swap_controller=True, hugetlb_controller=True)


def test_full_resources() -> None:
    res = pb.LinuxContainerResources(
        cpu_shares=512,
        cpu_quota=50000,
        cpu_period=100000,
        cpuset_cpus="0-1,3",
        cpuset_mems="0",
        memory_limit_in_bytes=256 << 20,
        hugepage_limits=[pb.HugepageLimit(page_size="2MB", limit=4 << 20)],
        unified={"memory.high": "200M", "cpu.weight": "50"},
    )
    assert resources_section(res, host=ALL, pids_limit=1024) == {
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1,3", "mems": "0"},
        "memory": {"limit": 268435456, "swap": 268435456},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "pids": {"limit": 1024},
        "unified": {"cpu.weight": "50", "memory.high": "200M"},
    }


def test_zero_values_are_left_out() -> None:
    assert resources_section(pb.LinuxContainerResources(), host=ALL) == {}
    assert resources_section(None, host=ALL, pids_limit=-1) == {}


def test_explicit_swap_limit_wins() -> None:
    res = pb.LinuxContainerResources(memory_limit_in_bytes=100 << 20, memory_swap_limit_in_bytes=-1)
    assert resources_section(res, host=ALL)["memory"] == {"limit": 104857600, "swap": -1}


def test_no_swap_or_hugepages_without_the_controllers() -> None:
    res = pb.LinuxContainerResources(
        memory_limit_in_bytes=100 << 20,
        hugepage_limits=[pb.HugepageLimit(page_size="1GB", limit=1 << 30)],
    )
    assert resources_section(res, host=HostFeatures(arch="amd64")) == {
        "memory": {"limit": 104857600}
    }


def test_sandbox_default_shares() -> None:
    assert resources_section(None, host=ALL, default_shares=2) == {"cpu": {"shares": 2}}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cpu_shares": -1}, "cpu_shares -1"),
        ({"cpu_shares": 262145}, "cpu_shares 262145"),
        ({"cpu_quota": -2}, "cpu_quota -2 is negative"),
        ({"cpu_period": 500}, "cpu_period 500"),
        ({"memory_limit_in_bytes": -5}, "memory_limit_in_bytes -5 is negative"),
        ({"memory_swap_limit_in_bytes": -2}, "memory_swap_limit_in_bytes -2 is negative"),
        (
            {"memory_limit_in_bytes": 200, "memory_swap_limit_in_bytes": 100},
            "below memory_limit_in_bytes",
        ),
        ({"oom_score_adj": 1001}, "oom_score_adj 1001"),
        ({"cpuset_cpus": "0-a"}, "cpuset_cpus '0-a'"),
        ({"cpuset_mems": "0,,1"}, "cpuset_mems '0,,1'"),
        ({"hugepage_limits": [pb.HugepageLimit(page_size="2M")]}, "page_size '2M'"),
        ({"unified": {"../memory.max": "1"}}, "unified cgroup key"),
    ],
)
def test_invalid_resources(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        resources_section(pb.LinuxContainerResources(**fields), host=ALL)  # type: ignore[arg-type]


def test_a_cpuset_names_only_what_the_node_has_online() -> None:
    """runc create fails on a CPU or memory node the node lacks: refused at the request."""
    two_cpus = HostFeatures(arch="amd64", online_cpus="0-1", online_mems="0")
    fine = pb.LinuxContainerResources(cpuset_cpus="1", cpuset_mems="0")
    assert resources_section(fine, host=two_cpus)["cpu"] == {"cpus": "1", "mems": "0"}
    with pytest.raises(
        InvalidArgumentError, match=r"cpuset_cpus '0-5' names CPUs .*\(2, 3, 4, 5\)"
    ):
        resources_section(pb.LinuxContainerResources(cpuset_cpus="0-5"), host=two_cpus)
    with pytest.raises(InvalidArgumentError, match="cpuset_mems '1' names memory nodes"):
        resources_section(pb.LinuxContainerResources(cpuset_mems="1"), host=two_cpus)
    unknown = pb.LinuxContainerResources(cpuset_cpus="7")  # nothing probed: runc decides
    assert resources_section(unknown, host=ALL)["cpu"] == {"cpus": "7"}


@pytest.mark.parametrize(
    ("requested", "daemon", "restrict", "can_lower", "expected"),
    [
        (-900, -500, False, True, -900),  # no restriction: as asked
        (-900, -500, True, True, -500),  # restrict_oom_score_adj: clamped to the daemon's
        (-900, -500, False, False, -500),  # the daemon may not lower it: clamped too
        (100, -500, True, False, 100),  # raising is always allowed
        (-500, -500, True, True, -500),
    ],
)
def test_oom_score_adj_clamp(
    requested: int, daemon: int, restrict: bool, can_lower: bool, expected: int
) -> None:
    assert (
        oom_score_adj(requested, daemon=daemon, restrict=restrict, can_lower=can_lower) == expected
    )


@pytest.mark.parametrize(
    ("parent", "driver", "expected"),
    [
        ("/kubepods/burstable/pod123", "cgroupfs", "/kubepods/burstable/pod123/ctr"),
        ("/kubepods/pod123/", "cgroupfs", "/kubepods/pod123/ctr"),
        ("", "cgroupfs", "/k8s.io/ctr"),
        (
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod123.slice",
            "systemd",
            "kubepods-besteffort-pod123.slice:cri-containerd:ctr",
        ),
        ("kubepods-pod9.slice", "systemd", "kubepods-pod9.slice:cri-containerd:ctr"),
        ("", "systemd", "system.slice:cri-containerd:ctr"),
    ],
)
def test_cgroups_path(parent: str, driver: str, expected: str) -> None:
    assert cgroups_path(parent, driver, "ctr") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parent", "driver", "expected"),
    [
        ("/kubepods/burstable/pod123", "cgroupfs", "/kubepods/burstable/pod123/crio-ctr"),
        ("", "cgroupfs", "/crio/crio-ctr"),
        ("kubepods-pod9.slice", "systemd", "kubepods-pod9.slice:crio:ctr"),
    ],
)
def test_cgroups_path_with_crio_names(parent: str, driver: str, expected: str) -> None:
    assert cgroups_path(parent, driver, "ctr", crio=True) == expected  # type: ignore[arg-type]


def test_cgroups_path_rejects_mismatched_parents() -> None:
    with pytest.raises(InvalidArgumentError, match="not a systemd slice"):
        cgroups_path("/kubepods/pod1", "systemd", "ctr")
    with pytest.raises(InvalidArgumentError, match="not an absolute path"):
        cgroups_path("kubepods/pod1", "cgroupfs", "ctr")


def test_rlimits_from_ulimits() -> None:
    assert rlimits(["nofile=1024:4096", "nproc=512", "RLIMIT_CORE=-1", "memlock=-1:-1"]) == [
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
        {"type": "RLIMIT_NPROC", "hard": 512, "soft": 512},
        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1},
        {"type": "RLIMIT_MEMLOCK", "hard": 2**64 - 1, "soft": 2**64 - 1},
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("nofile", "expected name=soft"),
        ("files=1", "expected name=soft"),
        ("nofile=x", "'x' is not a number"),
        ("nofile=10:5", "soft limit above hard limit"),
    ],
)
def test_invalid_ulimits(entry: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        rlimits([entry])


def test_sysctls_defaults_then_pod() -> None:
    defaults = {"net.ipv4.ping_group_range": "0 0", "kernel.shmmax": "1"}
    pod = {"net.ipv4.ping_group_range": "0 2147483647", "net.core.somaxconn": "1024"}
    assert sysctls(defaults, pod, host_network=False, host_ipc=False) == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "kernel.shmmax": "1",
        "net.core.somaxconn": "1024",
    }


def test_sysctls_of_host_namespaces_are_left_out() -> None:
    pod = {
        "net.core.somaxconn": "1",
        "kernel.shmmax": "2",
        "fs.mqueue.msg_max": "3",
        "kernel.msgmax": "4",
        "kernel.sem": "5 6 7 8",
        "vm.overcommit_memory": "1",
    }
    assert sysctls({}, pod, host_network=True, host_ipc=True) == {"vm.overcommit_memory": "1"}
    assert sysctls({}, pod, host_network=True, host_ipc=False) == {
        "kernel.shmmax": "2",
        "fs.mqueue.msg_max": "3",
        "kernel.msgmax": "4",
        "kernel.sem": "5 6 7 8",
        "vm.overcommit_memory": "1",
    }


def test_invalid_sysctl_name() -> None:
    with pytest.raises(InvalidArgumentError, match="invalid sysctl name"):
        sysctls({}, {"a=b": "1"}, host_network=False, host_ipc=False)
