"""linux.resources, the OOM score, the cgroups path, rlimits and sysctls.

Resources follow containerd's `internal/cri/opts.WithResources` (zero means "not set"; swap
equals the memory limit unless asked otherwise, so a container does not swap by default);
ulimits and default sysctls follow CRI-O's `default_ulimits` / `default_sysctls`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Final

from cri_api.v1 import api_pb2

from crio_py.config.model import CgroupDriver
from crio_py.errors import InvalidArgumentError, quote
from crio_py.ocispec.defaults import (
    CRIO_CGROUPFS_PARENT,
    CRIO_SCOPE_PREFIX,
    SYSTEMD_SCOPE_PREFIX,
)
from crio_py.ocispec.request import HostFeatures

MAX_CPU_SHARES: Final = 262144
MAX_CPUS: Final = 8192
"""Linux's largest NR_CPUS (and MAX_NUMNODES is smaller): no cpuset names a CPU beyond it."""
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_PAGE_SIZE = re.compile(r"^\d+(KB|MB|GB|TB|PB)$")
_UNLIMITED: Final = 2**64 - 1
_RLIMITS: Final = frozenset(
    {"as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
     "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
)  # fmt: skip
# Sysctls that belong to a namespace the container may share with the host.
_IPC_SYSCTLS: Final = ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")
# The sysctls runc lets a container set: those of a namespace it has (runc's validator).
_NAMESPACED_SYSCTLS: Final = frozenset(
    {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
     "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.domainname",
     "kernel.hostname"}
)  # fmt: skip
_NAMESPACED_PREFIXES: Final = ("net.", "fs.mqueue.")
# Kubernetes' sysctl name: dot- (or slash-) separated segments of [a-z0-9_-].
_SYSCTL_NAME = re.compile(r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$")


def validate_resources(res: api_pb2.LinuxContainerResources) -> None:
    """Reject values runc or the kernel would refuse, with a message naming the field."""
    checks = (
        (0 <= res.cpu_shares <= MAX_CPU_SHARES, f"cpu_shares {res.cpu_shares} not in 0..262144"),
        (res.cpu_quota >= -1, f"cpu_quota {res.cpu_quota} is negative"),
        (res.cpu_period == 0 or 1000 <= res.cpu_period <= 1_000_000,
         f"cpu_period {res.cpu_period} not in 1000..1000000 (µs)"),
        (res.memory_limit_in_bytes >= 0,
         f"memory_limit_in_bytes {res.memory_limit_in_bytes} is negative"),
        (res.memory_swap_limit_in_bytes >= -1,
         f"memory_swap_limit_in_bytes {res.memory_swap_limit_in_bytes} is negative"),
        (res.memory_swap_limit_in_bytes in (0, -1) or res.memory_limit_in_bytes == 0
         or res.memory_swap_limit_in_bytes >= res.memory_limit_in_bytes,
         "memory_swap_limit_in_bytes is below memory_limit_in_bytes"),
        (-1000 <= res.oom_score_adj <= 1000, f"oom_score_adj {res.oom_score_adj} not in ±1000"),
        (_is_id_list(res.cpuset_cpus), f"cpuset_cpus {quote(res.cpuset_cpus)} is not a CPU list"),
        (_is_id_list(res.cpuset_mems),
         f"cpuset_mems {quote(res.cpuset_mems)} is not a node list"),
    )  # fmt: skip
    for ok, message in checks:
        if not ok:
            raise InvalidArgumentError(f"invalid resources: {message}")
    for page in res.hugepage_limits:
        if not _PAGE_SIZE.match(page.page_size):
            raise InvalidArgumentError(f"invalid hugepage page_size {quote(page.page_size)}")
    for key in res.unified:
        if not key or "/" in key or key.startswith("."):
            raise InvalidArgumentError(f"invalid unified cgroup key {quote(key)}")


def _check_online(field_name: str, wanted: str, online: str, what: str) -> None:
    """A cpuset must name only what the node has online (runc create would fail)."""
    if not wanted or not online:
        return
    missing = sorted(_ids(wanted) - _ids(online))
    if missing:
        raise InvalidArgumentError(
            f"invalid resources: {field_name} {quote(wanted)} names {what} this node does not "
            f"have online ({', '.join(map(str, missing[:8]))}); online: {online}"
        )


def _ids(text: str) -> set[int]:
    """The ids of a list such as "0-3,8" (already checked by `_is_id_list`)."""
    found: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def _is_id_list(text: str) -> bool:
    """Empty, or a list such as "0-3,8" of ascending ranges below Linux's NR_CPUS limit."""
    if not text:
        return True
    if len(text) > 1024 or not _CPUSET.match(text):
        return False
    for part in text.split(","):
        low, _, high = part.partition("-")
        if int(high or low) >= MAX_CPUS or int(low) > int(high or low):
            return False
    return True


def resources_section(
    res: api_pb2.LinuxContainerResources | None,
    *,
    host: HostFeatures,
    pids_limit: int = -1,
    default_shares: int = 0,
) -> dict[str, object]:
    """linux.resources without devices: cpu, memory, hugepageLimits, pids, unified."""
    res = res if res is not None else api_pb2.LinuxContainerResources()
    validate_resources(res)
    _check_online("cpuset_cpus", res.cpuset_cpus, host.online_cpus, "CPUs")
    _check_online("cpuset_mems", res.cpuset_mems, host.online_mems, "memory nodes")
    cpu: dict[str, object] = {}
    shares = res.cpu_shares or default_shares
    for key, value in (("shares", shares), ("quota", res.cpu_quota), ("period", res.cpu_period)):
        if value:
            cpu[key] = value
    if res.cpuset_cpus:
        cpu["cpus"] = res.cpuset_cpus
    if res.cpuset_mems:
        cpu["mems"] = res.cpuset_mems
    section: dict[str, object] = {}
    if cpu:
        section["cpu"] = cpu
    memory = _memory(res, host)
    if memory:
        section["memory"] = memory
    if res.hugepage_limits and host.hugetlb_controller:
        section["hugepageLimits"] = [
            {"pageSize": h.page_size, "limit": h.limit} for h in res.hugepage_limits
        ]
    if pids_limit > 0:
        section["pids"] = {"limit": pids_limit}
    if res.unified:
        section["unified"] = dict(sorted(res.unified.items()))
    return section


def _memory(res: api_pb2.LinuxContainerResources, host: HostFeatures) -> dict[str, object]:
    memory: dict[str, object] = {}
    if res.memory_limit_in_bytes:
        memory["limit"] = res.memory_limit_in_bytes
    swap = res.memory_swap_limit_in_bytes or res.memory_limit_in_bytes
    if swap and host.swap_controller:
        memory["swap"] = swap
    return memory


def oom_score_adj(requested: int, *, daemon: int, restrict: bool, can_lower: bool) -> int:
    """The score to give: never below the daemon's own when restrict_oom_score_adj is set or
    when the daemon may not lower it (containerd's restrictOOMScoreAdj)."""
    if (restrict or not can_lower) and requested < daemon:
        return daemon
    return requested


def cgroups_path(parent: str, driver: CgroupDriver, name: str, *, crio: bool = False) -> str:
    """linux.cgroupsPath: cgroupfs → parent/<name>; systemd → "<slice>:cri-containerd:<name>"
    (runc's slice:prefix:name form; the slice is the last element of the parent). With
    `crio`, CRI-O's names: parent/crio-<name> and "<slice>:crio:<name>" (crio-<name>.scope),
    which cAdvisor's CRI-O support requires of the cgroups it reports."""
    if driver == "systemd":
        base = posixpath.basename(parent.rstrip("/")) or "system.slice"
        if not base.endswith(".slice"):
            raise InvalidArgumentError(
                f"cgroup parent {quote(parent)} is not a systemd slice (the systemd cgroup driver "
                "needs one such as kubepods-besteffort.slice)"
            )
        return f"{base}:{CRIO_SCOPE_PREFIX if crio else SYSTEMD_SCOPE_PREFIX}:{name}"
    if crio:
        name = f"{CRIO_SCOPE_PREFIX}-{name}"
    if not parent:
        return f"/{CRIO_CGROUPFS_PARENT if crio else 'k8s.io'}/{name}"
    if not parent.startswith("/"):
        raise InvalidArgumentError(f"cgroup parent {quote(parent)} is not an absolute path")
    return posixpath.join(parent, name)


def rlimits(ulimits: Iterable[str]) -> list[dict[str, object]]:
    """process.rlimits from "name=soft[:hard]" entries (CRI-O default_ulimits; -1 means
    unlimited)."""
    result = []
    for entry in ulimits:
        name, sep, values = entry.partition("=")
        soft_text, _, hard_text = values.partition(":")
        name = name.strip().lower().removeprefix("rlimit_")
        if not sep or name not in _RLIMITS:
            raise InvalidArgumentError(f"invalid ulimit {entry!r}: expected name=soft[:hard]")
        soft = _limit(soft_text, entry)
        hard = _limit(hard_text, entry) if hard_text else soft
        if soft > hard:
            raise InvalidArgumentError(
                f"invalid ulimit {quote(entry)}: soft limit above hard limit"
            )
        result.append({"type": f"RLIMIT_{name.upper()}", "hard": hard, "soft": soft})
    return result


def _limit(text: str, entry: str) -> int:
    text = text.strip()
    if text == "-1":
        return _UNLIMITED
    if not text.isdigit():
        raise InvalidArgumentError(f"invalid ulimit {quote(entry)}: {quote(text)} is not a number")
    return int(text)


def validate_sysctl(key: str, value: str) -> None:
    """A sysctl a container may set: well formed, in a namespace of its own (runc refuses
    the others), and a value that is one line."""
    if len(key) > 256 or not _SYSCTL_NAME.match(key):
        raise InvalidArgumentError(f"invalid sysctl name {quote(key)}")
    dotted = key.replace("/", ".")
    if dotted not in _NAMESPACED_SYSCTLS and not dotted.startswith(_NAMESPACED_PREFIXES):
        raise InvalidArgumentError(
            f"sysctl {quote(key)} is not in a namespace of its own; a container cannot set it"
        )
    if "\0" in value or "\n" in value:
        raise InvalidArgumentError(f"sysctl {key}: value {quote(value)} is not one line")


def sysctls(
    defaults: Mapping[str, str],
    pod: Mapping[str, str],
    *,
    host_network: bool,
    host_ipc: bool,
) -> dict[str, str]:
    """linux.sysctl: the configured defaults, then the pod's; namespaced sysctls of a
    namespace shared with the host are left out (runc refuses them; CRI-O skips them)."""
    merged = {**defaults, **pod}
    result = {}
    for key, value in merged.items():
        if not key or "=" in key:
            raise InvalidArgumentError(f"invalid sysctl name {quote(key)}")
        if host_network and key.startswith("net."):
            continue
        if host_ipc and key.startswith(_IPC_SYSCTLS):
            continue
        result[key] = value
    return result
