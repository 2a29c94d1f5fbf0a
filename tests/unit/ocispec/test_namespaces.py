"""linux.namespaces (ocispec/namespaces.py)."""

from __future__ import annotations

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.errors import InvalidArgumentError
from crio_py.ocispec.namespaces import creates_uts, id_mappings, namespaces

PATHS = {
    "network": "/run/netns/cni-1",
    "ipc": "/proc/10/ns/ipc",
    "uts": "/proc/10/ns/uts",
    "pid": "/proc/10/ns/pid",
}


def test_container_joins_the_pod_namespaces_with_a_private_pid() -> None:
    options = pb.NamespaceOption(pid=pb.CONTAINER)
    assert namespaces(options, PATHS, sandbox=False, cgroupns=False) == [
        {"type": "pid"},
        {"type": "ipc", "path": "/proc/10/ns/ipc"},
        {"type": "uts", "path": "/proc/10/ns/uts"},
        {"type": "mount"},
        {"type": "network", "path": "/run/netns/cni-1"},
    ]


def test_container_shares_the_pod_pid_namespace() -> None:
    result = namespaces(pb.NamespaceOption(pid=pb.POD), PATHS, sandbox=False, cgroupns=True)
    assert result[0] == {"type": "pid", "path": "/proc/10/ns/pid"}
    assert result[-1] == {"type": "cgroup"}
    # POD mode without a path given: a private namespace.
    no_pid = {k: v for k, v in PATHS.items() if k != "pid"}
    assert namespaces(pb.NamespaceOption(pid=pb.POD), no_pid, sandbox=False, cgroupns=False)[0] == {
        "type": "pid"
    }


def test_target_pid_namespace_needs_a_path() -> None:
    options = pb.NamespaceOption(pid=pb.TARGET, target_id="abc")
    assert namespaces(options, PATHS, sandbox=False, cgroupns=False)[0]["path"] == "/proc/10/ns/pid"
    with pytest.raises(InvalidArgumentError, match="target container 'abc'"):
        namespaces(options, {}, sandbox=False, cgroupns=False)


def test_host_modes_leave_namespaces_out() -> None:
    options = pb.NamespaceOption(network=pb.NODE, pid=pb.NODE, ipc=pb.NODE)
    assert namespaces(options, PATHS, sandbox=False, cgroupns=False) == [{"type": "mount"}]


def test_sandbox_creates_the_pod_namespaces_and_joins_a_pinned_netns() -> None:
    options = pb.NamespaceOption(pid=pb.POD)
    result = namespaces(options, {"network": "/run/netns/cni-1"}, sandbox=True, cgroupns=False)
    assert result == [
        {"type": "pid"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
        {"type": "network", "path": "/run/netns/cni-1"},
    ]
    assert creates_uts(result)
    assert not creates_uts(namespaces(options, PATHS, sandbox=False, cgroupns=False))


def test_a_pod_user_namespace_is_joined_with_its_mappings() -> None:
    mapping = pb.IDMapping(container_id=0, host_id=1000, length=100000)
    userns = pb.UserNamespace(mode=pb.POD, uids=[mapping], gids=[mapping])
    options = pb.NamespaceOption(pid=pb.CONTAINER, userns_options=userns)
    with pytest.raises(InvalidArgumentError, match="no pinned user namespace"):
        namespaces(options, PATHS, sandbox=False, cgroupns=False)
    joined = namespaces(options, {**PATHS, "user": "/run/userns/1"}, sandbox=False, cgroupns=False)
    assert joined[0] == {"type": "user", "path": "/run/userns/1"}
    line = {"containerID": 0, "hostID": 1000, "size": 100000}
    assert id_mappings(options) == {"uidMappings": [line], "gidMappings": [line]}
    node = pb.NamespaceOption(userns_options=pb.UserNamespace(mode=pb.NODE))
    assert "user" not in [n["type"] for n in namespaces(node, {}, sandbox=False, cgroupns=False)]
    assert id_mappings(node) == {}


def test_relative_namespace_path_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError, match="network namespace path"):
        namespaces(pb.NamespaceOption(), {"network": "netns"}, sandbox=False, cgroupns=False)
