"""The RPC table: CamelCase RPC name → the coroutine function that answers it. Each group
says which RPCs it serves (`sandbox_rpcs`, `container.rpcs.rpc_table`, …); the daemon merges
them and hands the table to the servicers (`servicer.Routes`). Nothing here speaks gRPC.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from cri_api.v1 import api_pb2

Handler = Callable[[Any], Awaitable[Any]]
RpcTable = Mapping[str, Handler]


class ImageRpcs(Protocol):
    """The ImageService RPCs, as `cri/image.py`'s `ImageService` implements them."""

    async def list_images(self, request: api_pb2.ListImagesRequest) -> api_pb2.ListImagesResponse:
        """ListImages."""

    async def image_status(
        self, request: api_pb2.ImageStatusRequest
    ) -> api_pb2.ImageStatusResponse:
        """ImageStatus."""

    async def pull_image(self, request: api_pb2.PullImageRequest) -> api_pb2.PullImageResponse:
        """PullImage."""

    async def remove_image(
        self, request: api_pb2.RemoveImageRequest, images_in_use: Callable[[], set[str]] = set
    ) -> api_pb2.RemoveImageResponse:
        """RemoveImage; an image in `images_in_use()` stays."""

    async def image_fs_info(
        self, request: api_pb2.ImageFsInfoRequest
    ) -> api_pb2.ImageFsInfoResponse:
        """ImageFsInfo."""


def image_rpcs(
    images: ImageRpcs, images_in_use: Callable[[], set[str]] = set
) -> dict[str, Handler]:
    """The ImageService RPCs of `images`; RemoveImage keeps the images containers use."""
    return {
        "ListImages": images.list_images,
        "ImageStatus": images.image_status,
        "PullImage": images.pull_image,
        "RemoveImage": functools.partial(images.remove_image, images_in_use=images_in_use),
        "ImageFsInfo": images.image_fs_info,
    }


def merged(*tables: RpcTable) -> dict[str, Handler]:
    """One table; a name served twice is a wiring bug."""
    found: dict[str, Handler] = {}
    for table in tables:
        twice = found.keys() & table.keys()
        if twice:
            raise ValueError(f"RPCs served twice: {', '.join(sorted(twice))}")
        found.update(table)
    return found
