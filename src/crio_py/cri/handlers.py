"""What the servicers hand each RPC to, as Protocols in snake_case: the image service
(`cri/image.py`), the sandbox service (`cri/sandbox`) and the container service
(`cri/container`). The servicers depend on these, never on the implementations."""

from __future__ import annotations

from typing import Protocol

from cri_api.v1 import api_pb2


class ImageHandlers(Protocol):
    """The ImageService RPCs in snake_case; `cri/image.py` implements them."""

    async def list_images(self, request: api_pb2.ListImagesRequest) -> api_pb2.ListImagesResponse:
        """ListImages."""

    async def image_status(
        self, request: api_pb2.ImageStatusRequest
    ) -> api_pb2.ImageStatusResponse:
        """ImageStatus."""

    async def pull_image(self, request: api_pb2.PullImageRequest) -> api_pb2.PullImageResponse:
        """PullImage."""

    async def remove_image(
        self, request: api_pb2.RemoveImageRequest
    ) -> api_pb2.RemoveImageResponse:
        """RemoveImage."""

    async def image_fs_info(
        self, request: api_pb2.ImageFsInfoRequest
    ) -> api_pb2.ImageFsInfoResponse:
        """ImageFsInfo."""


class SandboxHandlers(Protocol):
    """The pod sandbox RPCs in snake_case; `cri/sandbox` implements them."""

    async def run_pod_sandbox(
        self, request: api_pb2.RunPodSandboxRequest
    ) -> api_pb2.RunPodSandboxResponse:
        """RunPodSandbox."""

    async def stop_pod_sandbox(
        self, request: api_pb2.StopPodSandboxRequest
    ) -> api_pb2.StopPodSandboxResponse:
        """StopPodSandbox."""

    async def remove_pod_sandbox(
        self, request: api_pb2.RemovePodSandboxRequest
    ) -> api_pb2.RemovePodSandboxResponse:
        """RemovePodSandbox."""

    async def pod_sandbox_status(
        self, request: api_pb2.PodSandboxStatusRequest
    ) -> api_pb2.PodSandboxStatusResponse:
        """PodSandboxStatus."""

    async def list_pod_sandbox(
        self, request: api_pb2.ListPodSandboxRequest
    ) -> api_pb2.ListPodSandboxResponse:
        """ListPodSandbox."""

    async def update_runtime_config(
        self, request: api_pb2.UpdateRuntimeConfigRequest
    ) -> api_pb2.UpdateRuntimeConfigResponse:
        """UpdateRuntimeConfig (the pod CIDR goes to the network)."""


class ContainerHandlers(Protocol):
    """The container RPCs in snake_case; `cri/container` implements them."""

    async def create_container(
        self, request: api_pb2.CreateContainerRequest
    ) -> api_pb2.CreateContainerResponse:
        """CreateContainer."""

    async def start_container(
        self, request: api_pb2.StartContainerRequest
    ) -> api_pb2.StartContainerResponse:
        """StartContainer."""

    async def stop_container(
        self, request: api_pb2.StopContainerRequest
    ) -> api_pb2.StopContainerResponse:
        """StopContainer."""

    async def remove_container(
        self, request: api_pb2.RemoveContainerRequest
    ) -> api_pb2.RemoveContainerResponse:
        """RemoveContainer."""

    async def list_containers(
        self, request: api_pb2.ListContainersRequest
    ) -> api_pb2.ListContainersResponse:
        """ListContainers."""

    async def container_status(
        self, request: api_pb2.ContainerStatusRequest
    ) -> api_pb2.ContainerStatusResponse:
        """ContainerStatus."""

    async def exec_sync(self, request: api_pb2.ExecSyncRequest) -> api_pb2.ExecSyncResponse:
        """ExecSync."""

    async def reopen_container_log(
        self, request: api_pb2.ReopenContainerLogRequest
    ) -> api_pb2.ReopenContainerLogResponse:
        """ReopenContainerLog."""

    async def update_container_resources(
        self, request: api_pb2.UpdateContainerResourcesRequest
    ) -> api_pb2.UpdateContainerResourcesResponse:
        """UpdateContainerResources."""

    async def exec(self, request: api_pb2.ExecRequest) -> api_pb2.ExecResponse:
        """Exec."""

    async def attach(self, request: api_pb2.AttachRequest) -> api_pb2.AttachResponse:
        """Attach."""

    async def port_forward(
        self, request: api_pb2.PortForwardRequest
    ) -> api_pb2.PortForwardResponse:
        """PortForward."""

    async def container_stats(
        self, request: api_pb2.ContainerStatsRequest
    ) -> api_pb2.ContainerStatsResponse:
        """ContainerStats."""

    async def list_container_stats(
        self, request: api_pb2.ListContainerStatsRequest
    ) -> api_pb2.ListContainerStatsResponse:
        """ListContainerStats."""

    async def pod_sandbox_stats(
        self, request: api_pb2.PodSandboxStatsRequest
    ) -> api_pb2.PodSandboxStatsResponse:
        """PodSandboxStats."""

    async def list_pod_sandbox_stats(
        self, request: api_pb2.ListPodSandboxStatsRequest
    ) -> api_pb2.ListPodSandboxStatsResponse:
        """ListPodSandboxStats."""

    async def list_metric_descriptors(
        self, request: api_pb2.ListMetricDescriptorsRequest
    ) -> api_pb2.ListMetricDescriptorsResponse:
        """ListMetricDescriptors."""

    async def list_pod_sandbox_metrics(
        self, request: api_pb2.ListPodSandboxMetricsRequest
    ) -> api_pb2.ListPodSandboxMetricsResponse:
        """ListPodSandboxMetrics."""
