"""What the spec builders take: the CRI messages, the image config and the facts about the
host and the sandbox that the caller has already gathered (so the builders stay pure).

The caller (cri/) stats device nodes, probes the host and prepares the sandbox's files; ocispec
only reads the image's /etc/passwd and /etc/group and seccomp profile files.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cri_api.v1 import api_pb2

from crio_py.config.model import CgroupDriver, RuntimeHandler, RuntimeSettings

NamespaceKind = Literal["network", "ipc", "uts", "pid", "user"]
# platform.machine() → the GOARCH names that seccomp profiles use in "arches".
_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
    "riscv64": "riscv64", "i386": "386", "i686": "386",
}  # fmt: skip


def native_arch() -> str:
    """This machine's architecture as Go names it (amd64, arm64, …)."""
    machine = platform.machine().lower()
    return _GOARCH.get(machine, machine)


@dataclass(frozen=True, kw_only=True)
class HostFeatures:
    """What the host supports. Defaults are the safe choice: a feature is off until probed."""

    apparmor: bool = False
    cgroup_v2: bool = False
    swap_controller: bool = False
    hugetlb_controller: bool = False
    recursive_read_only_mounts: bool = False
    # Whether pods can have user namespaces: the kernel idmaps mounts of the root dir's
    # filesystem through a user namespace the daemon pinned.
    user_namespaces: bool = False
    # Whether the daemon holds CAP_SYS_RESOURCE, without which it cannot give a child a lower
    # oom_score_adj than its own (rootless, or a restricted root in a container).
    can_lower_oom_score_adj: bool = False
    # The daemon's bounding set: what "privileged" and "ALL" can grant (containerd's
    # WithAllCurrentCapabilities); None means every capability Linux defines.
    capabilities: tuple[str, ...] | None = None
    # The CPUs and memory nodes that are online ("0-3"); "" when unknown (nothing is checked).
    online_cpus: str = ""
    online_mems: str = ""
    arch: str = field(default_factory=native_arch)


@dataclass(frozen=True, kw_only=True)
class HostDevice:
    """A device node on the host, as the caller stat()ed it."""

    path: str
    type: Literal["c", "b", "u", "p"]
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, kw_only=True)
class PodRequest:
    """Fields both kinds of spec need."""

    sandbox_id: str
    sandbox_config: api_pb2.PodSandboxConfig
    image_config: Mapping[str, object]  # OCI image config JSON, with its "config" object
    image_name: str
    rootfs_path: Path
    settings: RuntimeSettings
    # Namespaces to join, by kind: {"network": "/run/crio-py/netns/…", "ipc": …}. A kind not
    # listed is created (or, in a host mode, left to the host).
    namespace_paths: Mapping[NamespaceKind, str] = field(default_factory=dict)
    cgroup_parent: str = ""
    cgroup_driver: CgroupDriver = "cgroupfs"
    hostname: str = ""
    # Files the sandbox prepared, container path → host path: /etc/hosts, /etc/resolv.conf,
    # /etc/hostname, /dev/shm.
    sandbox_files: Mapping[str, str] = field(default_factory=dict)
    daemon_oom_score_adj: int = 0
    host: HostFeatures = field(default_factory=HostFeatures)
    handler: RuntimeHandler | None = None
    # Whether the sandbox runs an infra container. Without one no container is marked as
    # joining a sandbox container, so runsc gives each its own gVisor sandbox.
    infra_container: bool = True


@dataclass(frozen=True, kw_only=True)
class SpecRequest(PodRequest):
    """Everything `container_spec` needs for one CRI container."""

    container_id: str
    config: api_pb2.ContainerConfig
    # Host devices by host path: each one the CRI config names, and all of /dev for a
    # privileged container (unless the handler says privileged_without_host_devices).
    host_devices: Mapping[str, HostDevice] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SandboxSpecRequest(PodRequest):
    """Everything `sandbox_spec` needs for the infra (pause) container of a sandbox."""
