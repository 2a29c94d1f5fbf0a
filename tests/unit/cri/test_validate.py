"""What RunPodSandbox, CreateContainer and the exec RPCs refuse before anything is made."""

from __future__ import annotations

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py.cri import validate
from crio_py.errors import InvalidArgumentError
from crio_py.ocispec.resources import validate_resources, validate_sysctl
from crio_py.reference import parse_reference


def _pod(**fields: object) -> pb.PodSandboxConfig:
    metadata = pb.PodSandboxMetadata(name="web", namespace="default", uid="u-1")
    return pb.PodSandboxConfig(metadata=metadata, **fields)  # type: ignore[arg-type]


def test_a_plain_pod_passes() -> None:
    config = _pod(
        log_directory="/var/log/pods/x",
        port_mappings=[pb.PortMapping(container_port=80, host_port=8080, host_ip="127.0.0.1")],
        dns_config=pb.DNSConfig(servers=["10.96.0.10"], searches=["svc.cluster.local"]),
    )
    config.linux.sysctls.update({"net.core.somaxconn": "1024", "kernel.shm_rmid_forced": "1"})
    validate.sandbox_config(config, "cgroupfs")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda c: setattr(c.metadata, "name", "a/b"), "cannot be a path"),
        (lambda c: setattr(c.metadata, "namespace", ".."), "cannot be a path"),
        (lambda c: setattr(c.metadata, "uid", "u\0"), "contains a NUL byte"),
        (lambda c: setattr(c.metadata, "name", "n" * 254), "longer than 253 bytes"),
        (lambda c: setattr(c, "log_directory", "logs"), "is not an absolute path"),
        (lambda c: c.port_mappings.add(container_port=0, host_port=80), "container_port not in"),
        (lambda c: c.port_mappings.add(container_port=80, host_port=65536), "host_port not in"),
        (lambda c: c.port_mappings.add(container_port=80, protocol=5), "unknown protocol 5"),
        (lambda c: c.port_mappings.add(container_port=80, host_ip="x"), "is not an IP address"),
        (lambda c: c.dns_config.servers.append("dns.example"), "is not an IP address"),
        (lambda c: c.dns_config.searches.append("a\nnameserver 1.2.3.4"), "not a single word"),
        (lambda c: c.linux.sysctls.update({"vm.swappiness": "1"}), "not in a namespace"),
        (lambda c: setattr(c.linux, "cgroup_parent", "/a/../../b"), "cannot contain '..'"),
        (lambda c: setattr(c.linux, "cgroup_parent", "kubepods"), "is not an absolute path"),
        (
            lambda c: setattr(c.linux.security_context.namespace_options, "pid", 7),
            "pid namespace mode 7 is unknown",
        ),
    ],
)
def test_a_malformed_pod_is_refused(change: object, says: str) -> None:
    config = _pod()
    change(config)  # type: ignore[operator]
    with pytest.raises(InvalidArgumentError, match=says):
        validate.sandbox_config(config, "cgroupfs")


def test_a_systemd_node_wants_a_slice() -> None:
    config = _pod()
    config.linux.cgroup_parent = "kubepods-besteffort.slice"
    validate.sandbox_config(config, "systemd")


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("net.ipv4.ip_forward", "1", True),
        ("net/ipv4/ip_forward", "1", True),
        ("fs.mqueue.msg_max", "10", True),
        ("kernel.panic", "1", False),
        ("net..x", "1", False),
        ("Net.ipv4.x", "1", False),
        ("net.ipv4.ip_forward", "1\n", False),
    ],
)
def test_sysctls_a_container_may_set(key: str, value: str, ok: bool) -> None:
    if ok:
        validate_sysctl(key, value)
    else:
        with pytest.raises(InvalidArgumentError):
            validate_sysctl(key, value)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"envs": [pb.KeyValue(key="A=B", value="c")]}, "name 'A=B' is invalid"),
        ({"envs": [pb.KeyValue(key="A", value="\0")]}, "contains a NUL byte"),
        ({"args": ["sleep", "1\0"]}, "args argument"),
        ({"working_dir": "/a\0"}, "working_dir"),
    ],
)
def test_a_malformed_container_is_refused(fields: dict[str, object], says: str) -> None:
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="busybox"), **fields
    )  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=says):
        validate.container_config(config)


@pytest.mark.parametrize("cpus", ["0-8192", "3-1", "0-" + "9" * 50])
def test_a_cpuset_beyond_any_cpu_is_refused(cpus: str) -> None:
    with pytest.raises(InvalidArgumentError, match="is not a CPU list"):
        validate_resources(pb.LinuxContainerResources(cpuset_cpus=cpus))


@pytest.mark.parametrize(
    ("text", "says"),
    [("f" * 64, "is an image id"), ("a" * 300, "longer than 255")],
)
def test_references_distribution_refuses(text: str, says: str) -> None:
    with pytest.raises(InvalidArgumentError, match=says) as caught:
        parse_reference(text)
    assert len(str(caught.value)) < 400
