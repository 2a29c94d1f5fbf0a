"""The @rpc wrapper's logging: levels by RPC kind, and the request context on every record
(through `crio_py.log`'s filter), in text and JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import grpc.aio
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py import log
from crio_py.cri.instrument import ID_LIMIT, MESSAGE_LIMIT, is_polled
from crio_py.errors import QUOTE_LIMIT, InvalidArgumentError, NotFoundError
from tests.unit.cri.fakes import FakeImageService, image, sample_images, serve_fake


def _json_log(level_name: str) -> Iterator[io.StringIO]:
    """Route the root logger to a JSON stream for the test, then put everything back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    handler = log.setup(level_name, "json", stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    assert root.handlers == handlers


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    yield from _json_log("debug")


def records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("name", "polled"),
    [
        ("ListImages", True),
        ("ImageStatus", True),
        ("ContainerStatus", True),
        ("Version", True),
        ("ImageFsInfo", True),
        ("ContainerStats", True),
        ("PullImage", False),
        ("RemoveImage", False),
        ("RunPodSandbox", False),
        ("StopContainer", False),
    ],
)
def test_polled_rpcs(name: str, polled: bool) -> None:
    assert is_polled(name) is polled


class LoggingImageService(FakeImageService):
    """Logs from "a backend" while it serves, as skopeo's wrapper would."""

    async def pull_image(self, request: api_pb2.PullImageRequest) -> api_pb2.PullImageResponse:
        logging.getLogger("crio_py.backends.skopeo").info("Copying %s", request.image.image)
        return await super().pull_image(request)


async def test_mutations_log_at_info_with_the_request_context(json_log: io.StringIO) -> None:
    fake = LoggingImageService(sample_images())
    fake.pullable["busybox:1.37"] = image("sha256:" + "e" * 64, ["busybox:1.37"])
    request = api_pb2.PullImageRequest(
        image=api_pb2.ImageSpec(image="busybox:1.37"),
        auth=api_pb2.AuthConfig(username="bob", password="hunter2"),
    )
    async with serve_fake(fake) as server, grpc.aio.insecure_channel(server.endpoint) as channel:
        await api_pb2_grpc.ImageServiceStub(channel).PullImage(request)
    lines = [r for r in records(json_log) if r.get("rpc") == "PullImage"]
    assert [(r["level"], r["logger"]) for r in lines] == [
        ("info", "crio_py.cri.instrument"),
        ("info", "crio_py.backends.skopeo"),
        ("info", "crio_py.cri.instrument"),
    ]
    assert lines[0]["msg"] == "PullImage started for image 'busybox:1.37'"
    assert lines[2]["msg"].startswith("PullImage finished in ")
    # The id the RPC returns is in the finish record, as containerd logs it.
    assert lines[2]["msg"].endswith(" and returned image_ref 'sha256:" + "e" * 64 + "'")
    assert len({r["request_id"] for r in lines}) == 1
    assert "hunter2" not in json_log.getvalue()


async def test_polled_rpcs_log_at_debug_and_failures_once_at_error(
    json_log: io.StringIO,
) -> None:
    fake = FakeImageService(sample_images())
    fake.errors["image_status"] = NotFoundError("image busybox:9 not found")
    async with serve_fake(fake) as server, grpc.aio.insecure_channel(server.endpoint) as channel:
        stub = api_pb2_grpc.ImageServiceStub(channel)
        await stub.ListImages(api_pb2.ListImagesRequest())
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.ImageStatus(
                api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image="busybox:9"))
            )
    listed = [r for r in records(json_log) if r.get("rpc") == "ListImages"]
    assert {r["level"] for r in listed} == {"debug"}
    assert "returned" not in listed[-1]["msg"]  # a response without an id says nothing more
    status = [r for r in records(json_log) if r.get("rpc") == "ImageStatus"]
    assert [r["level"] for r in status] == ["debug", "error"]
    assert status[1]["msg"].endswith("NOT_FOUND: image busybox:9 not found")
    assert "error" not in status[1]  # no traceback for a domain error
    assert status[0]["request_id"] != listed[0]["request_id"]


@pytest.fixture
def info_log() -> Iterator[io.StringIO]:
    """As json_log, at the info level (the daemon's default)."""
    yield from _json_log("info")


async def test_a_quiet_polled_rpc_still_logs_its_failure(info_log: io.StringIO) -> None:
    """Below debug, a polled RPC binds no log context, but a failure is logged with it."""
    fake = FakeImageService(sample_images())
    fake.errors["image_status"] = NotFoundError("image busybox:9 not found")
    async with serve_fake(fake) as server, grpc.aio.insecure_channel(server.endpoint) as channel:
        stub = api_pb2_grpc.ImageServiceStub(channel)
        await stub.ListImages(api_pb2.ListImagesRequest())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ImageStatus(
                api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image="busybox:9"))
            )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    logged = [r for r in records(info_log) if r.get("rpc")]
    assert [(r["rpc"], r["level"]) for r in logged] == [("ImageStatus", "error")]
    assert logged[0]["request_id"]


def test_the_text_format_appends_the_context() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = log.setup("info", "text", stream)
    try:
        with log.bound(rpc="StopContainer", request_id="abc123", container_id="c" * 64):
            logging.getLogger("crio_py.test").info("Stopped container %s", "c" * 64)
        logging.getLogger("crio_py.test").debug("not shown at info")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert " INFO crio_py.test: Stopped container " in line
    assert line.rstrip().endswith(f"rpc=StopContainer request_id=abc123 container_id={'c' * 64}")


def test_setup_replaces_its_own_handler() -> None:
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    first = log.setup("debug", "text", io.StringIO())
    second = log.setup("warn", "json", io.StringIO())
    try:
        assert first not in root.handlers
        assert second in root.handlers
        assert root.level == logging.WARNING
    finally:
        root.removeHandler(second)
        root.setLevel(level)
    assert root.handlers == before


@pytest.mark.parametrize(
    ("name", "level"),
    [("trace", logging.DEBUG), ("Info", logging.INFO), ("warn", logging.WARNING), ("panic", 50)],
)
def test_level_names_of_both_daemons(name: str, level: int) -> None:
    assert log.parse_level(name) == level


def test_an_unknown_level_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="trace, debug, info"):
        log.parse_level("verbose")


@pytest.mark.parametrize(
    ("level", "grpc_level"), [("debug", logging.INFO), ("trace", logging.DEBUG)]
)
def test_grpc_debug_records_only_at_trace(level: str, grpc_level: int) -> None:
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in log.NOISY_LIBRARIES}
    root_level = root.level
    handler = log.setup(level, "text", io.StringIO())
    try:
        assert logging.getLogger("grpc").level == grpc_level
        assert root.level == logging.DEBUG
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for name, value in saved.items():
            logging.getLogger(name).setLevel(value)


MEGABYTE = 1024 * 1024


async def test_a_huge_error_message_is_cut_and_keeps_its_code(json_log: io.StringIO) -> None:
    """A message that echoed a 1 MB field would not fit in the status trailers: the client
    would see RESOURCE_EXHAUSTED instead of the code, and the log a 1 MB line."""
    fake = FakeImageService(sample_images())
    fake.errors["image_status"] = InvalidArgumentError("bad image " + "x" * MEGABYTE)
    async with serve_fake(fake) as server, grpc.aio.insecure_channel(server.endpoint) as channel:
        stub = api_pb2_grpc.ImageServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ImageStatus(api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image="b")))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = raised.value.details()
    assert details.startswith("bad image xxx")
    assert details.endswith(f"… ({len('bad image ') + MEGABYTE - MESSAGE_LIMIT} more bytes)")
    assert len(details.encode()) < MESSAGE_LIMIT + 100
    failure = [r for r in records(json_log) if r["level"] == "error"]
    assert len(failure) == 1
    assert len(failure[0]["msg"]) < MESSAGE_LIMIT + 200


async def test_huge_ids_and_image_refs_stay_out_of_the_log_context(json_log: io.StringIO) -> None:
    huge = "c" * MEGABYTE
    async with serve_fake() as server, grpc.aio.insecure_channel(server.endpoint) as channel:
        runtime = api_pb2_grpc.RuntimeServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError):
            await runtime.StopContainer(api_pb2.StopContainerRequest(container_id=huge))
        images = api_pb2_grpc.ImageServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError):
            await images.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=huge)))
    # The fake pull fails with a KeyError of the whole ref: a traceback, cut too.
    assert len(json_log.getvalue()) < log.TRACEBACK_LIMIT + 10 * MESSAGE_LIMIT
    stopped = [r for r in records(json_log) if r.get("rpc") == "StopContainer"]
    assert stopped[0]["container_id"] == "c" * ID_LIMIT + f"… ({MEGABYTE - ID_LIMIT} more bytes)"
    pulled = [r for r in records(json_log) if r.get("rpc") == "PullImage"]
    assert pulled[0]["msg"].endswith(f"'… ({MEGABYTE - QUOTE_LIMIT} more bytes)")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_record_writes_a_megabyte_line(log_format: log.LogFormat) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = log.setup("info", log_format, stream)
    try:
        logging.getLogger("crio_py.test").info("Created container %s", "n" * MEGABYTE)
        try:
            raise KeyError("k" * MEGABYTE)
        except KeyError:
            logging.getLogger("crio_py.test").exception("Unexpected")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    assert len(text) < log.MESSAGE_LIMIT + log.TRACEBACK_LIMIT + 1000
    assert f"({MEGABYTE - log.MESSAGE_LIMIT + len('Created container ')} more bytes)" in text
    assert "more bytes)" in text.rpartition("Unexpected")[2]
