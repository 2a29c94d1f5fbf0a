"""Test doubles for the CRI layer: `FakeImageService` (the interface of `cri/image.py`) and a real
grpc.aio server on a temporary unix socket serving it."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
from cri_api.v1 import api_pb2

from crio_py.config.model import RuntimeSettings
from crio_py.cri.rpcs import RpcTable, image_rpcs
from crio_py.cri.runtime_info import version
from crio_py.cri.servicer import Routes, add_to_server

BUSYBOX_ID = "sha256:" + "b" * 64
PAUSE_ID = "sha256:" + "a" * 64
UNTAGGED_ID = "sha256:" + "c" * 64


def image(
    image_id: str,
    tags: Iterable[str] = (),
    digests: Iterable[str] = (),
    size: int = 0,
    pinned: bool = False,
) -> api_pb2.Image:
    """An Image message."""
    return api_pb2.Image(
        id=image_id, repo_tags=list(tags), repo_digests=list(digests), size=size, pinned=pinned
    )


def sample_images() -> list[api_pb2.Image]:
    """busybox, pause (pinned) and an image pulled by digest only."""
    return [
        image(
            BUSYBOX_ID,
            ["docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"],
            ["docker.io/library/busybox@sha256:" + "1" * 64],
            size=2_155_576,
        ),
        image(
            PAUSE_ID,
            ["registry.k8s.io/pause:3.10"],
            ["registry.k8s.io/pause@sha256:" + "2" * 64],
            size=320_368,
            pinned=True,
        ),
        image(UNTAGGED_ID, [], ["quay.io/app/web@sha256:" + "3" * 64], size=51_234_000),
    ]


def normalise(ref: str) -> str:
    """Enough of docker normalisation for tests: busybox → docker.io/library/busybox:latest."""
    name = ref
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    return name


class FakeImageService:
    """In-memory images with the interface of `crio_py.cri.image.ImageService`.

    `errors[method]` makes a method raise; `pullable[ref]` is what a pull of `ref` adds;
    `calls` records (method, request); `block` makes every call wait until cancelled.
    """

    def __init__(self, images: Iterable[api_pb2.Image] = ()) -> None:
        self.images: dict[str, api_pb2.Image] = {i.id: i for i in images}
        self.errors: dict[str, BaseException] = {}
        self.pullable: dict[str, api_pb2.Image] = {}
        self.calls: list[tuple[str, object]] = []
        self.block = False
        self.cancelled: list[str] = []
        self.closed = False

    @classmethod
    async def open(cls, settings: RuntimeSettings) -> FakeImageService:
        """Like ImageService.open."""
        return cls(sample_images())

    def reload_settings(self, settings: RuntimeSettings) -> None:
        self.reloaded = settings

    def rootfs_ids(self) -> set[str]:
        return set()

    async def _enter(self, method: str, request: object) -> None:
        self.calls.append((method, request))
        if self.block:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(method)
                raise
        if method in self.errors:
            raise self.errors[method]

    def find(self, ref: str) -> api_pb2.Image | None:
        """By id, id prefix, repo tag or repo digest."""
        for candidate in self.images.values():
            bare = candidate.id.removeprefix("sha256:")
            if ref in (candidate.id, bare) or (len(ref) >= 3 and bare.startswith(ref)):
                return candidate
            names = [*candidate.repo_tags, *candidate.repo_digests]
            if ref in names or normalise(ref) in names:
                return candidate
        return None

    async def list_images(self, request: api_pb2.ListImagesRequest) -> api_pb2.ListImagesResponse:
        """ListImages, filtered by reference."""
        await self._enter("list_images", request)
        wanted = request.filter.image.image
        if not wanted:
            return api_pb2.ListImagesResponse(images=list(self.images.values()))
        found = self.find(wanted)
        return api_pb2.ListImagesResponse(images=[found] if found else [])

    async def image_status(
        self, request: api_pb2.ImageStatusRequest
    ) -> api_pb2.ImageStatusResponse:
        """ImageStatus; verbose adds an `info` JSON object like containerd's."""
        await self._enter("image_status", request)
        found = self.find(request.image.image)
        if found is None:
            return api_pb2.ImageStatusResponse()
        info = {}
        if request.verbose:
            info["info"] = json.dumps({"chainID": "sha256:" + "d" * 64, "imageSpec": {}})
        return api_pb2.ImageStatusResponse(image=found, info=info)

    async def pull_image(self, request: api_pb2.PullImageRequest) -> api_pb2.PullImageResponse:
        """PullImage: adds `pullable[ref]`."""
        await self._enter("pull_image", request)
        pulled = self.pullable[request.image.image]
        self.images[pulled.id] = pulled
        return api_pb2.PullImageResponse(image_ref=pulled.id)

    async def remove_image(
        self, request: api_pb2.RemoveImageRequest, images_in_use: Callable[[], set[str]] = set
    ) -> api_pb2.RemoveImageResponse:
        """RemoveImage; removing an absent image is OK (CRI)."""
        await self._enter("remove_image", request)
        found = self.find(request.image.image)
        if found is not None:
            del self.images[found.id]
        return api_pb2.RemoveImageResponse()

    async def image_fs_info(
        self, request: api_pb2.ImageFsInfoRequest
    ) -> api_pb2.ImageFsInfoResponse:
        """ImageFsInfo: one filesystem."""
        await self._enter("image_fs_info", request)
        usage = api_pb2.FilesystemUsage(
            timestamp=1_700_000_000_000_000_000,
            fs_id=api_pb2.FilesystemIdentifier(mountpoint="/var/lib/crio-py/snapshots"),
            used_bytes=api_pb2.UInt64Value(value=53_709_944),
            inodes_used=api_pb2.UInt64Value(value=1_234),
        )
        return api_pb2.ImageFsInfoResponse(image_filesystems=[usage])

    async def close(self) -> None:
        """Like ImageService.close."""
        self.closed = True


@contextmanager
def short_tmp_dir() -> Iterator[Path]:
    """A temporary directory with a short path: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="crio-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def network_not_ready(request: api_pb2.StatusRequest) -> api_pb2.StatusResponse:
    """Status of a runtime without a network: RuntimeReady, NetworkReady false."""
    conditions = [
        api_pb2.RuntimeCondition(type="RuntimeReady", status=True),
        api_pb2.RuntimeCondition(
            type="NetworkReady", status=False, reason="NetworkPluginNotReady", message="no CNI"
        ),
    ]
    return api_pb2.StatusResponse(status=api_pb2.RuntimeStatus(conditions=conditions))


def fake_table(images: FakeImageService) -> RpcTable:
    """Version, Status and the image RPCs of `images`."""
    return {"Version": version, "Status": network_not_ready, **image_rpcs(images)}


@dataclass
class FakeServer:
    """A running grpc.aio server with the real servicers over a FakeImageService."""

    socket_path: Path
    images: FakeImageService
    routes: Routes

    def serve(self) -> None:
        """Mark the server ready, as the daemon does once it has started."""
        self.routes.serve(fake_table(self.images))

    @property
    def endpoint(self) -> str:
        """The CRI endpoint, as crictl spells it."""
        return f"unix://{self.socket_path}"


@asynccontextmanager
async def serve_fake(
    images: FakeImageService | None = None, *, ready: bool = True
) -> AsyncIterator[FakeServer]:
    """Serve both servicers on a temporary unix socket."""
    fake = images if images is not None else FakeImageService(sample_images())
    with short_tmp_dir() as tmp:
        socket_path = tmp / "crio.sock"
        server = grpc.aio.server()
        running = FakeServer(socket_path, fake, Routes())
        add_to_server(server, running.routes)
        if ready:
            running.serve()
        server.add_insecure_port(f"unix://{socket_path}")
        await server.start()
        try:
            yield running
        finally:
            await server.stop(None)
