"""container_spec and sandbox_spec end to end (ocispec/builder.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cri_api.v1 import api_pb2 as pb

from crio_py import ocispec
from crio_py.config.model import RuntimeSettings
from crio_py.errors import InvalidArgumentError
from crio_py.ocispec import HostDevice, HostFeatures, SandboxSpecRequest, SpecRequest
from crio_py.ocispec.defaults import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
)
from tests.unit.ocispec.conftest import MakeRequest, MakeSandbox
from tests.unit.ocispec.helpers import (
    container_config,
    sandbox_config,
    with_defaults,
    with_security,
)

CID, SID = "c" * 64, "s" * 64
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What a containerd 2.x (config version 3) default turns on in a pod's own network namespace.
UNPRIVILEGED = {
    "net.ipv4.ip_unprivileged_port_start": "0",
    "net.ipv4.ping_group_range": "0 2147483647",
}
POD_PATHS = {
    "network": "/run/crio-py/netns/cni-1",
    "ipc": "/proc/42/ns/ipc",
    "uts": "/proc/42/ns/uts",
    "pid": "/proc/42/ns/pid",
}
FILES = {
    "/etc/hosts": "/var/lib/crio-py/sb/hosts",
    "/etc/resolv.conf": "/var/lib/crio-py/sb/resolv",
    "/etc/hostname": "/var/lib/crio-py/sb/hostname",
    "/dev/shm": "/run/crio-py/sb/shm",
}
DEFAULT_MOUNTS = [
    {
        "destination": "/proc",
        "type": "proc",
        "source": "proc",
        "options": ["nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    {
        "destination": "/dev/mqueue",
        "type": "mqueue",
        "source": "mqueue",
        "options": ["nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/sys",
        "type": "sysfs",
        "source": "sysfs",
        "options": ["nosuid", "noexec", "nodev", "ro"],
    },
    {
        "destination": "/sys/fs/cgroup",
        "type": "cgroup",
        "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
]


def container_spec(request: SpecRequest) -> Any:
    """The spec, typed loosely so that tests can index into it."""
    return ocispec.container_spec(request)


def sandbox_spec(request: SandboxSpecRequest) -> Any:
    """The sandbox spec, typed loosely so that tests can index into it."""
    return ocispec.sandbox_spec(request)


def caps_json(caps: tuple[str, ...]) -> dict[str, object]:
    return {
        "bounding": list(caps),
        "effective": list(caps),
        "permitted": list(caps),
        "inheritable": [],
        "ambient": [],
    }


def test_minimal_container_spec(make_request: MakeRequest, rootfs: Path) -> None:
    assert container_spec(make_request()) == {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0, "additionalGids": [0]},
            "args": ["sh"],
            "env": [PATH_ENV, "HOSTNAME=web-host"],
            "cwd": "/",
            "capabilities": caps_json(DEFAULT_CAPABILITIES),
            "noNewPrivileges": False,
        },
        "root": {"path": str(rootfs), "readonly": False},
        "mounts": DEFAULT_MOUNTS,
        "annotations": {
            "io.kubernetes.cri.sandbox-id": SID,
            "io.kubernetes.cri.sandbox-namespace": "default",
            "io.kubernetes.cri.sandbox-uid": "pod-uid",
            "io.kubernetes.cri.sandbox-name": "web",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.image-name": "registry.local/app:1",
            "io.kubernetes.cri.container-type": "container",
        },
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "cgroupsPath": f"/k8s.io/{CID}",
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "network"},
            ],
            "sysctl": UNPRIVILEGED,
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
        },
        "hostname": "web-host",
    }


def test_pod_container_joins_the_sandbox(make_request: MakeRequest) -> None:
    security = pb.LinuxContainerSecurityContext(
        namespace_options=pb.NamespaceOption(pid=pb.POD), readonly_rootfs=True
    )
    spec = container_spec(
        make_request(
            config=container_config(
                security, tty=True, working_dir="/srv", envs=[pb.KeyValue(key="MODE", value="prod")]
            ),
            image_config={"config": {"Env": ["PATH=/app/bin", "MODE=dev"], "User": "app"}},
            namespace_paths=POD_PATHS,
            sandbox_files=FILES,
            cgroup_parent="/kubepods/besteffort/pod-uid",
        )
    )
    assert "hostname" not in spec  # the UTS namespace is the sandbox's
    process = spec["process"]
    assert process["terminal"] is True
    assert process["env"] == ["PATH=/app/bin", "TERM=xterm", "HOSTNAME=web-host", "MODE=prod"]
    assert process["cwd"] == "/srv"
    assert process["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 29, 1000]}
    assert spec["root"] == {"path": str(make_request().rootfs_path), "readonly": True}
    linux = spec["linux"]
    assert linux["cgroupsPath"] == f"/kubepods/besteffort/pod-uid/{CID}"
    assert linux["namespaces"] == [
        {"type": "pid", "path": "/proc/42/ns/pid"},
        {"type": "ipc", "path": "/proc/42/ns/ipc"},
        {"type": "uts", "path": "/proc/42/ns/uts"},
        {"type": "mount"},
        {"type": "network", "path": "/run/crio-py/netns/cni-1"},
    ]
    binds = [m for m in spec["mounts"] if m["type"] == "bind"]
    assert binds == [
        {
            "destination": "/dev/shm",
            "type": "bind",
            "source": "/run/crio-py/sb/shm",
            "options": ["rbind", "rprivate", "rw"],
        },
        {
            "destination": "/etc/hostname",
            "type": "bind",
            "source": "/var/lib/crio-py/sb/hostname",
            "options": ["rbind", "rprivate", "ro"],
        },
        {
            "destination": "/etc/hosts",
            "type": "bind",
            "source": "/var/lib/crio-py/sb/hosts",
            "options": ["rbind", "rprivate", "ro"],
        },
        {
            "destination": "/etc/resolv.conf",
            "type": "bind",
            "source": "/var/lib/crio-py/sb/resolv",
            "options": ["rbind", "rprivate", "ro"],
        },
    ]
    assert "/dev/shm" not in [m["destination"] for m in spec["mounts"] if m["type"] == "tmpfs"]


def test_host_namespaces(make_request: MakeRequest) -> None:
    options = pb.NamespaceOption(network=pb.NODE, pid=pb.NODE, ipc=pb.NODE)
    sandbox = sandbox_config(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=options),
        sysctls={"net.core.somaxconn": "1024", "kernel.shmmax": "1", "vm.swappiness": "1"},
    )
    security = pb.LinuxContainerSecurityContext(namespace_options=options)
    spec = container_spec(
        make_request(config=container_config(security), sandbox_config=sandbox, sandbox_files=FILES)
    )
    linux = spec["linux"]
    assert linux["namespaces"] == [{"type": "mount"}]
    assert linux["sysctl"] == {"vm.swappiness": "1"}
    assert "hostname" not in spec
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert shm["source"] == "/dev/shm"


def test_network_and_ipc_modes_follow_the_sandbox(make_request: MakeRequest) -> None:
    """containerd joins the sandbox's network and IPC whatever the container config says
    (critest's host-network port-forward sends no namespace options for the container)."""
    options = pb.NamespaceOption(network=pb.NODE, ipc=pb.NODE)
    sandbox = sandbox_config(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=options)
    )
    spec = container_spec(make_request(sandbox_config=sandbox, sandbox_files=FILES))
    kinds = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert kinds == ["pid", "mount"]
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert shm["source"] == "/dev/shm"


def test_privileged_container(make_request: MakeRequest) -> None:
    sandbox = sandbox_config(security_context=pb.LinuxSandboxSecurityContext(privileged=True))
    security = pb.LinuxContainerSecurityContext(
        privileged=True,
        seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
        masked_paths=["/proc/kcore"],
        capabilities=pb.Capability(drop_capabilities=["ALL"]),
    )
    devices = {
        "/dev/fuse": HostDevice(path="/dev/fuse", type="c", major=10, minor=229),
        "/dev/null": HostDevice(path="/dev/null", type="c", major=1, minor=3),
    }
    request = make_request(
        config=container_config(security),
        sandbox_config=sandbox,
        host_devices=devices,
        host=HostFeatures(arch="amd64", apparmor=True, cgroup_v2=True),
    )
    spec = container_spec(request)
    process, linux = spec["process"], spec["linux"]
    assert process["capabilities"] == caps_json(ALL_CAPABILITIES)
    assert "apparmorProfile" not in process
    assert not {"seccomp", "maskedPaths", "readonlyPaths"} & set(linux)
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert [d["path"] for d in linux["devices"]] == ["/dev/fuse", "/dev/null"]
    assert {"type": "cgroup"} not in linux["namespaces"]
    sysfs = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert sysfs["options"][-1] == "rw"

    # A daemon without CAP_SYS_RESOURCE can only grant what it holds (runc would fail).
    restricted = HostFeatures(arch="amd64", capabilities=(*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"))
    spec = container_spec(
        make_request(config=container_config(security), sandbox_config=sandbox, host=restricted)
    )
    assert spec["process"]["capabilities"] == caps_json(
        tuple(c for c in ALL_CAPABILITIES if c in restricted.capabilities)  # kernel order
    )

    handler = request.settings.runtimes["runc"].model_copy(
        update={"privileged_without_host_devices": True}
    )
    spec = container_spec(
        make_request(
            config=container_config(security),
            sandbox_config=sandbox,
            host_devices=devices,
            handler=handler,
        )
    )
    assert "devices" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]


def test_privileged_container_needs_a_privileged_sandbox(make_request: MakeRequest) -> None:
    security = pb.LinuxContainerSecurityContext(privileged=True)
    with pytest.raises(InvalidArgumentError, match="no privileged container allowed"):
        container_spec(make_request(config=container_config(security)))


def test_security_settings_reach_the_spec(make_request: MakeRequest) -> None:
    security = pb.LinuxContainerSecurityContext(
        no_new_privs=True,
        capabilities=pb.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["KILL"]),
        seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
        masked_paths=["/proc/x"],
        readonly_paths=["/proc/y"],
    )
    spec = container_spec(
        make_request(
            config=container_config(security),
            host=HostFeatures(arch="amd64", apparmor=True, cgroup_v2=True),
        )
    )
    process, linux = spec["process"], spec["linux"]
    assert process["noNewPrivileges"] is True
    assert process["apparmorProfile"] == "cri-containerd.apparmor.d"
    bounding = process["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in bounding and "CAP_KILL" not in bounding
    assert linux["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert (linux["maskedPaths"], linux["readonlyPaths"]) == (["/proc/x"], ["/proc/y"])
    assert linux["namespaces"][-1] == {"type": "cgroup"}


def test_container_defaults_from_settings(
    make_request: MakeRequest, settings: RuntimeSettings
) -> None:
    configured = with_defaults(
        settings,
        capabilities=("CHOWN", "KILL"),
        sysctls={"net.ipv4.ip_unprivileged_port_start": "0", "kernel.msgmax": "8192"},
        ulimits=("nofile=1024:2048",),
        env=("TZ=UTC", "MODE=default"),
        pids_limit=512,
        read_only=True,
    )
    sandbox = sandbox_config(sysctls={"kernel.msgmax": "65536"})
    config = container_config(envs=[pb.KeyValue(key="MODE", value="cri")])
    spec = container_spec(make_request(settings=configured, sandbox_config=sandbox, config=config))
    process, linux = spec["process"], spec["linux"]
    assert process["capabilities"] == caps_json(("CAP_CHOWN", "CAP_KILL"))
    assert process["env"] == [PATH_ENV, "HOSTNAME=web-host", "TZ=UTC", "MODE=cri"]
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}]
    assert linux["sysctl"] == {**UNPRIVILEGED, "kernel.msgmax": "65536"}
    assert linux["resources"]["pids"] == {"limit": 512}
    assert spec["root"]["readonly"] is True
    tmpfs = [m["destination"] for m in spec["mounts"] if m["source"] == "tmpfs"]
    assert tmpfs == ["/dev", "/run", "/tmp", "/var/tmp"]


def test_resources_and_oom_score(make_request: MakeRequest, settings: RuntimeSettings) -> None:
    resources = pb.LinuxContainerResources(
        cpu_shares=256, memory_limit_in_bytes=1 << 30, oom_score_adj=-900
    )
    config = container_config(linux=pb.LinuxContainerConfig(resources=resources))
    spec = container_spec(make_request(config=config, daemon_oom_score_adj=-500))
    assert spec["process"]["oomScoreAdj"] == -900
    assert spec["linux"]["resources"] == {
        "cpu": {"shares": 256},
        "memory": {"limit": 1073741824},
        "devices": [{"allow": False, "access": "rwm"}],
    }
    restricted = with_security(settings, restrict_oom_score_adj=True)
    spec = container_spec(
        make_request(config=config, settings=restricted, daemon_oom_score_adj=-500)
    )
    assert spec["process"]["oomScoreAdj"] == -500
    # Until the caller says the daemon holds CAP_SYS_RESOURCE, it may not lower the score.
    unprobed = HostFeatures(arch="amd64")
    spec = container_spec(make_request(config=config, host=unprobed, daemon_oom_score_adj=-500))
    assert spec["process"]["oomScoreAdj"] == -500
    # No resources in the request: the score is inherited, not set.
    assert "oomScoreAdj" not in container_spec(make_request())["process"]


@pytest.mark.parametrize(
    ("parent", "driver", "expected"),
    [
        ("/kubepods/burstable/pod-uid", "cgroupfs", f"/kubepods/burstable/pod-uid/{CID}"),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod_uid.slice",
            "systemd",
            f"kubepods-burstable-pod_uid.slice:cri-containerd:{CID}",
        ),
    ],
)
def test_cgroup_drivers(make_request: MakeRequest, parent: str, driver: str, expected: str) -> None:
    spec = container_spec(make_request(cgroup_parent=parent, cgroup_driver=driver))
    assert spec["linux"]["cgroupsPath"] == expected


def test_annotations_pass_through_only_what_the_handler_allows(
    make_request: MakeRequest, settings: RuntimeSettings
) -> None:
    handler = settings.runtimes["runc"].model_copy(
        update={"allowed_annotations": ("io.katacontainers.*", "example.com/keep")}
    )
    sandbox = sandbox_config()
    sandbox.annotations.update({"io.katacontainers.config": "pod", "other": "x"})
    config = container_config(
        annotations={
            "example.com/keep": "1",
            "example.com/drop": "2",
            "io.kubernetes.cri.container-type": "forged",
        }
    )
    spec = container_spec(make_request(config=config, sandbox_config=sandbox, handler=handler))
    annotations = spec["annotations"]
    assert annotations["io.katacontainers.config"] == "pod"
    assert annotations["example.com/keep"] == "1"
    assert not {"other", "example.com/drop"} & set(annotations)
    assert annotations["io.kubernetes.cri.container-type"] == "container"


def test_devices(make_request: MakeRequest) -> None:
    config = container_config(
        devices=[pb.Device(container_path="/dev/fuse", host_path="/dev/fuse", permissions="rwm")]
    )
    fuse = HostDevice(path="/dev/fuse", type="c", major=10, minor=229)
    spec = container_spec(make_request(config=config, host_devices={"/dev/fuse": fuse}))
    linux = spec["linux"]
    assert linux["devices"] == [
        {
            "path": "/dev/fuse",
            "type": "c",
            "major": 10,
            "minor": 229,
            "fileMode": 0o666,
            "uid": 0,
            "gid": 0,
        }
    ]
    assert linux["resources"]["devices"] == [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
    ]


def test_mount_propagation_sets_the_rootfs_propagation(make_request: MakeRequest) -> None:
    mount = pb.Mount(
        container_path="/var/lib/kubelet",
        host_path="/var/lib/kubelet",
        propagation=pb.PROPAGATION_BIDIRECTIONAL,
    )
    spec = container_spec(make_request(config=container_config(mounts=[mount])))
    assert spec["linux"]["rootfsPropagation"] == "rshared"
    assert spec["mounts"][-1]["options"] == ["rbind", "rshared", "rw"]


def test_run_as_user_group_and_supplemental_groups(make_request: MakeRequest) -> None:
    security = pb.LinuxContainerSecurityContext(
        run_as_user=pb.Int64Value(value=1000),
        run_as_group=pb.Int64Value(value=3000),
        supplemental_groups=[4000],
        supplemental_groups_policy=pb.Strict,
    )
    spec = container_spec(make_request(config=container_config(security)))
    assert spec["process"]["user"] == {"uid": 1000, "gid": 3000, "additionalGids": [3000, 4000]}
    by_name = pb.LinuxContainerSecurityContext(run_as_username="app")
    spec = container_spec(
        make_request(config=container_config(by_name), image_config={"config": {"User": "nobody"}})
    )
    assert spec["process"]["user"]["uid"] == 1000


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            container_config(pb.LinuxContainerSecurityContext(run_as_user=pb.Int64Value(value=-1))),
            "must not be negative",
        ),
        (
            container_config(pb.LinuxContainerSecurityContext(run_as_group=pb.Int64Value(value=5))),
            "run_as_group is set without run_as_user",
        ),
        (
            container_config(
                linux=pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(cpu_shares=-2))
            ),
            "cpu_shares -2",
        ),
        (
            container_config(
                pb.LinuxContainerSecurityContext(
                    capabilities=pb.Capability(add_capabilities=["FLY"])
                )
            ),
            "unknown capability 'FLY'",
        ),
        (
            container_config(mounts=[pb.Mount(container_path="data", host_path="/d")]),
            "is not an absolute path",
        ),
        (container_config(command=[]), "no command specified"),
    ],
)
def test_invalid_requests(
    make_request: MakeRequest, config: pb.ContainerConfig, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        container_spec(make_request(config=config))


def test_spec_is_json_ready(make_request: MakeRequest) -> None:
    security = pb.LinuxContainerSecurityContext(
        seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault)
    )
    spec = container_spec(make_request(config=container_config(security)))
    assert json.loads(json.dumps(spec)) == spec


def test_minimal_sandbox_spec(make_sandbox: MakeSandbox, rootfs: Path) -> None:
    assert sandbox_spec(make_sandbox()) == {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 65535, "gid": 65535, "additionalGids": [65535]},
            "args": ["/pause"],
            "env": [PATH_ENV],
            "cwd": "/",
            "capabilities": caps_json(DEFAULT_CAPABILITIES),
            "noNewPrivileges": True,
            "oomScoreAdj": -998,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "mounts": DEFAULT_MOUNTS[:-1],
        "annotations": {
            "io.kubernetes.cri.sandbox-id": SID,
            "io.kubernetes.cri.sandbox-namespace": "default",
            "io.kubernetes.cri.sandbox-uid": "pod-uid",
            "io.kubernetes.cri.sandbox-name": "web",
            "io.kubernetes.cri.sandbox-log-directory": "/var/log/pods/default_web_pod-uid",
            "io.kubernetes.cri.podsandbox.image-name": "registry.k8s.io/pause:3.10",
            "io.kubernetes.cri.container-type": "sandbox",
        },
        "linux": {
            "resources": {"cpu": {"shares": 2}, "devices": [{"allow": False, "access": "rwm"}]},
            "cgroupsPath": f"/k8s.io/{SID}",
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "network"},
            ],
            "sysctl": UNPRIVILEGED,
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
        },
        "hostname": "web-host",
    }


def test_sandbox_with_resources_files_and_pinned_netns(
    make_sandbox: MakeSandbox, settings: RuntimeSettings
) -> None:
    sandbox = sandbox_config(
        cgroup_parent="kubepods-burstable-pod_uid.slice",
        resources=pb.LinuxContainerResources(
            cpu_quota=20000, cpu_period=100000, memory_limit_in_bytes=64 << 20
        ),
        sysctls={"net.ipv4.ip_forward": "1"},
        security_context=pb.LinuxSandboxSecurityContext(
            run_as_user=pb.Int64Value(value=1000),
            seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
        ),
    )
    request = make_sandbox(
        sandbox_config=sandbox,
        settings=with_security(settings, restrict_oom_score_adj=True),
        daemon_oom_score_adj=-999,
        namespace_paths={"network": "/run/crio-py/netns/cni-1"},
        sandbox_files={"/dev/shm": "/run/crio-py/sb/shm", "/etc/resolv.conf": "/var/lib/sb/resolv"},
        cgroup_parent=sandbox.linux.cgroup_parent,
        cgroup_driver="systemd",
        hostname="web-0",
    )
    spec = sandbox_spec(request)
    process, linux = spec["process"], spec["linux"]
    assert process["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 29, 1000]}
    assert process["oomScoreAdj"] == -998  # above the daemon's -999: kept
    assert spec["hostname"] == "web-0"
    assert linux["cgroupsPath"] == f"kubepods-burstable-pod_uid.slice:cri-containerd:{SID}"
    assert linux["resources"] == {
        "cpu": {"shares": 2, "quota": 20000, "period": 100000},
        "memory": {"limit": 67108864},
        "devices": [{"allow": False, "access": "rwm"}],
    }
    assert linux["namespaces"][-1] == {"type": "network", "path": "/run/crio-py/netns/cni-1"}
    assert linux["sysctl"] == {**UNPRIVILEGED, "net.ipv4.ip_forward": "1"}
    assert "seccomp" in linux
    binds = [m for m in spec["mounts"] if m["type"] == "bind"]
    assert binds == [
        {
            "destination": "/dev/shm",
            "type": "bind",
            "source": "/run/crio-py/sb/shm",
            "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
        },
        {
            "destination": "/etc/resolv.conf",
            "type": "bind",
            "source": "/var/lib/sb/resolv",
            "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
        },
    ]


def test_sandbox_oom_score_is_clamped(make_sandbox: MakeSandbox, settings: RuntimeSettings) -> None:
    request = make_sandbox(
        settings=with_security(settings, restrict_oom_score_adj=True), daemon_oom_score_adj=-500
    )
    assert sandbox_spec(request)["process"]["oomScoreAdj"] == -500


def test_host_network_privileged_sandbox(make_sandbox: MakeSandbox) -> None:
    options = pb.NamespaceOption(network=pb.NODE, ipc=pb.NODE, pid=pb.NODE)
    sandbox = sandbox_config(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=options, privileged=True)
    )
    spec = sandbox_spec(make_sandbox(sandbox_config=sandbox, sandbox_files={"/dev/shm": "/x"}))
    assert spec["linux"]["namespaces"] == [{"type": "mount"}]
    assert "hostname" not in spec
    assert "maskedPaths" not in spec["linux"]
    assert spec["process"]["capabilities"]["bounding"] == list(ALL_CAPABILITIES)
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert shm["source"] == "/dev/shm"


def test_sandbox_rejects_a_negative_user(make_sandbox: MakeSandbox) -> None:
    security = pb.LinuxSandboxSecurityContext(run_as_group=pb.Int64Value(value=-3))
    with pytest.raises(InvalidArgumentError, match="must not be negative"):
        sandbox_spec(make_sandbox(sandbox_config=sandbox_config(security_context=security)))


def test_a_stop_signal_the_cri_does_not_define_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="stop_signal 99 is not a signal"):
        ocispec.stop_signal({}, pb.ContainerConfig(stop_signal=99))  # type: ignore[arg-type]


def _unprivileged(settings: RuntimeSettings, *, ports: bool, icmp: bool) -> RuntimeSettings:
    return settings.model_copy(
        update={"enable_unprivileged_ports": ports, "enable_unprivileged_icmp": icmp}
    )


@pytest.mark.parametrize(
    ("ports", "icmp", "expected"),
    [
        (False, False, {}),
        (True, False, {"net.ipv4.ip_unprivileged_port_start": "0"}),
        (False, True, {"net.ipv4.ping_group_range": "0 2147483647"}),
        (True, True, UNPRIVILEGED),
    ],
)
def test_unprivileged_ports_and_icmp_follow_the_settings(
    make_sandbox: MakeSandbox,
    settings: RuntimeSettings,
    ports: bool,
    icmp: bool,
    expected: dict[str, str],
) -> None:
    spec = sandbox_spec(make_sandbox(settings=_unprivileged(settings, ports=ports, icmp=icmp)))
    assert spec["linux"].get("sysctl", {}) == expected


def test_unprivileged_sysctls_stay_out_of_the_host_network(
    make_request: MakeRequest, settings: RuntimeSettings
) -> None:
    options = pb.NamespaceOption(network=pb.NODE)
    sandbox = sandbox_config(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=options)
    )
    security = pb.LinuxContainerSecurityContext(namespace_options=options)
    request = make_request(
        settings=_unprivileged(settings, ports=True, icmp=True),
        config=container_config(security),
        sandbox_config=sandbox,
    )
    assert "sysctl" not in container_spec(request)["linux"]


def test_a_sysctl_the_pod_sets_wins_over_the_unprivileged_default(
    make_sandbox: MakeSandbox, settings: RuntimeSettings
) -> None:
    sandbox = sandbox_config(sysctls={"net.ipv4.ip_unprivileged_port_start": "1024"})
    request = make_sandbox(
        settings=_unprivileged(settings, ports=True, icmp=True), sandbox_config=sandbox
    )
    assert sandbox_spec(request)["linux"]["sysctl"] == {
        "net.ipv4.ip_unprivileged_port_start": "1024",
        "net.ipv4.ping_group_range": "0 2147483647",
    }


def test_the_ping_range_is_left_out_in_a_user_namespace(
    make_sandbox: MakeSandbox, settings: RuntimeSettings
) -> None:
    userns = pb.UserNamespace(
        mode=pb.POD,
        uids=[pb.IDMapping(host_id=100000, container_id=0, length=65536)],
        gids=[pb.IDMapping(host_id=100000, container_id=0, length=65536)],
    )
    options = pb.NamespaceOption(userns_options=userns)
    sandbox = sandbox_config(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=options)
    )
    request = make_sandbox(
        settings=_unprivileged(settings, ports=True, icmp=True),
        sandbox_config=sandbox,
        namespace_paths={"user": "/run/crio-py/userns/1"},
    )
    assert sandbox_spec(request)["linux"]["sysctl"] == {"net.ipv4.ip_unprivileged_port_start": "0"}
