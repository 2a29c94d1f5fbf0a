"""The grpc servicers: CamelCase methods, one line each, that hand each RPC to its handler.

Only this module (with `instrument.py`) knows the grpc method names. Every method is wrapped by
`@rpc`, which gates, logs and maps errors, so the bodies here never catch anything and never
choose a status code (ARCHITECTURE.md §6).

- `ImageServicer` forwards the five ImageService RPCs to an `ImageHandlers` object
  (`cri/image.py`'s `ImageService`), attached by the daemon once the image store is loaded.
- `RuntimeServicer` answers `Version`, `Status` and `RuntimeConfig`, and forwards the sandbox
  RPCs to a `SandboxHandlers` object (`cri/sandbox`) and the container, streaming and stats RPCs
  to a `ContainerHandlers` object (`cri/container`) once the daemon attaches them (the
  Protocols are in `handlers.py`). Every other RuntimeService RPC is generated from the service
  descriptor and answers UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py import __version__
from crio_py.cri.handlers import ContainerHandlers, ImageHandlers, SandboxHandlers
from crio_py.cri.instrument import Context, Readiness, rpc
from crio_py.cri.runtime_info import RuntimeInfo
from crio_py.errors import UnavailableError, UnimplementedError

RUNTIME_NAME = "crio-py"
RUNTIME_API_VERSION = "v1"
KUBELET_API_VERSION = "0.1.0"
"""`VersionResponse.version`: the version of the kubelet runtime API, "0.1.0" for every runtime."""

NETWORK_NOT_READY_REASON = "NetworkPluginNotReady"
NETWORK_NOT_READY_MESSAGE = "the runtime service is not implemented yet"


class ImageServicer(api_pb2_grpc.ImageServiceServicer):
    """runtime.v1.ImageService."""

    def __init__(self, readiness: Readiness, images: ImageHandlers | None = None) -> None:
        self._readiness = readiness
        self._images = images

    @property
    def readiness(self) -> Readiness:
        """The gate `@rpc` checks before each call."""
        return self._readiness

    @property
    def images(self) -> ImageHandlers:
        """The handlers; the readiness gate keeps RPCs out until they are attached."""
        if self._images is None:
            raise UnavailableError("the image service is not loaded yet")
        return self._images

    def attach(self, images: ImageHandlers) -> None:
        """Hand the RPCs to `images` from now on (the daemon calls this once it is loaded)."""
        self._images = images

    @rpc
    async def ListImages(
        self, request: api_pb2.ListImagesRequest, context: Context
    ) -> api_pb2.ListImagesResponse:
        return await self.images.list_images(request)

    @rpc
    async def ImageStatus(
        self, request: api_pb2.ImageStatusRequest, context: Context
    ) -> api_pb2.ImageStatusResponse:
        return await self.images.image_status(request)

    @rpc
    async def PullImage(
        self, request: api_pb2.PullImageRequest, context: Context
    ) -> api_pb2.PullImageResponse:
        return await self.images.pull_image(request)

    @rpc
    async def RemoveImage(
        self, request: api_pb2.RemoveImageRequest, context: Context
    ) -> api_pb2.RemoveImageResponse:
        return await self.images.remove_image(request)

    @rpc
    async def ImageFsInfo(
        self, request: api_pb2.ImageFsInfoRequest, context: Context
    ) -> api_pb2.ImageFsInfoResponse:
        return await self.images.image_fs_info(request)


ServicerClass = TypeVar("ServicerClass", bound=type)


def unimplemented_rpcs(service: str) -> Callable[[ServicerClass], ServicerClass]:
    """Class decorator: every RPC of `service` the class does not define answers UNIMPLEMENTED."""

    def decorate(cls: ServicerClass) -> ServicerClass:
        for method in api_pb2.DESCRIPTOR.services_by_name[service].methods:
            if method.name not in vars(cls):
                setattr(cls, method.name, _unimplemented(cls.__name__, method.name))
        return cls

    return decorate


def _unimplemented(owner: str, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def method(self: RuntimeServicer, request: object, context: Context) -> object:
        raise UnimplementedError(f"{name} is not implemented by crio-py yet")

    method.__name__ = name
    method.__qualname__ = f"{owner}.{name}"
    return rpc(method)


@unimplemented_rpcs("RuntimeService")
class RuntimeServicer(api_pb2_grpc.RuntimeServiceServicer):
    """runtime.v1.RuntimeService: Version, Status, RuntimeConfig and the pod sandbox RPCs."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness
        self._info: RuntimeInfo | None = None
        self._sandboxes: SandboxHandlers | None = None
        self._containers: ContainerHandlers | None = None

    @property
    def readiness(self) -> Readiness:
        """The gate `@rpc` checks before each call."""
        return self._readiness

    def attach(self, info: RuntimeInfo) -> None:
        """Serve the runtime-wide RPCs from `info` (the daemon attaches it at start)."""
        self._info = info

    def attach_sandboxes(self, sandboxes: SandboxHandlers) -> None:
        """Serve the pod sandbox RPCs from `sandboxes` (the daemon attaches it at start)."""
        self._sandboxes = sandboxes

    def attach_containers(self, containers: ContainerHandlers) -> None:
        """Serve the container RPCs from `containers` (the daemon attaches it at start)."""
        self._containers = containers

    def containers(self, rpc_name: str) -> ContainerHandlers:
        """The container handlers; UNIMPLEMENTED, as for any missing RPC, until attached."""
        if self._containers is None:
            raise UnimplementedError(f"{rpc_name} is not implemented by crio-py yet")
        return self._containers

    def sandboxes(self, rpc_name: str) -> SandboxHandlers:
        """The sandbox handlers; UNIMPLEMENTED, as for any missing RPC, until attached."""
        if self._sandboxes is None:
            raise UnimplementedError(f"{rpc_name} is not implemented by crio-py yet")
        return self._sandboxes

    @rpc
    async def Version(
        self, request: api_pb2.VersionRequest, context: Context
    ) -> api_pb2.VersionResponse:
        return version_response()

    @rpc
    async def Status(
        self, request: api_pb2.StatusRequest, context: Context
    ) -> api_pb2.StatusResponse:
        return await self._info.status(request) if self._info else status_response()

    @rpc
    async def RuntimeConfig(
        self, request: api_pb2.RuntimeConfigRequest, context: Context
    ) -> api_pb2.RuntimeConfigResponse:
        if self._info is None:
            raise UnimplementedError("RuntimeConfig is not available yet")
        return await self._info.runtime_config(request)

    @rpc
    async def UpdateRuntimeConfig(
        self, request: api_pb2.UpdateRuntimeConfigRequest, context: Context
    ) -> api_pb2.UpdateRuntimeConfigResponse:
        return await self.sandboxes("UpdateRuntimeConfig").update_runtime_config(request)

    @rpc
    async def RunPodSandbox(
        self, request: api_pb2.RunPodSandboxRequest, context: Context
    ) -> api_pb2.RunPodSandboxResponse:
        return await self.sandboxes("RunPodSandbox").run_pod_sandbox(request)

    @rpc
    async def StopPodSandbox(
        self, request: api_pb2.StopPodSandboxRequest, context: Context
    ) -> api_pb2.StopPodSandboxResponse:
        return await self.sandboxes("StopPodSandbox").stop_pod_sandbox(request)

    @rpc
    async def RemovePodSandbox(
        self, request: api_pb2.RemovePodSandboxRequest, context: Context
    ) -> api_pb2.RemovePodSandboxResponse:
        return await self.sandboxes("RemovePodSandbox").remove_pod_sandbox(request)

    @rpc
    async def PodSandboxStatus(
        self, request: api_pb2.PodSandboxStatusRequest, context: Context
    ) -> api_pb2.PodSandboxStatusResponse:
        return await self.sandboxes("PodSandboxStatus").pod_sandbox_status(request)

    @rpc
    async def ListPodSandbox(
        self, request: api_pb2.ListPodSandboxRequest, context: Context
    ) -> api_pb2.ListPodSandboxResponse:
        return await self.sandboxes("ListPodSandbox").list_pod_sandbox(request)

    @rpc
    async def CreateContainer(
        self, request: api_pb2.CreateContainerRequest, context: Context
    ) -> api_pb2.CreateContainerResponse:
        return await self.containers("CreateContainer").create_container(request)

    @rpc
    async def StartContainer(
        self, request: api_pb2.StartContainerRequest, context: Context
    ) -> api_pb2.StartContainerResponse:
        return await self.containers("StartContainer").start_container(request)

    @rpc
    async def StopContainer(
        self, request: api_pb2.StopContainerRequest, context: Context
    ) -> api_pb2.StopContainerResponse:
        return await self.containers("StopContainer").stop_container(request)

    @rpc
    async def RemoveContainer(
        self, request: api_pb2.RemoveContainerRequest, context: Context
    ) -> api_pb2.RemoveContainerResponse:
        return await self.containers("RemoveContainer").remove_container(request)

    @rpc
    async def ListContainers(
        self, request: api_pb2.ListContainersRequest, context: Context
    ) -> api_pb2.ListContainersResponse:
        return await self.containers("ListContainers").list_containers(request)

    @rpc
    async def ContainerStatus(
        self, request: api_pb2.ContainerStatusRequest, context: Context
    ) -> api_pb2.ContainerStatusResponse:
        return await self.containers("ContainerStatus").container_status(request)

    @rpc
    async def ExecSync(
        self, request: api_pb2.ExecSyncRequest, context: Context
    ) -> api_pb2.ExecSyncResponse:
        return await self.containers("ExecSync").exec_sync(request)

    @rpc
    async def ReopenContainerLog(
        self, request: api_pb2.ReopenContainerLogRequest, context: Context
    ) -> api_pb2.ReopenContainerLogResponse:
        return await self.containers("ReopenContainerLog").reopen_container_log(request)

    @rpc
    async def UpdateContainerResources(
        self, request: api_pb2.UpdateContainerResourcesRequest, context: Context
    ) -> api_pb2.UpdateContainerResourcesResponse:
        return await self.containers("UpdateContainerResources").update_container_resources(request)

    @rpc
    async def Exec(self, request: api_pb2.ExecRequest, context: Context) -> api_pb2.ExecResponse:
        return await self.containers("Exec").exec(request)

    @rpc
    async def Attach(
        self, request: api_pb2.AttachRequest, context: Context
    ) -> api_pb2.AttachResponse:
        return await self.containers("Attach").attach(request)

    @rpc
    async def PortForward(
        self, request: api_pb2.PortForwardRequest, context: Context
    ) -> api_pb2.PortForwardResponse:
        return await self.containers("PortForward").port_forward(request)

    @rpc
    async def ContainerStats(
        self, request: api_pb2.ContainerStatsRequest, context: Context
    ) -> api_pb2.ContainerStatsResponse:
        return await self.containers("ContainerStats").container_stats(request)

    @rpc
    async def ListContainerStats(
        self, request: api_pb2.ListContainerStatsRequest, context: Context
    ) -> api_pb2.ListContainerStatsResponse:
        return await self.containers("ListContainerStats").list_container_stats(request)

    @rpc
    async def PodSandboxStats(
        self, request: api_pb2.PodSandboxStatsRequest, context: Context
    ) -> api_pb2.PodSandboxStatsResponse:
        return await self.containers("PodSandboxStats").pod_sandbox_stats(request)

    @rpc
    async def ListPodSandboxStats(
        self, request: api_pb2.ListPodSandboxStatsRequest, context: Context
    ) -> api_pb2.ListPodSandboxStatsResponse:
        return await self.containers("ListPodSandboxStats").list_pod_sandbox_stats(request)

    @rpc
    async def ListMetricDescriptors(
        self, request: api_pb2.ListMetricDescriptorsRequest, context: Context
    ) -> api_pb2.ListMetricDescriptorsResponse:
        return await self.containers("ListMetricDescriptors").list_metric_descriptors(request)

    @rpc
    async def ListPodSandboxMetrics(
        self, request: api_pb2.ListPodSandboxMetricsRequest, context: Context
    ) -> api_pb2.ListPodSandboxMetricsResponse:
        return await self.containers("ListPodSandboxMetrics").list_pod_sandbox_metrics(request)


def version_response() -> api_pb2.VersionResponse:
    """What `Version` answers."""
    return api_pb2.VersionResponse(
        version=KUBELET_API_VERSION,
        runtime_name=RUNTIME_NAME,
        runtime_version=__version__,
        runtime_api_version=RUNTIME_API_VERSION,
    )


def status_response() -> api_pb2.StatusResponse:
    """What `Status` answers: the runtime is up; the network is not (no runtime service yet)."""
    conditions = [
        api_pb2.RuntimeCondition(type="RuntimeReady", status=True),
        api_pb2.RuntimeCondition(
            type="NetworkReady",
            status=False,
            reason=NETWORK_NOT_READY_REASON,
            message=NETWORK_NOT_READY_MESSAGE,
        ),
    ]
    return api_pb2.StatusResponse(status=api_pb2.RuntimeStatus(conditions=conditions))


def add_to_server(server: Any, runtime: RuntimeServicer, images: ImageServicer) -> None:
    """Register both CRI services on a grpc.aio server (keeps the stubs inside cri/)."""
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(runtime, server)  # type: ignore[no-untyped-call,unused-ignore]
    api_pb2_grpc.add_ImageServiceServicer_to_server(images, server)  # type: ignore[no-untyped-call,unused-ignore]
