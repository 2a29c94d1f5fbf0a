"""The servicers over a real grpc.aio server: Version, Status, the image RPCs forwarded to the
image service, and UNIMPLEMENTED for every other RuntimeService RPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py import __version__
from crio_py.cri.rpcs import merged
from crio_py.cri.servicer import ImageServicer, RuntimeServicer
from tests.unit.cri.fakes import BUSYBOX_ID, FakeServer, image, serve_fake

IMPLEMENTED = {"Version", "Status"}  # what the fake table serves
RUNTIME_RPCS = api_pb2.DESCRIPTOR.services_by_name["RuntimeService"].methods


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with serve_fake() as running:
        yield running


@pytest.fixture
async def channel(server: FakeServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.endpoint) as open_channel:
        yield open_channel


async def test_version(channel: grpc.aio.Channel) -> None:
    response = await api_pb2_grpc.RuntimeServiceStub(channel).Version(
        api_pb2.VersionRequest(version="v1")
    )
    assert response == api_pb2.VersionResponse(
        version="0.1.0",
        runtime_name="crio-py",
        runtime_version=__version__,
        runtime_api_version="v1",
    )


async def test_status_says_the_runtime_is_ready_and_the_network_is_not(
    channel: grpc.aio.Channel,
) -> None:
    response = await api_pb2_grpc.RuntimeServiceStub(channel).Status(api_pb2.StatusRequest())
    conditions = {c.type: c for c in response.status.conditions}
    assert conditions["RuntimeReady"].status is True
    network = conditions["NetworkReady"]
    assert network.status is False
    assert network.reason == "NetworkPluginNotReady"
    assert network.message == "no CNI"


def test_every_runtime_rpc_is_defined_by_the_servicer() -> None:
    for method in RUNTIME_RPCS:
        assert method.name in vars(RuntimeServicer), method.name
    assert len(RUNTIME_RPCS) == 30


@pytest.mark.parametrize(
    "method", [m for m in RUNTIME_RPCS if m.name not in IMPLEMENTED], ids=lambda m: m.name
)
async def test_other_runtime_rpcs_are_unimplemented(channel: grpc.aio.Channel, method: Any) -> None:
    name = method.name
    request_class = getattr(api_pb2, method.input_type.name)
    response_class = getattr(api_pb2, method.output_type.name)
    path = f"/runtime.v1.RuntimeService/{name}"
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    call = kind(
        path,
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )(request_class())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        if method.server_streaming:
            async for _ in call:
                pass
        else:
            await call
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert raised.value.details() == f"{name} is not implemented by crio-py yet"


async def test_image_rpcs_reach_the_image_service(
    server: FakeServer, channel: grpc.aio.Channel
) -> None:
    stub = api_pb2_grpc.ImageServiceStub(channel)
    server.images.pullable["busybox:1.37"] = image("sha256:" + "e" * 64, ["busybox:1.37"])
    spec = api_pb2.ImageSpec(image="busybox:1.37")
    pulled = await stub.PullImage(api_pb2.PullImageRequest(image=spec))
    assert pulled.image_ref == "sha256:" + "e" * 64
    status = await stub.ImageStatus(api_pb2.ImageStatusRequest(image=spec))
    assert status.image.id == pulled.image_ref
    await stub.RemoveImage(api_pb2.RemoveImageRequest(image=spec))
    listed = await stub.ListImages(api_pb2.ListImagesRequest())
    assert BUSYBOX_ID in [i.id for i in listed.images]
    assert pulled.image_ref not in [i.id for i in listed.images]
    fs = await stub.ImageFsInfo(api_pb2.ImageFsInfoRequest())
    assert fs.image_filesystems[0].fs_id.mountpoint == "/var/lib/crio-py/snapshots"
    assert [name for name, _ in server.images.calls] == [
        "pull_image",
        "image_status",
        "remove_image",
        "list_images",
        "image_fs_info",
    ]


def test_the_servicer_methods_keep_their_names() -> None:
    for name in ("ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"):
        assert getattr(ImageServicer, name).__name__ == name


def test_a_table_serving_one_rpc_twice_is_refused() -> None:
    async def answer(request: object) -> object:
        return request

    assert merged({"Version": answer}, {"Status": answer}) == {"Version": answer, "Status": answer}
    with pytest.raises(ValueError, match="RPCs served twice: Version"):
        merged({"Version": answer}, {"Version": answer})
