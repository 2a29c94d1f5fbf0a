"""The CRI connection of `crio-py ctl`: channels and typed calls over the grpc stubs.

Every call has the `--timeout` deadline except PullImage, which gets its own (crictl's image
client pulls without a deadline unless one is asked for).
"""

from __future__ import annotations

from types import TracebackType

import grpc  # type: ignore[import-untyped,unused-ignore]
from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py.ctl.endpoints import grpc_target

MAX_MESSAGE_SIZE = 16 * 1024 * 1024  # crictl's maxMsgSize


def describe_rpc_error(error: grpc.RpcError) -> str:
    """`<CODE>: <message>` of a failed call."""
    code = error.code()
    name = code.name if code is not None else "UNKNOWN"
    details = error.details() or ""
    return f"{name}: {details}" if details else name


class Client:
    """Typed CRI calls over one or two channels; use as a context manager."""

    def __init__(
        self, runtime_endpoint: str, image_endpoint: str, *, timeout_s: float | None
    ) -> None:
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
            ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
        ]
        runtime_target, image_target = grpc_target(runtime_endpoint), grpc_target(image_endpoint)
        self._runtime_channel = grpc.insecure_channel(runtime_target, options=options)
        self._image_channel = (
            self._runtime_channel
            if image_target == runtime_target
            else grpc.insecure_channel(image_target, options=options)
        )
        self.timeout_s = timeout_s
        self.runtime = api_pb2_grpc.RuntimeServiceStub(self._runtime_channel)  # type: ignore[no-untyped-call,unused-ignore]
        self.images = api_pb2_grpc.ImageServiceStub(self._image_channel)  # type: ignore[no-untyped-call,unused-ignore]

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channels."""
        self._runtime_channel.close()
        if self._image_channel is not self._runtime_channel:
            self._image_channel.close()

    def version(self) -> api_pb2.VersionResponse:
        """RuntimeService.Version."""
        request = api_pb2.VersionRequest(version="v1")
        response: api_pb2.VersionResponse = self.runtime.Version(request, timeout=self.timeout_s)
        return response

    def list_containers(self) -> list[api_pb2.Container]:
        """RuntimeService.ListContainers; UNIMPLEMENTED (no runtime service yet) means none."""
        try:
            response: api_pb2.ListContainersResponse = self.runtime.ListContainers(
                api_pb2.ListContainersRequest(), timeout=self.timeout_s
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return []
            raise
        return list(response.containers)

    def list_images(self, image: str = "") -> list[api_pb2.Image]:
        """ImageService.ListImages, filtered by a reference as crictl does."""
        request = api_pb2.ListImagesRequest(
            filter=api_pb2.ImageFilter(image=api_pb2.ImageSpec(image=image))
        )
        response: api_pb2.ListImagesResponse = self.images.ListImages(
            request, timeout=self.timeout_s
        )
        return list(response.images)

    def image_status(self, image: str, *, verbose: bool = False) -> api_pb2.ImageStatusResponse:
        """ImageService.ImageStatus."""
        request = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=image), verbose=verbose)
        response: api_pb2.ImageStatusResponse = self.images.ImageStatus(
            request, timeout=self.timeout_s
        )
        return response

    def pull_image(
        self, image: str, auth: api_pb2.AuthConfig | None, *, timeout_s: float | None
    ) -> api_pb2.PullImageResponse:
        """ImageService.PullImage with its own deadline (None: no deadline)."""
        request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=image), auth=auth)
        response: api_pb2.PullImageResponse = self.images.PullImage(request, timeout=timeout_s)
        return response

    def remove_image(self, image: str) -> None:
        """ImageService.RemoveImage."""
        request = api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=image))
        self.images.RemoveImage(request, timeout=self.timeout_s)

    def image_fs_info(self) -> api_pb2.ImageFsInfoResponse:
        """ImageService.ImageFsInfo."""
        response: api_pb2.ImageFsInfoResponse = self.images.ImageFsInfo(
            api_pb2.ImageFsInfoRequest(), timeout=self.timeout_s
        )
        return response
