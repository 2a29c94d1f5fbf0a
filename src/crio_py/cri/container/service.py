"""The container RPCs by name (`rpc_table`), and what the sandbox service (`PodContainers`) and
the daemon (`images_in_use`) ask of containers. Each RPC is a function of the
`ContainerContext` in the module named for it; nothing here forwards beyond binding it.
"""

from __future__ import annotations

from functools import partial

from crio_py.cri import events, pod_metrics, pod_stats
from crio_py.cri.container import (
    announce,
    create,
    exec_sync,
    lifecycle,
    reopen_log,
    stats,
    status,
    streams,
    update_resources,
)
from crio_py.cri.container.context import ContainerContext
from crio_py.cri.rpcs import Handler
from crio_py.cri.sandbox.records import SandboxEntry
from crio_py.streaming.server import StreamServer


def rpc_table(ctx: ContainerContext, stream_server: StreamServer) -> dict[str, Handler]:
    """The container, streaming, stats and metrics RPCs over `ctx`."""
    return {
        "CreateContainer": partial(create.create_container, ctx),
        "StartContainer": partial(lifecycle.start_container, ctx),
        "StopContainer": partial(lifecycle.stop_container, ctx),
        "RemoveContainer": partial(lifecycle.remove_container, ctx),
        "ContainerStatus": partial(status.container_status, ctx),
        "ListContainers": partial(status.list_containers, ctx),
        "ExecSync": partial(exec_sync.exec_sync, ctx),
        "ReopenContainerLog": partial(reopen_log.reopen_container_log, ctx),
        "UpdateContainerResources": partial(update_resources.update_container_resources, ctx),
        "Exec": partial(streams.exec_url, ctx, stream_server),
        "Attach": partial(streams.attach_url, ctx, stream_server),
        "PortForward": partial(streams.port_forward_url, ctx, stream_server),
        "ContainerStats": partial(stats.container_stats, ctx),
        "ListContainerStats": partial(stats.list_container_stats, ctx),
        "PodSandboxStats": partial(pod_stats.pod_sandbox_stats, ctx),
        "ListPodSandboxStats": partial(pod_stats.list_pod_sandbox_stats, ctx),
        "ListMetricDescriptors": pod_metrics.list_metric_descriptors,
        "ListPodSandboxMetrics": partial(pod_metrics.list_pod_sandbox_metrics, ctx),
        "GetContainerEvents": partial(events.get_container_events, ctx.events),
    }


class PodContainers:
    """What stopping and removing a sandbox does to its containers (`sandbox.PodMembers`)."""

    def __init__(self, ctx: ContainerContext) -> None:
        self.ctx = ctx

    async def run_infra(self, sandbox: SandboxEntry) -> None:
        await create.run_infra(self.ctx, sandbox)

    async def stop_all(self, sandbox_id: str) -> None:
        await lifecycle.stop_all(self.ctx, sandbox_id)

    def announce(self, sandbox_id: str, kind: int) -> None:
        announce.announce(self.ctx, sandbox_id, sandbox_id, kind)

    async def remove_all(self, sandbox_id: str) -> None:
        await lifecycle.remove_all(self.ctx, sandbox_id)
        self.ctx.cpu_rates.forget(sandbox_id)


def images_in_use(ctx: ContainerContext) -> set[str]:
    """The image ids some container was created from (RemoveImage refuses those)."""
    return {entry.metadata.image_id for _, entry in ctx.store}
