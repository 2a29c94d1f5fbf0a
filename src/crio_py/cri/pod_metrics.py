"""ListMetricDescriptors and ListPodSandboxMetrics: cAdvisor's container metrics, which a
kubelet with `PodAndContainerStatsFromCRI` exports on /metrics/cadvisor instead of asking
cAdvisor. Names, help texts and labels follow containerd (internal/cri/server): every metric
is labelled pod, namespace, container, id, image, plus its own extra labels; a pod's network
counters are pod-level metrics with an empty container and image.

The descriptors never change (the kubelet reads them once, at its start), and every one of
them has a value for a running container on a host that has the counter.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends import cgroup_metrics
from crio_py.cri.container.context import ContainerContext, ContainerEntry
from crio_py.cri.sandbox.query import config_from_json as sandbox_config_from_json
from crio_py.cri.sandbox.records import SandboxEntry
from crio_py.store.records import ContainerState

BASE_LABELS = ("pod", "namespace", "container", "id", "image")
COUNTER, GAUGE = api_pb2.COUNTER, api_pb2.GAUGE


@dataclass(frozen=True)
class _Kind:
    help: str
    type: int = GAUGE
    extra_labels: tuple[str, ...] = ()


_NET = ("interface",)
_DISK = ("device",)
DESCRIPTORS: dict[str, _Kind] = {
    "container_cpu_usage_seconds_total": _Kind("Cumulative CPU time consumed in seconds.", COUNTER),
    "container_cpu_user_seconds_total": _Kind(
        "Cumulative user CPU time consumed in seconds.", COUNTER
    ),
    "container_cpu_system_seconds_total": _Kind(
        "Cumulative system CPU time consumed in seconds.", COUNTER
    ),
    "container_cpu_cfs_periods_total": _Kind(
        "Number of elapsed enforcement period intervals.", COUNTER
    ),
    "container_cpu_cfs_throttled_periods_total": _Kind(
        "Number of throttled period intervals.", COUNTER
    ),
    "container_cpu_cfs_throttled_seconds_total": _Kind(
        "Total time duration the container has been throttled.", COUNTER
    ),
    "container_memory_cache": _Kind("Number of bytes of page cache memory."),
    "container_memory_rss": _Kind("Size of RSS in bytes."),
    "container_memory_kernel_usage": _Kind(
        "Size of kernel memory allocated to the container in bytes."
    ),
    "container_memory_mapped_file": _Kind("Size of memory mapped files in bytes."),
    "container_memory_swap": _Kind("Container swap usage in bytes."),
    "container_memory_failcnt": _Kind("Number of memory usage hits limits.", COUNTER),
    "container_memory_usage_bytes": _Kind(
        "Current memory usage in bytes, including all memory regardless of when it was accessed."
    ),
    "container_memory_max_usage_bytes": _Kind("Maximum memory usage recorded in bytes."),
    "container_memory_working_set_bytes": _Kind("Current working set in bytes."),
    "container_memory_failures_total": _Kind(
        "Cumulative count of memory allocation failures.", COUNTER, ("failure_type", "scope")
    ),
    "container_oom_events_total": _Kind(
        "Count of out of memory events observed for the container.", COUNTER
    ),
    "container_network_receive_bytes_total": _Kind(
        "Cumulative count of bytes received.", COUNTER, _NET
    ),
    "container_network_receive_packets_total": _Kind(
        "Cumulative count of packets received.", COUNTER, _NET
    ),
    "container_network_receive_packets_dropped_total": _Kind(
        "Cumulative count of packets dropped while receiving.", COUNTER, _NET
    ),
    "container_network_receive_errors_total": _Kind(
        "Cumulative count of errors encountered while receiving.", COUNTER, _NET
    ),
    "container_network_transmit_bytes_total": _Kind(
        "Cumulative count of bytes transmitted.", COUNTER, _NET
    ),
    "container_network_transmit_packets_total": _Kind(
        "Cumulative count of packets transmitted.", COUNTER, _NET
    ),
    "container_network_transmit_packets_dropped_total": _Kind(
        "Cumulative count of packets dropped while transmitting.", COUNTER, _NET
    ),
    "container_network_transmit_errors_total": _Kind(
        "Cumulative count of errors encountered while transmitting.", COUNTER, _NET
    ),
    "container_fs_inodes_free": _Kind("Number of available inodes.", GAUGE, _DISK),
    "container_fs_inodes_total": _Kind("Number of inodes.", GAUGE, _DISK),
    "container_fs_limit_bytes": _Kind(
        "Number of bytes that can be consumed by the container on this filesystem.", GAUGE, _DISK
    ),
    "container_fs_usage_bytes": _Kind(
        "Number of bytes that are consumed by the container on this filesystem.", GAUGE, _DISK
    ),
    "container_fs_reads_bytes_total": _Kind("Cumulative count of bytes read.", COUNTER, _DISK),
    "container_fs_reads_total": _Kind("Cumulative count of reads completed.", COUNTER, _DISK),
    "container_fs_writes_bytes_total": _Kind("Cumulative count of bytes written.", COUNTER, _DISK),
    "container_fs_writes_total": _Kind("Cumulative count of writes completed.", COUNTER, _DISK),
    "container_blkio_device_usage_total": _Kind(
        "Blkio device bytes usage.", COUNTER, ("device", "major", "minor", "operation")
    ),
    "container_processes": _Kind("Number of processes running inside the container."),
    "container_file_descriptors": _Kind("Number of open file descriptors for the container."),
    "container_sockets": _Kind("Number of open sockets for the container."),
    "container_threads": _Kind("Number of threads running inside the container."),
    "container_threads_max": _Kind(
        "Maximum number of threads allowed inside the container, infinity if value is zero."
    ),
    "container_last_seen": _Kind("Last time a container was seen by the exporter."),
    "container_start_time_seconds": _Kind(
        "Start time of the container since unix epoch in seconds."
    ),
    "container_spec_cpu_period": _Kind("CPU period of the container."),
    "container_spec_cpu_quota": _Kind("CPU quota of the container."),
    "container_spec_cpu_shares": _Kind("CPU share of the container."),
    "container_spec_memory_limit_bytes": _Kind("Memory limit for the container."),
    "container_spec_memory_swap_limit_bytes": _Kind("Memory swap limit for the container."),
}
_NETWORK = [name for name in DESCRIPTORS if name.startswith("container_network_")]


async def list_metric_descriptors(
    request: api_pb2.ListMetricDescriptorsRequest,
) -> api_pb2.ListMetricDescriptorsResponse:
    return api_pb2.ListMetricDescriptorsResponse(
        descriptors=[
            api_pb2.MetricDescriptor(
                name=name, help=kind.help, label_keys=[*BASE_LABELS, *kind.extra_labels]
            )
            for name, kind in DESCRIPTORS.items()
        ]
    )


async def list_pod_sandbox_metrics(
    ctx: ContainerContext, request: api_pb2.ListPodSandboxMetricsRequest
) -> api_pb2.ListPodSandboxMetricsResponse:
    """Every ready sandbox, with its running containers."""
    sandboxes = [s for s in ctx.sandboxes.all() if s.status.ready]

    def collect() -> list[api_pb2.PodSandboxMetrics]:
        disk = _Disk.of(ctx.settings.root_dir)
        return [_pod_metrics(ctx, sandbox, disk) for sandbox in sandboxes]

    found = await asyncio.to_thread(collect)
    return api_pb2.ListPodSandboxMetricsResponse(pod_metrics=found)


def _pod_metrics(
    ctx: ContainerContext, sandbox: SandboxEntry, disk: _Disk | None
) -> api_pb2.PodSandboxMetrics:
    meta = sandbox_config_from_json(sandbox.metadata.config).metadata
    pod = (meta.name, meta.namespace)
    running = [
        e
        for e in ctx.in_sandbox(sandbox.metadata.id)
        if e.status.state(e.metadata.created_at) == ContainerState.RUNNING and e.status.pid
    ]
    result = api_pb2.PodSandboxMetrics(pod_sandbox_id=sandbox.metadata.id)
    if running:
        labels = (*pod, "", sandbox.metadata.id, "")
        for interface, counters in cgroup_metrics.network_sample(running[0].status.pid).items():
            for name in _NETWORK:
                result.metrics.append(_metric(name, (*labels, interface), counters[name]))
    for entry in running:
        if not entry.metadata.infra:
            result.container_metrics.append(_container_metrics(ctx, entry, pod, disk))
    return result


def _container_metrics(
    ctx: ContainerContext, entry: ContainerEntry, pod: tuple[str, str], disk: _Disk | None
) -> api_pb2.ContainerMetrics:
    config = ctx.config(entry)
    labels = (*pod, config.metadata.name, entry.metadata.id, entry.metadata.image_ref)
    metrics = api_pb2.ContainerMetrics(container_id=entry.metadata.id)
    sample = cgroup_metrics.container_sample(entry.status.pid) or cgroup_metrics.Sample()
    if disk is not None:
        disk.add(sample, ctx.images.writable_usage(entry.metadata.id)[0])
    _spec(config, sample)
    sample.put("container_last_seen", int(time.time()))
    sample.put("container_start_time_seconds", entry.status.started_at // cgroup_metrics.NS_PER_S)
    for name, value in sample.values.items():
        metrics.metrics.append(_metric(name, labels, value))
    for name, values in sample.labelled.items():
        for extra, value in values:
            metrics.metrics.append(_metric(name, (*labels, *extra), value))
    return metrics


@dataclass(frozen=True)
class _Disk:
    """The filesystem that holds the root dir, read once per ListPodSandboxMetrics."""

    device: str  # "major:minor"
    size_bytes: int
    inodes: int
    inodes_free: int

    @classmethod
    def of(cls, root_dir: Path) -> _Disk | None:
        try:
            fs = os.statvfs(root_dir)
            device = os.stat(root_dir).st_dev
        except OSError:
            return None
        name = f"{os.major(device)}:{os.minor(device)}"
        return cls(name, fs.f_blocks * fs.f_frsize, fs.f_files, fs.f_ffree)

    def add(self, sample: cgroup_metrics.Sample, used_bytes: int) -> None:
        """The writable layer's usage on it."""
        labels = (self.device,)
        sample.add("container_fs_usage_bytes", labels, used_bytes)
        sample.add("container_fs_limit_bytes", labels, self.size_bytes)
        sample.add("container_fs_inodes_total", labels, self.inodes)
        sample.add("container_fs_inodes_free", labels, self.inodes_free)


def _spec(config: api_pb2.ContainerConfig, sample: cgroup_metrics.Sample) -> None:
    """The limits the kubelet asked for (0 is "not set", and left out)."""
    resources = config.linux.resources
    for name, value in (
        ("container_spec_cpu_period", resources.cpu_period),
        ("container_spec_cpu_quota", resources.cpu_quota),
        ("container_spec_cpu_shares", resources.cpu_shares),
        ("container_spec_memory_limit_bytes", resources.memory_limit_in_bytes),
        ("container_spec_memory_swap_limit_bytes", resources.memory_swap_limit_in_bytes),
    ):
        if value > 0:
            sample.put(name, value)


def _metric(name: str, labels: tuple[str, ...], value: int) -> api_pb2.Metric:
    return api_pb2.Metric(
        name=name,
        timestamp=0,  # collected now, on request
        metric_type=DESCRIPTORS[name].type,  # type: ignore[arg-type]
        label_values=list(labels),
        value=api_pb2.UInt64Value(value=value),
    )
