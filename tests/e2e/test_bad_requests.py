"""Bad requests to every CRI RPC, end to end on one real daemon: empty, unknown, path-like,
NUL-carrying and oversized (1 MB) ids, names and fields, and invalid configs.

Each case is one (RPC, input) pair with the codes containerd and CRI-O would answer (NOT_FOUND
for an id that names nothing, INVALID_ARGUMENT for a malformed request, OK where the CRI says
the call is idempotent). Every case must also
- never answer INTERNAL or UNKNOWN, whatever its table row says;
- answer a status message well under gRPC's metadata limit (a status that echoed a megabyte
  would reach the client as RESOURCE_EXHAUSTED);
- leave the daemon serving (Version and Status answer) and its state as it was: the same
  sandboxes and containers in the same states, no new mount under the work dir, no new
  namespace pin, no process left running (the autouse `no_leaked_processes`).

The daemon, its network, one running sandbox and one running container are shared by the
module; the fixture removes them and checks `Node.leaks()` at the end.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc
from google.protobuf.message import Message

from tests.e2e.node import Node, container_config, mount_points, node, pod_config
from tests.fixtures.catalog import PushedImages

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
MESSAGE_BOUND = 4096
LOG_BOUND = 64 * 1024
"""What one bad request may add to the daemon's log (it runs at debug level)."""
"""A status message must stay well under the 8 KiB at which gRPC starts refusing metadata."""

OK = grpc.StatusCode.OK
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

BAD_IDS = {
    "empty": "",
    "unknown": "f" * 64,
    "dotdot": "../../etc",
    "absolute": "/etc/passwd",
    "slash": "a/b",
    "nul": "ab\0cd",
    "huge": "x" * MB,
}
"""Ids that name no object; none is a prefix of a real (hex) id."""

BAD_PATHS = {k: v for k, v in BAD_IDS.items() if k not in ("empty", "unknown")}


@dataclass
class Target:
    """The shared daemon and the objects the cases aim at."""

    node: Node
    pod_id: str
    pod: api_pb2.PodSandboxConfig
    container_id: str
    registry: str

    @property
    def runtime(self) -> api_pb2_grpc.RuntimeServiceStub:
        return self.node.runtime

    @property
    def images(self) -> api_pb2_grpc.ImageServiceStub:
        return self.node.images


Build = Callable[[Target], Message]


@dataclass(frozen=True)
class Case:
    """One request to one RPC and the codes it may answer."""

    rpc: str
    label: str
    build: Build
    codes: frozenset[grpc.StatusCode]

    @property
    def id(self) -> str:
        return f"{self.rpc}-{self.label}"


def case(rpc: str, label: str, build: Build, *codes: grpc.StatusCode) -> Case:
    return Case(rpc, label, build, frozenset(codes))


IMAGE_RPCS = frozenset({"ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"})


# -- building requests ---------------------------------------------------------------------------
def _pod(target: Target, **fields: object) -> api_pb2.PodSandboxConfig:
    config = pod_config("bad", target.node.log_dir, **fields)
    return config


def _run_pod(change: Callable[[api_pb2.PodSandboxConfig], None], handler: str = "") -> Build:
    def build(target: Target) -> Message:
        config = _pod(target)
        change(config)
        return api_pb2.RunPodSandboxRequest(config=config, runtime_handler=handler)

    return build


def _container(target: Target) -> api_pb2.ContainerConfig:
    return container_config("bad", target.node.busybox, "/bin/sleep", "1000")


def _create(change: Callable[[api_pb2.ContainerConfig], None], pod_id: str | None = None) -> Build:
    def build(target: Target) -> Message:
        config = _container(target)
        change(config)
        return api_pb2.CreateContainerRequest(
            pod_sandbox_id=target.pod_id if pod_id is None else pod_id,
            config=config,
            sandbox_config=target.pod,
        )

    return build


def _set(**fields: object) -> Callable[[Message], None]:
    """A change that sets top-level fields of a message."""

    def change(message: Message) -> None:
        for key, value in fields.items():
            field = getattr(message, key)
            if isinstance(value, Message):
                field.CopyFrom(value)
            elif isinstance(value, dict):
                field.update(value)
            elif isinstance(value, list):
                del field[:]
                field.extend(value)
            else:
                setattr(message, key, value)

    return change


def _metadata(**fields: object) -> Callable[[Message], None]:
    def change(config: Message) -> None:
        for key, value in fields.items():
            setattr(config.metadata, key, value)  # type: ignore[attr-defined]

    return change


def _resources(**fields: object) -> Callable[[api_pb2.ContainerConfig], None]:
    return lambda config: _set(**fields)(config.linux.resources)


def _mount(**fields: object) -> Callable[[api_pb2.ContainerConfig], None]:
    def change(config: api_pb2.ContainerConfig) -> None:
        mount = api_pb2.Mount(container_path="/data", host_path="/tmp")
        for key, value in fields.items():
            setattr(mount, key, value)
        config.mounts.append(mount)

    return change


def _ports(*mappings: api_pb2.PortMapping) -> Callable[[api_pb2.PodSandboxConfig], None]:
    def change(config: api_pb2.PodSandboxConfig) -> None:
        config.port_mappings.extend(mappings)

    return change


def _pod_sysctls(sysctls: dict[str, str]) -> Callable[[api_pb2.PodSandboxConfig], None]:
    def change(config: api_pb2.PodSandboxConfig) -> None:
        config.linux.sysctls.update(sysctls)

    return change


def _update(**fields: object) -> Build:
    def build(target: Target) -> Message:
        resources = api_pb2.LinuxContainerResources(**fields)  # type: ignore[arg-type]
        return api_pb2.UpdateContainerResourcesRequest(
            container_id=target.container_id, linux=resources
        )

    return build


def _image(name: str) -> api_pb2.ImageSpec:
    return api_pb2.ImageSpec(image=name)


def _pull_auth(encoded: str) -> Build:
    def build(target: Target) -> Message:
        return api_pb2.PullImageRequest(
            image=_image(f"{target.registry}/busybox:1"), auth=api_pb2.AuthConfig(auth=encoded)
        )

    return build


def _fixed(message: Message) -> Build:
    return lambda target: message


# -- the table -----------------------------------------------------------------------------------
pb = api_pb2
ById = Callable[[str], Message]

# CRI: Stop and Remove are idempotent: OK for an id that names nothing (api.proto).
IDEMPOTENT: dict[str, ById] = {
    "StopPodSandbox": lambda bad: pb.StopPodSandboxRequest(pod_sandbox_id=bad),
    "RemovePodSandbox": lambda bad: pb.RemovePodSandboxRequest(pod_sandbox_id=bad),
    "StopContainer": lambda bad: pb.StopContainerRequest(container_id=bad),
    "RemoveContainer": lambda bad: pb.RemoveContainerRequest(container_id=bad),
}
NAMING: dict[str, ById] = {
    "PodSandboxStatus": lambda bad: pb.PodSandboxStatusRequest(pod_sandbox_id=bad, verbose=True),
    "ContainerStatus": lambda bad: pb.ContainerStatusRequest(container_id=bad, verbose=True),
    "StartContainer": lambda bad: pb.StartContainerRequest(container_id=bad),
    "UpdateContainerResources": lambda bad: pb.UpdateContainerResourcesRequest(container_id=bad),
    "ReopenContainerLog": lambda bad: pb.ReopenContainerLogRequest(container_id=bad),
    "ExecSync": lambda bad: pb.ExecSyncRequest(container_id=bad, cmd=["true"], timeout=5),
    "Exec": lambda bad: pb.ExecRequest(container_id=bad, cmd=["sh"], stdout=True),
    "Attach": lambda bad: pb.AttachRequest(container_id=bad, stdout=True),
    "PortForward": lambda bad: pb.PortForwardRequest(pod_sandbox_id=bad, port=[80]),
    "ContainerStats": lambda bad: pb.ContainerStatsRequest(container_id=bad),
    "PodSandboxStats": lambda bad: pb.PodSandboxStatsRequest(pod_sandbox_id=bad),
    "UpdatePodSandboxResources": lambda bad: pb.UpdatePodSandboxResourcesRequest(
        pod_sandbox_id=bad
    ),
}
"""RPCs that answer NOT_FOUND for an id that names nothing."""
UNSERVED: dict[str, ById] = {
    "CheckpointContainer": lambda bad: pb.CheckpointContainerRequest(
        container_id=bad, location="/tmp/x"
    ),
}
"""RPCs crio-py does not serve: UNIMPLEMENTED is as good an answer as NOT_FOUND."""
LISTING: dict[str, ById] = {
    "ListPodSandbox": lambda bad: pb.ListPodSandboxRequest(
        filter=pb.PodSandboxFilter(id=bad, label_selector={bad: bad})
    ),
    "ListContainers": lambda bad: pb.ListContainersRequest(
        filter=pb.ContainerFilter(id=bad, pod_sandbox_id=bad, label_selector={bad: bad})
    ),
    "ListContainerStats": lambda bad: pb.ListContainerStatsRequest(
        filter=pb.ContainerStatsFilter(id=bad, pod_sandbox_id=bad)
    ),
    "ListPodSandboxStats": lambda bad: pb.ListPodSandboxStatsRequest(
        filter=pb.PodSandboxStatsFilter(id=bad)
    ),
    "ListImages": lambda bad: pb.ListImagesRequest(filter=pb.ImageFilter(image=_image(bad))),
}
"""Filters that match nothing list nothing."""
# CRI: an image that is not here is an empty ImageStatus and a no-op RemoveImage.
ABSENT_IMAGE: dict[str, ById] = {
    "ImageStatus": lambda bad: pb.ImageStatusRequest(image=_image(bad), verbose=True),
    "RemoveImage": lambda bad: pb.RemoveImageRequest(image=_image(bad)),
}


def _id_cases() -> Iterator[Case]:
    """Every RPC that takes an id or a name, with each one that names nothing."""
    for label, bad in BAD_IDS.items():
        empty = label == "empty"
        groups: list[tuple[dict[str, ById], tuple[grpc.StatusCode, ...]]] = [
            (IDEMPOTENT, (OK, INVALID) if empty else (OK,)),
            (NAMING, (NOT_FOUND, INVALID) if empty else (NOT_FOUND,)),
            (UNSERVED, (NOT_FOUND, INVALID, UNIMPLEMENTED)),
            (LISTING, (OK,)),
            (ABSENT_IMAGE, (OK, INVALID)),
        ]
        for group, codes in groups:
            for rpc, build in group.items():
                yield case(rpc, label, _fixed(build(bad)), *codes)
        missing = (NOT_FOUND, INVALID) if empty else (NOT_FOUND,)
        yield case("CreateContainer", f"sandbox-{label}", _create(_nothing, pod_id=bad), *missing)
        # "a/b" is docker.io/a/b:latest, well formed: this node cannot reach docker.io.
        pull = (grpc.StatusCode.UNAVAILABLE, NOT_FOUND) if label == "slash" else (INVALID,)
        yield case("PullImage", label, _fixed(pb.PullImageRequest(image=_image(bad))), *pull)


def _nothing(config: Message) -> None:
    """No change."""


def _options(**modes: int) -> Callable[[Message], None]:
    def change(config: Message) -> None:
        for key, value in modes.items():
            setattr(config.linux.security_context.namespace_options, key, value)  # type: ignore[attr-defined]

    return change


def _sandbox_field_cases() -> Iterator[Case]:
    for field in ("name", "namespace", "uid"):
        for label, bad in BAD_IDS.items():
            if label != "unknown":
                change = _metadata(**{field: bad})
                yield case("RunPodSandbox", f"{field}-{label}", _run_pod(change), INVALID)
    for label, bad in BAD_PATHS.items():
        yield case("RunPodSandbox", f"hostname-{label}", _run_pod(_set(hostname=bad)), INVALID)
    for label, directory in (
        ("relative", "pods/x"),
        ("nul", "/tmp/a\0b"),
        ("huge", "/" + "x" * MB),
    ):
        change = _set(log_directory=directory)
        yield case("RunPodSandbox", f"log-directory-{label}", _run_pod(change), INVALID)
    for label, handler in (("unknown", "no-such-handler"), ("huge", "h" * MB)):
        build = _run_pod(_nothing, handler=handler)
        yield case("RunPodSandbox", f"handler-{label}", build, NOT_FOUND, INVALID)


PORTS = {
    "container-0": pb.PortMapping(container_port=0, host_port=8080),
    "container-negative": pb.PortMapping(container_port=-80),
    "container-huge": pb.PortMapping(container_port=70000),
    "host-huge": pb.PortMapping(container_port=80, host_port=70000),
    "host-negative": pb.PortMapping(container_port=80, host_port=-1),
    "protocol-unknown": pb.PortMapping(container_port=80, host_port=8080, protocol=7),
    "host-ip": pb.PortMapping(container_port=80, host_port=8080, host_ip="not-an-ip"),
}
SYSCTLS = {
    "unknown": {"crio.py.nothing": "1"},
    "path": {"net/../../kernel/x": "1"},
    "not-namespaced": {"kernel.panic": "1"},
    "value-nul": {"net.ipv4.ip_forward": "1\0"},
    "value-newline": {"net.ipv4.ip_forward": "1\nkernel.panic=1"},
}


def _sandbox_config_cases() -> Iterator[Case]:
    for label, mapping in PORTS.items():
        yield case("RunPodSandbox", f"port-{label}", _run_pod(_ports(mapping)), INVALID)
    for label, sysctls in SYSCTLS.items():
        yield case("RunPodSandbox", f"sysctl-{label}", _run_pod(_pod_sysctls(sysctls)), INVALID)
    for label, parent in (("relative", "a/b"), ("dotdot", "/../../x"), ("nul", "/a\0")):
        change = _linux(cgroup_parent=parent)
        yield case("RunPodSandbox", f"cgroup-parent-{label}", _run_pod(change), INVALID)
    dns = {
        "server-nul": pb.DNSConfig(servers=["1.1.1.1\0"]),
        "server-not-ip": pb.DNSConfig(servers=["../../etc"]),
        "search-newline": pb.DNSConfig(searches=["a\nnameserver 6.6.6.6"]),
        "search-huge": pb.DNSConfig(searches=["x" * MB]),
        "option-space": pb.DNSConfig(options=["ndots:5 rotate"]),
    }
    for label, config in dns.items():
        yield case("RunPodSandbox", f"dns-{label}", _run_pod(_set(dns_config=config)), INVALID)
    unknown_mode = _options(network=9)
    yield case("RunPodSandbox", "namespace-mode-unknown", _run_pod(unknown_mode), INVALID)
    yield case("RunPodSandbox", "no-config", _fixed(pb.RunPodSandboxRequest()), INVALID)
    for label, cidr in (("garbage", "../../etc"), ("huge", "1" * MB)):
        network = pb.NetworkConfig(pod_cidr=cidr)
        request = pb.UpdateRuntimeConfigRequest(
            runtime_config=pb.RuntimeConfig(network_config=network)
        )
        yield case("UpdateRuntimeConfig", f"cidr-{label}", _fixed(request), INVALID)


def _linux(**fields: object) -> Callable[[Message], None]:
    def change(config: Message) -> None:
        for key, value in fields.items():
            setattr(config.linux, key, value)  # type: ignore[attr-defined]

    return change


RESOURCES: dict[str, dict[str, object]] = {
    "cpu-shares-negative": {"cpu_shares": -2},
    "cpu-quota-negative": {"cpu_quota": -5},
    "cpu-period-huge": {"cpu_period": 2**40},
    "memory-negative": {"memory_limit_in_bytes": -2},
    "oom-score-huge": {"oom_score_adj": 5000},
    "cpuset-garbage": {"cpuset_cpus": "../../etc"},
    "cpuset-huge-cpu": {"cpuset_cpus": "0-" + "9" * 100},
    "cpuset-offline-cpu": {"cpuset_cpus": "8000"},
    "cpuset-offline-node": {"cpuset_mems": "1000"},
    "unified-path": {"unified": {"../x": "1"}},
    "hugepage-garbage": {"hugepage_limits": [pb.HugepageLimit(page_size="1XB", limit=1)]},
}
MOUNTS: dict[str, dict[str, object]] = {
    "host-relative": {"host_path": "relative/dir"},
    "host-empty": {"host_path": ""},
    "host-uncreatable": {"host_path": "/proc/crio-py-nothing/x"},
    "host-nul": {"host_path": "/tmp/a\0b"},
    "host-huge": {"host_path": "/" + "x" * MB},
    "container-relative": {"container_path": "data"},
    "container-nul": {"container_path": "/da\0ta"},
    "propagation-unknown": {"propagation": 9},
}
LOG_PATHS = {
    "dotdot": "../../../etc/x.log",
    "absolute-dotdot": "/../../x.log",
    "directory": "a/..",
    "nul": "a\0b.log",
    "huge": "x" * MB,
}


def _container_cases() -> Iterator[Case]:
    yield case(
        "CreateContainer",
        "no-config",
        lambda t: pb.CreateContainerRequest(pod_sandbox_id=t.pod_id),
        INVALID,
    )
    for label, bad in BAD_IDS.items():
        if label != "unknown":
            yield case("CreateContainer", f"name-{label}", _create(_metadata(name=bad)), INVALID)
    for label, bad in BAD_PATHS.items():
        change = _image_named(bad)
        yield case("CreateContainer", f"image-{label}", _create(change), NOT_FOUND, INVALID)
    yield case("CreateContainer", "image-unknown", _create(_image_named("nothing:1")), NOT_FOUND)
    for label, path in LOG_PATHS.items():
        yield case("CreateContainer", f"log-path-{label}", _create(_set(log_path=path)), INVALID)
    for label, fields in RESOURCES.items():
        yield case("CreateContainer", label, _create(_resources(**fields)), INVALID)
    for label, fields in MOUNTS.items():
        yield case("CreateContainer", f"mount-{label}", _create(_mount(**fields)), INVALID)
    yield from _process_cases()


def _image_named(name: str) -> Callable[[api_pb2.ContainerConfig], None]:
    return lambda config: config.image.CopyFrom(_image(name))


def _security(
    change: Callable[[pb.LinuxContainerSecurityContext], None],
) -> Callable[[pb.ContainerConfig], None]:
    return lambda config: change(config.linux.security_context)


def _process_cases() -> Iterator[Case]:
    missing = pb.Device(
        host_path="/dev/crio-py-nothing", container_path="/dev/x", permissions="rwm"
    )
    rwx = pb.Device(host_path="/dev/null", container_path="/dev/x", permissions="rwx")
    localhost = pb.SecurityProfile(
        profile_type=pb.SecurityProfile.Localhost, localhost_ref="p.json"
    )
    target = pb.NamespaceOption(pid=pb.TARGET, target_id="f" * 64)
    changes: dict[str, Callable[[pb.ContainerConfig], None]] = {
        "device-missing": lambda c: c.devices.append(missing),
        "device-permissions": lambda c: c.devices.append(rwx),
        "working-dir-relative": _set(working_dir="srv"),
        "working-dir-nul": _set(working_dir="/s\0rv"),
        "env-nul": lambda c: c.envs.append(pb.KeyValue(key="A", value="b\0c")),
        "env-key-equals": lambda c: c.envs.append(pb.KeyValue(key="A=B", value="c")),
        "env-key-empty": lambda c: c.envs.append(pb.KeyValue(key="", value="c")),
        "args-nul": _set(args=["/bin/sleep", "10\0"]),
        "command-nul": _set(command=["/bin/sl\0eep"]),
        "user-unknown": _security(lambda s: setattr(s, "run_as_username", "nobody-here")),
        "capability-unknown": _security(
            lambda s: s.capabilities.add_capabilities.append("CAP_NOTHING")
        ),
        "seccomp-relative": _security(lambda s: s.seccomp.CopyFrom(localhost)),
        "stop-signal-unknown": _set(stop_signal=99),
        "namespace-mode-unknown": _options(ipc=9),
    }
    for label, change in changes.items():
        yield case("CreateContainer", label, _create(change), INVALID)
    pid_target = _security(lambda s: s.namespace_options.CopyFrom(target))
    yield case(
        "CreateContainer", "pid-target-unknown", _create(pid_target), PRECONDITION, NOT_FOUND
    )


def _running(rpc: str, **fields: object) -> Build:
    """A request of `rpc` to the running container."""
    request_type = getattr(pb, f"{rpc}Request")
    return lambda t: request_type(container_id=t.container_id, **fields)  # type: ignore[no-any-return]


def _stream_cases() -> Iterator[Case]:
    """Malformed requests aimed at the running container and sandbox."""
    yield case("ExecSync", "no-cmd", _running("ExecSync", cmd=[], timeout=5), INVALID)
    # containerd and CRI-O run a command with a timeout <= 0 without one.
    negative = _running("ExecSync", cmd=["true"], timeout=-5)
    yield case("ExecSync", "timeout-negative", negative, OK, INVALID)
    yield case("ExecSync", "cmd-nul", _running("ExecSync", cmd=["ec\0ho"], timeout=5), INVALID)
    # The container's own execve refuses it: a result that carries the runtime's error.
    huge = _running("ExecSync", cmd=["echo", "x" * MB], timeout=5)
    yield case("ExecSync", "cmd-huge", huge, OK, INVALID)
    yield case("Exec", "no-cmd", _running("Exec", stdout=True), INVALID)
    yield case("Exec", "no-streams", _running("Exec", cmd=["sh"]), INVALID)
    tty_stderr = _running("Exec", cmd=["sh"], tty=True, stdout=True, stderr=True)
    yield case("Exec", "tty-and-stderr", tty_stderr, INVALID)
    yield case("Exec", "cmd-nul", _running("Exec", cmd=["s\0h"], stdout=True), INVALID)
    yield case("Attach", "no-streams", _running("Attach"), INVALID)
    yield case(
        "Attach", "stdin-not-open", _running("Attach", stdin=True, stdout=True), PRECONDITION
    )
    for label, port in (("0", 0), ("negative", -1), ("huge", 70000)):
        forward = lambda t, port=port: pb.PortForwardRequest(pod_sandbox_id=t.pod_id, port=[port])  # noqa: E731
        yield case("PortForward", f"port-{label}", forward, INVALID)
    for label, fields in RESOURCES.items():
        yield case("UpdateContainerResources", label, _update(**fields), INVALID)


def _image_cases() -> Iterator[Case]:
    unknown = lambda t: pb.PullImageRequest(image=_image(f"{t.registry}/nothing-here:1"))  # noqa: E731
    yield case("PullImage", "unknown-repository", unknown, NOT_FOUND)
    for label, ref in (("reference-garbage", "UPPER/Case:@@"), ("digest-garbage", "b@sha256:x")):
        yield case("PullImage", label, _fixed(pb.PullImageRequest(image=_image(ref))), INVALID)
    yield case("PullImage", "auth-not-base64", _pull_auth("not base64!"), INVALID)
    not_utf8 = base64.b64encode(b"\xff\xfe:\xfd").decode()
    yield case("PullImage", "auth-not-utf8", _pull_auth(not_utf8), INVALID)
    no_colon = base64.b64encode(b"justauser").decode()
    yield case("PullImage", "auth-no-colon", _pull_auth(no_colon), INVALID)
    # Base64 of garbage without a ':' (or, if it had one, credentials the registry refuses).
    yield case(
        "PullImage", "auth-huge", _pull_auth("A" * MB), INVALID, grpc.StatusCode.PERMISSION_DENIED
    )


def _plain_cases() -> Iterator[Case]:
    """RPCs without ids: unknown enum values in filters, huge fields they ignore."""
    state = pb.ContainerFilter(state=pb.ContainerStateValue(state=9))
    yield case(
        "ListContainers", "state-unknown", _fixed(pb.ListContainersRequest(filter=state)), OK
    )
    pod_state = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=9))
    yield case(
        "ListPodSandbox", "state-unknown", _fixed(pb.ListPodSandboxRequest(filter=pod_state)), OK
    )
    plain = {
        "ListPodSandboxMetrics": pb.ListPodSandboxMetricsRequest(),
        "ListMetricDescriptors": pb.ListMetricDescriptorsRequest(),
        "ImageFsInfo": pb.ImageFsInfoRequest(),
        "RuntimeConfig": pb.RuntimeConfigRequest(),
        "Status": pb.StatusRequest(verbose=True),
        "Version": pb.VersionRequest(version="v" * MB),
    }
    for rpc, request in plain.items():
        yield case(rpc, "plain", _fixed(request), OK)
    yield case("GetContainerEvents", "plain", _fixed(pb.GetEventsRequest()), OK)


CASES = [
    *_id_cases(),
    *_sandbox_field_cases(),
    *_sandbox_config_cases(),
    *_container_cases(),
    *_stream_cases(),
    *_image_cases(),
    *_plain_cases(),
]


def test_the_table_covers_every_rpc() -> None:
    rpcs = {
        method.name
        for service in ("RuntimeService", "ImageService")
        for method in api_pb2.DESCRIPTOR.services_by_name[service].methods
    }
    assert rpcs == {c.rpc for c in CASES}
    assert len({c.id for c in CASES}) == len(CASES)


# -- the daemon ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory, pushed_images: PushedImages
) -> Iterator[Target]:
    registry = pushed_images.registries["plain"].host
    with node(tmp_path_factory.mktemp("bad"), registry) as current:
        current.busybox = current.pull(pushed_images.ref("plain", "busybox"))
        pod_id, pod = current.run_pod("victim")
        container_id = current.create(
            pod_id, pod, container_config("app", current.busybox, "/bin/sleep", "1000")
        )
        current.start(container_id)
        yield Target(current, pod_id, pod, container_id, registry)
        current.remove_everything()
        assert current.leaks() == []


def _state(target: Target) -> dict[str, object]:
    """What a bad request may not change."""
    runtime = target.runtime
    work = str(target.node.daemon.workdir)
    pins = target.node.daemon.state / "ns"
    return {
        "sandboxes": sorted(
            (s.id, s.state) for s in runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items
        ),
        "containers": sorted(
            (c.id, c.state)
            for c in runtime.ListContainers(api_pb2.ListContainersRequest()).containers
        ),
        "mounts": sorted(m for m in mount_points() if m.startswith(work)),
        "pins": sorted(os.listdir(pins)) if pins.is_dir() else [],
        "logs": sorted(str(p) for p in Path(target.node.log_dir).rglob("*")),
        "images": sorted(
            i.id for i in target.images.ListImages(api_pb2.ListImagesRequest()).images
        ),
    }


def _call(target: Target, rpc: str, request: Message) -> grpc.StatusCode:
    stub = target.images if rpc in IMAGE_RPCS else target.runtime
    method = getattr(stub, rpc)
    try:
        if rpc == "GetContainerEvents":
            return _open_stream(method(request, timeout=2))
        method(request, timeout=60)
    except grpc.RpcError as error:
        details = error.details() or ""
        assert len(details.encode()) < MESSAGE_BOUND, f"{len(details)} bytes: {details[:300]}"
        assert error.code() not in NEVER, details
        return error.code()  # type: ignore[no-any-return]
    return OK


def _open_stream(reply: Iterator[Message]) -> grpc.StatusCode:
    """An events stream is fine when it carries an event or stays open until the deadline."""
    try:
        next(iter(reply))
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    return OK


def _remove_new(target: Target, before: dict[str, object]) -> None:
    """Remove what a request that should have failed created, so one bad answer does not
    make the cases after it fail."""
    runtime = target.runtime
    kept_containers = {cid for cid, _ in before["containers"]}  # type: ignore[attr-defined]
    kept_sandboxes = {sid for sid, _ in before["sandboxes"]}  # type: ignore[attr-defined]
    for item in runtime.ListContainers(api_pb2.ListContainersRequest()).containers:
        if item.id not in kept_containers:
            runtime.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=item.id))
    for sandbox in runtime.ListPodSandbox(api_pb2.ListPodSandboxRequest()).items:
        if sandbox.id not in kept_sandboxes:
            runtime.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id))


@pytest.mark.parametrize("bad", CASES, ids=lambda c: c.id)
def test_a_bad_request_gets_a_clear_bounded_status(target: Target, bad: Case) -> None:
    before = _state(target)
    log_path = target.node.daemon.log_path
    logged = log_path.stat().st_size
    try:
        code = _call(target, bad.rpc, bad.build(target))
        want = sorted(c.name for c in bad.codes)
        assert code in bad.codes, f"{bad.id} answered {code.name}, want {want}"
        target.runtime.Version(api_pb2.VersionRequest(), timeout=10)
        target.runtime.Status(api_pb2.StatusRequest(), timeout=10)
        assert _state(target) == before
        with log_path.open("rb") as log:
            log.seek(logged)
            written = log.read()
        assert len(written) < LOG_BOUND, f"{len(written)} bytes logged"
        assert b"Traceback" not in written, written.decode(errors="replace")[-2000:]
    finally:
        _remove_new(target, before)
