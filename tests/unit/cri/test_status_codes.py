"""Every row of the error → status code table, checked through a real grpc.aio server on a
temporary unix socket; plus the readiness gate, unexpected errors and cancellation."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py import errors
from crio_py.cri.status_codes import DEFAULT_CODE, STATUS_CODES, status_code_for
from crio_py.errors import CommandError, ConfigError, CrioPyError, NotFoundError
from tests.unit.cri.fakes import FakeImageService, FakeServer, sample_images, serve_fake

EXPECTED = {
    errors.NotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    errors.InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.UnavailableError: grpc.StatusCode.UNAVAILABLE,
    errors.UnimplementedError: grpc.StatusCode.UNIMPLEMENTED,
    errors.DeadlineExceededError: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.IntegrityError: grpc.StatusCode.DATA_LOSS,
    errors.ConfigError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ConfigReadError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.CommandError: grpc.StatusCode.INTERNAL,
    errors.CommandStartError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.CommandTooLongError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.CrioPyError: grpc.StatusCode.INTERNAL,
}


def make_error(cls: type[CrioPyError]) -> CrioPyError:
    """An instance of any class of crio_py.errors, with a recognisable message."""
    if issubclass(cls, errors.CommandStartError):
        return cls(["runc", "create"], FileNotFoundError(2, "No such file or directory"))
    if issubclass(cls, CommandError):
        return cls(["skopeo", "copy", "docker://busybox"], 1, "manifest unknown")
    if issubclass(cls, ConfigError):
        return cls("/etc/containerd/config.toml: cannot load the configuration", [])
    return cls(f"{cls.__name__} raised by the fake image service")


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with serve_fake(FakeImageService(sample_images())) as running:
        yield running


@pytest.fixture
async def stub(server: FakeServer) -> AsyncIterator[api_pb2_grpc.ImageServiceStub]:
    async with grpc.aio.insecure_channel(server.endpoint) as channel:
        yield api_pb2_grpc.ImageServiceStub(channel)


def test_the_expectations_cover_the_table() -> None:
    assert set(STATUS_CODES) <= set(EXPECTED)


def test_every_error_class_has_a_row_or_inherits_one() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, CrioPyError) and cls is not CrioPyError
    ]
    for cls in classes:
        assert any(base in STATUS_CODES for base in cls.__mro__), cls
        assert cls in EXPECTED, f"add {cls.__name__} to EXPECTED"


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda cls: cls.__name__)
async def test_each_error_reaches_the_client_with_its_code(
    server: FakeServer,
    stub: api_pb2_grpc.ImageServiceStub,
    cls: type[CrioPyError],
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = make_error(cls)
    server.images.errors["pull_image"] = error
    request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image="busybox"))
    with caplog.at_level(logging.DEBUG), pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.PullImage(request)
    assert raised.value.code() == EXPECTED[cls]
    assert raised.value.details() == str(error)
    # One log line per failure; an RPC crio-py does not serve yet is logged at DEBUG only.
    level = logging.DEBUG if cls is errors.UnimplementedError else logging.ERROR
    failures = [r for r in caplog.records if "failed after" in r.getMessage()]
    assert [r.levelno for r in failures] == [level]
    assert failures[0].exc_info is None  # a domain error is expected: no traceback
    assert str(error) in failures[0].getMessage()


def test_the_most_specific_class_in_the_mro_wins() -> None:
    class ManifestUnknownError(NotFoundError, CommandError):
        def __init__(self) -> None:
            CommandError.__init__(self, ["skopeo"], 1, "manifest unknown")

    assert status_code_for(ManifestUnknownError()) == grpc.StatusCode.NOT_FOUND
    assert status_code_for(KeyError("x")) == DEFAULT_CODE == grpc.StatusCode.INTERNAL


async def test_an_unexpected_exception_is_internal_and_logged_with_its_traceback(
    server: FakeServer,
    stub: api_pb2_grpc.ImageServiceStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.images.errors["list_images"] = KeyError("layers")
    with caplog.at_level(logging.DEBUG), pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListImages(api_pb2.ListImagesRequest())
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "KeyError: 'layers'"
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


async def test_rpcs_are_unavailable_until_the_daemon_is_ready() -> None:
    fake = FakeImageService(sample_images())
    async with (
        serve_fake(fake, ready=False) as server,
        grpc.aio.insecure_channel(server.endpoint) as channel,
    ):
        images = api_pb2_grpc.ImageServiceStub(channel)
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        for call in (
            images.ListImages(api_pb2.ListImagesRequest()),
            runtime.Version(api_pb2.VersionRequest()),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert raised.value.details() == "crio-py is starting"
        assert fake.calls == []
        server.serve()
        response = await images.ListImages(api_pb2.ListImagesRequest())
        assert len(response.images) == 3


async def test_cancellation_reaches_the_handler_and_is_not_a_failure(
    server: FakeServer,
    stub: api_pb2_grpc.ImageServiceStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.images.block = True
    request = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image="busybox"))
    with caplog.at_level(logging.INFO):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.PullImage(request, timeout=0.2)
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        for _ in range(100):
            if server.images.cancelled:
                break
            await asyncio.sleep(0.01)
    assert server.images.cancelled == ["pull_image"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("PullImage cancelled" in r.getMessage() for r in caplog.records)
