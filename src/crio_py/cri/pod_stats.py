"""PodSandboxStats and ListPodSandboxStats: a pod's usage is that of its cgroup (the
kubelet's cgroup_parent), so a pod whose containers exited still has stats; its containers'
are those of `cri/container/stats.py`, and its network counters those of its namespace."""

from __future__ import annotations

import asyncio
import posixpath
import time

from cri_api.v1 import api_pb2

from crio_py.backends import cgroup_stats
from crio_py.cri.container import stats
from crio_py.cri.container.context import ContainerContext, ContainerEntry
from crio_py.cri.sandbox.query import config_from_json as sandbox_config_from_json
from crio_py.cri.sandbox.records import SandboxEntry
from crio_py.store.records import ContainerState


def _sandbox_stats(ctx: ContainerContext, sandbox: SandboxEntry) -> api_pb2.PodSandboxStats:
    config = sandbox_config_from_json(sandbox.metadata.config)
    now = time.time_ns()
    members = ctx.in_sandbox(sandbox.metadata.id)
    containers = [stats.stats_of(ctx, e) for e in members if not e.metadata.infra]
    linux = api_pb2.LinuxPodSandboxStats(containers=containers)
    usage = _pod_usage(ctx, sandbox, members)
    if usage is not None:
        linux.cpu.CopyFrom(stats.cpu_usage(ctx, sandbox.metadata.id, usage, now))
        linux.memory.CopyFrom(stats.memory_usage(usage, now))
        linux.process.CopyFrom(
            api_pb2.ProcessUsage(timestamp=now, process_count=stats.uint64(usage.processes))
        )
    pid = next((e.status.pid for e in members if _running(e)), 0)
    if pid:
        linux.network.CopyFrom(_network(pid, now))
    return api_pb2.PodSandboxStats(
        attributes=api_pb2.PodSandboxAttributes(
            id=sandbox.metadata.id,
            metadata=config.metadata,
            labels=dict(config.labels),
            annotations=dict(config.annotations),
        ),
        linux=linux,
    )


def _running(entry: ContainerEntry) -> bool:
    state = entry.status.state(entry.metadata.created_at)
    return state == ContainerState.RUNNING and entry.status.pid > 0


def _pod_usage(
    ctx: ContainerContext, sandbox: SandboxEntry, members: list[ContainerEntry]
) -> cgroup_stats.Usage | None:
    """The pod's cgroup (the kubelet's cgroup_parent, which holds every container of the
    pod, exited ones' leftovers included), as containerd and CRI-O read it; for a pod without
    one, the sum of its running containers' cgroups."""
    relative = pod_cgroup(ctx, sandbox)
    found = cgroup_stats.usage_at(relative) if relative else None
    if found is not None:
        return found
    samples = [cgroup_stats.usage(e.status.pid) for e in members if _running(e)]
    usages = [u for u in samples if u is not None]
    if not usages:
        return None
    return cgroup_stats.Usage(
        **{field: _sum([getattr(u, field) for u in usages]) for field in _FIELDS}
    )


def pod_cgroup(ctx: ContainerContext, sandbox: SandboxEntry) -> str:
    """The pod's cgroup below each hierarchy's root; "" when the pod names no parent."""
    parent = sandbox_config_from_json(sandbox.metadata.config).linux.cgroup_parent
    handler = ctx.runtimes.handler(sandbox.metadata.runtime_handler)
    if not parent or handler.cgroup_driver != "systemd":
        return parent
    return systemd_slice_path(parent)


def systemd_slice_path(name: str) -> str:
    """Where systemd puts a slice: each dash opens a parent ("a-b.slice" is in "a.slice")."""
    base = posixpath.basename(name.rstrip("/"))
    if not base.endswith(".slice") or base == "-.slice":
        return name
    parts = base.removesuffix(".slice").split("-")
    return "/".join("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


_FIELDS = (
    "cpu_ns", "memory_bytes", "working_set_bytes", "rss_bytes", "page_faults",
    "major_page_faults", "processes",
)  # fmt: skip


def _sum(values: list[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _network(pid: int, now: int) -> api_pb2.NetworkUsage:
    counters = [
        api_pb2.NetworkInterfaceUsage(
            name=c.name,
            rx_bytes=api_pb2.UInt64Value(value=c.rx_bytes),
            rx_errors=api_pb2.UInt64Value(value=c.rx_errors),
            tx_bytes=api_pb2.UInt64Value(value=c.tx_bytes),
            tx_errors=api_pb2.UInt64Value(value=c.tx_errors),
        )
        for c in cgroup_stats.interfaces(pid)
    ]
    network = api_pb2.NetworkUsage(timestamp=now, interfaces=counters)
    default = next((c for c in counters if c.name == "eth0"), counters[0] if counters else None)
    if default is not None:
        network.default_interface.CopyFrom(default)
    return network


async def pod_sandbox_stats(
    ctx: ContainerContext, request: api_pb2.PodSandboxStatsRequest
) -> api_pb2.PodSandboxStatsResponse:
    sandbox = ctx.sandboxes.get(request.pod_sandbox_id)
    stats = await asyncio.to_thread(_sandbox_stats, ctx, sandbox)
    return api_pb2.PodSandboxStatsResponse(stats=stats)


async def list_pod_sandbox_stats(
    ctx: ContainerContext, request: api_pb2.ListPodSandboxStatsRequest
) -> api_pb2.ListPodSandboxStatsResponse:
    wanted = request.filter if request.HasField("filter") else None
    sandboxes = ctx.sandboxes.select(wanted.id if wanted is not None else "")
    if wanted is not None and wanted.label_selector:
        labels = dict(wanted.label_selector)
        sandboxes = [
            s
            for s in sandboxes
            if all(
                sandbox_config_from_json(s.metadata.config).labels.get(k) == v
                for k, v in labels.items()
            )
        ]
    stats = await asyncio.to_thread(lambda: [_sandbox_stats(ctx, s) for s in sandboxes])
    return api_pb2.ListPodSandboxStatsResponse(stats=stats)
