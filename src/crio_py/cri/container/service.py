"""`ContainerService`: the container RPCs. A container is an OCI bundle under the state dir,
run by conmon + the pod's runtime handler on a rootfs the image service mounts, and two
records (metadata written once, status rewritten atomically) under the root dir.

Each RPC lives in its module (`create`, `lifecycle`, `status`, `exec_sync`); they share a
`ContainerContext`. `load` recovers after a crash of the daemon (`recover`): conmon kept the
containers, and exits that happened meanwhile are read from the exit files.
"""

from __future__ import annotations

from cri_api.v1 import api_pb2

from crio_py.config.model import RuntimeSettings
from crio_py.cri.container import (
    create,
    exec_sync,
    lifecycle,
    metrics,
    recover,
    stats,
    status,
    streams,
)
from crio_py.cri.container.context import ContainerContext, ImageSource
from crio_py.cri.sandbox import SandboxService
from crio_py.cri.sandbox.service import SandboxEntry
from crio_py.errors import UnavailableError
from crio_py.ocispec import HostFeatures
from crio_py.streaming.server import StreamServer


class ContainerService:
    """The container RPCs, and what the sandbox service and the daemon ask of containers."""

    def __init__(
        self,
        settings: RuntimeSettings,
        sandboxes: SandboxService,
        images: ImageSource,
        *,
        host_features: HostFeatures | None = None,
        stream_server: StreamServer | None = None,
    ) -> None:
        self.ctx = ContainerContext(settings, sandboxes, images, host_features)
        self.stream_server = stream_server

    async def load(self) -> None:
        await recover.load(self.ctx)

    async def watch_exits(self) -> None:
        await recover.watch_exits(self.ctx)

    def reload_settings(self, settings: RuntimeSettings) -> None:
        self.ctx.reload_settings(settings)

    def images_in_use(self) -> set[str]:
        """The image ids some container was created from (RemoveImage refuses those)."""
        return {entry.metadata.image_id for _, entry in self.ctx.store}

    # For the sandbox service

    async def run_infra(self, sandbox: SandboxEntry) -> None:
        await create.run_infra(self.ctx, sandbox)

    async def stop_all(self, sandbox_id: str) -> None:
        await lifecycle.stop_all(self.ctx, sandbox_id)

    async def remove_all(self, sandbox_id: str) -> None:
        await lifecycle.remove_all(self.ctx, sandbox_id)

    # The RPCs

    async def create_container(
        self, request: api_pb2.CreateContainerRequest
    ) -> api_pb2.CreateContainerResponse:
        return await create.create_container(self.ctx, request)

    async def start_container(
        self, request: api_pb2.StartContainerRequest
    ) -> api_pb2.StartContainerResponse:
        return await lifecycle.start_container(self.ctx, request)

    async def stop_container(
        self, request: api_pb2.StopContainerRequest
    ) -> api_pb2.StopContainerResponse:
        return await lifecycle.stop_container(self.ctx, request)

    async def remove_container(
        self, request: api_pb2.RemoveContainerRequest
    ) -> api_pb2.RemoveContainerResponse:
        return await lifecycle.remove_container(self.ctx, request)

    async def container_status(
        self, request: api_pb2.ContainerStatusRequest
    ) -> api_pb2.ContainerStatusResponse:
        return await status.container_status(self.ctx, request)

    async def list_containers(
        self, request: api_pb2.ListContainersRequest
    ) -> api_pb2.ListContainersResponse:
        return await status.list_containers(self.ctx, request)

    async def exec_sync(self, request: api_pb2.ExecSyncRequest) -> api_pb2.ExecSyncResponse:
        return await exec_sync.exec_sync(self.ctx, request)

    async def reopen_container_log(
        self, request: api_pb2.ReopenContainerLogRequest
    ) -> api_pb2.ReopenContainerLogResponse:
        return await exec_sync.reopen_container_log(self.ctx, request)

    async def update_container_resources(
        self, request: api_pb2.UpdateContainerResourcesRequest
    ) -> api_pb2.UpdateContainerResourcesResponse:
        return await exec_sync.update_container_resources(self.ctx, request)

    # Streaming

    def _server(self) -> StreamServer:
        if self.stream_server is None:
            raise UnavailableError("the streaming server is not running")
        return self.stream_server

    async def exec(self, request: api_pb2.ExecRequest) -> api_pb2.ExecResponse:
        return await streams.exec_url(self.ctx, self._server(), request)

    async def attach(self, request: api_pb2.AttachRequest) -> api_pb2.AttachResponse:
        return await streams.attach_url(self.ctx, self._server(), request)

    async def port_forward(
        self, request: api_pb2.PortForwardRequest
    ) -> api_pb2.PortForwardResponse:
        return await streams.port_forward_url(self.ctx, self._server(), request)

    # Stats

    async def container_stats(
        self, request: api_pb2.ContainerStatsRequest
    ) -> api_pb2.ContainerStatsResponse:
        return await stats.container_stats(self.ctx, request)

    async def list_container_stats(
        self, request: api_pb2.ListContainerStatsRequest
    ) -> api_pb2.ListContainerStatsResponse:
        return await stats.list_container_stats(self.ctx, request)

    async def pod_sandbox_stats(
        self, request: api_pb2.PodSandboxStatsRequest
    ) -> api_pb2.PodSandboxStatsResponse:
        return await stats.pod_sandbox_stats(self.ctx, request)

    async def list_pod_sandbox_stats(
        self, request: api_pb2.ListPodSandboxStatsRequest
    ) -> api_pb2.ListPodSandboxStatsResponse:
        return await stats.list_pod_sandbox_stats(self.ctx, request)

    async def list_metric_descriptors(
        self, request: api_pb2.ListMetricDescriptorsRequest
    ) -> api_pb2.ListMetricDescriptorsResponse:
        return await metrics.list_metric_descriptors(request)

    async def list_pod_sandbox_metrics(
        self, request: api_pb2.ListPodSandboxMetricsRequest
    ) -> api_pb2.ListPodSandboxMetricsResponse:
        return await metrics.list_pod_sandbox_metrics(self.ctx, request)
