"""ContainerStats and ListContainerStats: what the kubelet's summary API (and with it
eviction and `kubectl top`) reads of containers. Usage comes from the cgroups of each running
container's init process (the pod stats RPCs are in `cri/pod_stats.py`)."""

from __future__ import annotations

import asyncio
import time

from cri_api.v1 import api_pb2

from crio_py.backends import cgroup_stats
from crio_py.cri.container.context import ContainerContext, ContainerEntry
from crio_py.store.records import ContainerState


def uint64(number: int | None) -> api_pb2.UInt64Value | None:
    return api_pb2.UInt64Value(value=number) if number is not None else None


def stats_of(ctx: ContainerContext, entry: ContainerEntry) -> api_pb2.ContainerStats:
    config = ctx.config(entry)
    now = time.time_ns()
    stats = api_pb2.ContainerStats(
        attributes=api_pb2.ContainerAttributes(
            id=entry.metadata.id,
            metadata=config.metadata,
            labels=dict(config.labels),
            annotations=dict(config.annotations),
        )
    )
    running = entry.status.state(entry.metadata.created_at) == ContainerState.RUNNING
    usage = cgroup_stats.usage(entry.status.pid) if running and entry.status.pid else None
    if usage is not None:
        stats.cpu.CopyFrom(cpu_usage(ctx, entry.metadata.id, usage, now))
        stats.memory.CopyFrom(memory_usage(usage, now))
        if usage.swap_usage_bytes is not None:
            stats.swap.CopyFrom(swap_usage(usage, now))
    used, inodes = ctx.images.writable_usage(entry.metadata.id)
    stats.writable_layer.CopyFrom(
        api_pb2.FilesystemUsage(
            timestamp=now,
            fs_id=api_pb2.FilesystemIdentifier(mountpoint=str(ctx.settings.root_dir)),
            used_bytes=api_pb2.UInt64Value(value=used),
            inodes_used=api_pb2.UInt64Value(value=inodes),
        )
    )
    return stats


def cpu_usage(
    ctx: ContainerContext, object_id: str, usage: cgroup_stats.Usage, now: int
) -> api_pb2.CpuUsage:
    """Cumulative CPU time, and its rate since the previous sample of `object_id`."""
    cpu = api_pb2.CpuUsage(timestamp=now, usage_core_nano_seconds=uint64(usage.cpu_ns))
    if usage.cpu_ns is not None:
        cpu.usage_nano_cores.value = ctx.cpu_rates.nano_cores(object_id, usage.cpu_ns, now)
    return cpu


def swap_usage(usage: cgroup_stats.Usage, now: int) -> api_pb2.SwapUsage:
    return api_pb2.SwapUsage(
        timestamp=now,
        swap_usage_bytes=uint64(usage.swap_usage_bytes),
        swap_available_bytes=uint64(usage.swap_available_bytes),
    )


def memory_usage(usage: cgroup_stats.Usage, now: int) -> api_pb2.MemoryUsage:
    return api_pb2.MemoryUsage(
        timestamp=now,
        working_set_bytes=uint64(usage.working_set_bytes),
        usage_bytes=uint64(usage.memory_bytes),
        rss_bytes=uint64(usage.rss_bytes),
        page_faults=uint64(usage.page_faults),
        major_page_faults=uint64(usage.major_page_faults),
    )


async def container_stats(
    ctx: ContainerContext, request: api_pb2.ContainerStatsRequest
) -> api_pb2.ContainerStatsResponse:
    entry = ctx.get(request.container_id)
    stats = await asyncio.to_thread(stats_of, ctx, entry)
    return api_pb2.ContainerStatsResponse(stats=stats)


async def list_container_stats(
    ctx: ContainerContext, request: api_pb2.ListContainerStatsRequest
) -> api_pb2.ListContainerStatsResponse:
    wanted = request.filter if request.HasField("filter") else api_pb2.ContainerStatsFilter()
    entries = ctx.select(wanted.id, wanted.pod_sandbox_id, dict(wanted.label_selector))
    stats = await asyncio.to_thread(lambda: [stats_of(ctx, e) for e in entries])
    return api_pb2.ListContainerStatsResponse(stats=stats)
