"""ImageService with a fake puller and snapshotter: dedupe, limits, remove, GC, failures."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cri_api.v1 import api_pb2

from crio_py.backends.skopeo import PulledImage, PullSpec
from crio_py.config.load import load_settings
from crio_py.cri.image import ImageService
from crio_py.errors import (
    FailedPreconditionError,
    IntegrityError,
    InvalidArgumentError,
    PermissionDeniedError,
)
from crio_py.store.content import ContentStore
from crio_py.store.images import ImageStore
from crio_py.store.records import Descriptor


def _blob(store: ContentStore, data: bytes, media_type: str = "m") -> Descriptor:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    store.ingest_bytes(data, digest)
    return Descriptor(media_type=media_type, digest=digest, size=len(data))


class FakePuller:
    """Stores a one-layer image whose content depends on the reference."""

    def __init__(self, content: ContentStore) -> None:
        self.content = content
        self.calls: list[str] = []
        self.specs: list[PullSpec] = []
        self.gate: asyncio.Event | None = None
        self.running = 0
        self.most_running = 0

    async def pull(self, spec: PullSpec) -> PulledImage:
        self.calls.append(str(spec.reference))
        self.specs.append(spec)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            layer = _blob(self.content, f"layer {spec.reference.path}".encode())
            config_json = {
                "rootfs": {"diff_ids": ["sha256:" + "d" * 64]},
                "config": {"User": "app"},
                "comment": spec.reference.path,
            }
            config = _blob(self.content, json.dumps(config_json).encode())
            manifest = _blob(self.content, b"manifest " + spec.reference.path.encode())
            return PulledImage(
                manifest=manifest, config=config, layers=(layer,), config_json=config_json
            )
        finally:
            self.running -= 1


class FakeSnapshotter:
    def __init__(self) -> None:
        self.prepared: list[list[Any]] = []
        self.fail = False
        self.snapshots: set[str] = set()

    async def prepare(self, layers: list[Any]) -> list[Path]:
        if self.fail:
            raise IntegrityError("layer escapes")
        self.prepared.append(layers)
        self.snapshots.add(layers[0].diff_id)
        return []

    def snapshot_ids(self) -> set[str]:
        return set(self.snapshots)

    def remove_snapshot(self, chain_id: str) -> None:
        self.snapshots.discard(chain_id)

    def detach_snapshot(self, chain_id: str) -> Path | None:
        self.snapshots.discard(chain_id)
        return None  # nothing on disk to delete later

    def usage(self) -> tuple[int, int]:
        return 100, 10


@pytest.fixture
def service(tmp_path: Path) -> ImageService:
    settings, _ = load_settings(None)
    settings = settings.model_copy(update={"root_dir": tmp_path, "max_concurrent_downloads": 1})
    content = ContentStore(tmp_path / "content")
    return ImageService(
        settings,
        content=content,
        images=ImageStore(tmp_path / "images"),
        puller=FakePuller(content),  # type: ignore[arg-type]
        snapshotter=FakeSnapshotter(),
    )  # type: ignore[arg-type]


def _pull(name: str) -> api_pb2.PullImageRequest:
    return api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=name))


async def test_pull_then_list_status_and_remove(service: ImageService) -> None:
    response = await service.pull_image(_pull("busybox:1"))
    images = (await service.list_images(api_pb2.ListImagesRequest())).images
    assert [i.id for i in images] == [response.image_ref]
    assert images[0].repo_tags == ["docker.io/library/busybox:1"]
    assert images[0].username == "app"
    status = await service.image_status(
        api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image="busybox:1"), verbose=True)
    )
    assert status.image.id == response.image_ref
    assert json.loads(status.info["info"])["imageSpec"]["config"] == {"User": "app"}
    await service.remove_image(
        api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image="busybox:1"))
    )
    assert (await service.list_images(api_pb2.ListImagesRequest())).images == []
    assert list(service.content.digests()) == []  # collected


async def test_unknown_images_are_no_error(service: ImageService) -> None:
    spec = api_pb2.ImageSpec(image="nothing:1")
    assert not (await service.image_status(api_pb2.ImageStatusRequest(image=spec))).HasField(
        "image"
    )
    await service.remove_image(api_pb2.RemoveImageRequest(image=spec))


async def test_identical_pulls_in_flight_share_one_download(service: ImageService) -> None:
    puller: FakePuller = service.puller  # type: ignore[assignment]
    puller.gate = asyncio.Event()
    pulls = [asyncio.create_task(service.pull_image(_pull("busybox:1"))) for _ in range(3)]
    await asyncio.sleep(0.01)
    puller.gate.set()
    refs = {r.image_ref for r in await asyncio.gather(*pulls)}
    assert len(refs) == 1 and puller.calls == ["docker.io/library/busybox:1"]


async def test_max_concurrent_downloads_bounds_pulls(service: ImageService) -> None:
    puller: FakePuller = service.puller  # type: ignore[assignment]
    await asyncio.gather(*(service.pull_image(_pull(f"app{i}:1")) for i in range(4)))
    assert puller.most_running == 1 and len(puller.calls) == 4


async def test_a_pull_whose_layer_fails_leaves_nothing(service: ImageService) -> None:
    service.snapshotter.fail = True  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError):
        await service.pull_image(_pull("busybox:1"))
    assert service.images.all() == []
    assert list(service.content.digests()) == []


async def test_a_pull_whose_record_cannot_be_saved_leaves_nothing(
    service: ImageService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(record: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.images, "save", refuse)
    with pytest.raises(OSError):
        await service.pull_image(_pull("busybox:1"))
    assert list(service.content.digests()) == []
    assert service.snapshotter.snapshot_ids() == set()  # unpacked, then taken back


async def test_removing_one_of_two_tags_keeps_the_image(service: ImageService) -> None:
    await service.pull_image(_pull("busybox:1"))
    record = service.images.resolve("busybox:1")
    service.images.save(
        record.model_copy(
            update={"repo_tags": (*record.repo_tags, "docker.io/library/busybox:latest")}
        )
    )
    await service.remove_image(
        api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image="busybox:1"))
    )
    assert service.images.resolve("busybox").repo_tags == ("docker.io/library/busybox:latest",)


async def test_image_fs_info_counts_blobs_and_snapshots(service: ImageService) -> None:
    await service.pull_image(_pull("busybox:1"))
    response = await service.image_fs_info(api_pb2.ImageFsInfoRequest())
    usage = response.image_filesystems[0]
    assert usage.used_bytes.value > 100 and usage.inodes_used.value > 10
    assert usage.fs_id.mountpoint == str(service.settings.root_dir)
    assert list(response.container_filesystems) == [usage]  # not a split image filesystem


async def test_a_blocked_registry_is_refused(service: ImageService) -> None:
    registry = service.settings.registry.model_copy(update={"blocked_hosts": ("bad.example.com",)})
    service.settings = service.settings.model_copy(update={"registry": registry})
    with pytest.raises(PermissionDeniedError, match="blocked"):
        await service.pull_image(_pull("bad.example.com/app:1"))
    assert service.puller.calls == []  # type: ignore[attr-defined]


async def test_an_image_a_container_uses_stays(service: ImageService) -> None:
    image_id = (await service.pull_image(_pull("busybox:1"))).image_ref
    request = api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image="busybox:1"))
    with pytest.raises(FailedPreconditionError, match="used by a container"):
        await service.remove_image(request, lambda: {image_id})
    assert [r.id for r in service.images.all()] == [image_id]
    await service.remove_image(request, set)
    assert service.images.all() == []


def _pull_with(name: str, **auth: str) -> api_pb2.PullImageRequest:
    return api_pb2.PullImageRequest(
        image=api_pb2.ImageSpec(image=name), auth=api_pb2.AuthConfig(**auth)
    )


async def test_pulls_with_other_credentials_never_share_a_download(
    service: ImageService,
) -> None:
    puller: FakePuller = service.puller  # type: ignore[assignment]
    puller.gate = asyncio.Event()
    seen: list[object] = []
    pull = puller.pull

    async def recording(spec: PullSpec) -> PulledImage:
        seen.append(spec.sources[0].credentials)
        return await pull(spec)

    puller.pull = recording  # type: ignore[method-assign]
    requests = [
        _pull_with("busybox:1", username="u", password="right"),
        _pull_with("busybox:1", username="u", password="wrong"),
        _pull_with("busybox:1", username="u", password="right"),
    ]
    pulls = [asyncio.create_task(service.pull_image(r)) for r in requests]
    await asyncio.sleep(0.01)
    puller.gate.set()
    await asyncio.gather(*pulls)
    assert sorted(c.password for c in seen) == ["right", "wrong"]  # type: ignore[attr-defined]


async def test_a_registry_token_alone_is_refused_without_quoting_it(
    service: ImageService,
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await service.pull_image(_pull_with("busybox:1", registry_token="t0ken-reg-1"))
    assert "registry_token is not supported" in str(caught.value)
    assert "t0ken-reg-1" not in str(caught.value)
    assert service.puller.calls == []  # type: ignore[attr-defined]
def _pull_with_auth(name: str, encoded: str) -> api_pb2.PullImageRequest:
    request = _pull(name)
    request.auth.auth = encoded
    return request


async def test_a_docker_style_auth_is_decoded(service: ImageService) -> None:
    puller: FakePuller = service.puller  # type: ignore[assignment]
    encoded = base64.b64encode(b"bob:hunter2:x\x00").decode()
    await service.pull_image(_pull_with_auth("busybox:1", encoded))
    credentials = {source.credentials for source in puller.specs[0].sources}
    assert {(c.username, c.password) for c in credentials if c} == {("bob", "hunter2:x")}


@pytest.mark.parametrize(
    ("encoded", "says"),
    [
        ("not base64 s3cret!", "is not base64"),
        ("czNjcmV0", "no ':'"),  # "s3cret"
        (base64.b64encode(b"\xffs3cret:\xfe").decode(), "is not base64"),
    ],
    ids=["not-base64", "no-colon", "not-utf8"],
)
async def test_a_bad_auth_is_invalid_and_never_echoed(
    service: ImageService, encoded: str, says: str
) -> None:
    puller: FakePuller = service.puller  # type: ignore[assignment]
    with pytest.raises(InvalidArgumentError, match=says) as caught:
        await service.pull_image(_pull_with_auth("busybox:1", encoded))
    assert "s3cret" not in str(caught.value) and encoded not in str(caught.value)
    assert caught.value.__cause__ is None  # no decoding error that quotes the bytes
    assert puller.calls == []


@pytest.mark.parametrize(
    ("server_address", "upstream", "mirror"),
    [
        ("", "right", "right"),  # no server named: every endpoint (containerd alike)
        ("https://registry.example.com/v1/", "right", None),
        ("registry.example.com", "right", None),
        ("https://mirror.example.com", None, "right"),
    ],
)
async def test_request_credentials_go_only_to_the_server_they_name(
    service: ImageService, server_address: str, upstream: str | None, mirror: str | None
) -> None:
    registry = service.settings.registry.model_copy(
        update={"mirrors": {"registry.example.com": ("https://mirror.example.com",)}}
    )
    service.settings = service.settings.model_copy(update={"registry": registry})
    puller: FakePuller = service.puller  # type: ignore[assignment]
    request = _pull_with(
        "registry.example.com/app:1",
        username="u",
        password="right",
        server_address=server_address,
    )
    await service.pull_image(request)
    sent = {s.endpoint.host: s.credentials for s in puller.specs[0].sources}
    passwords = {host: c.password if c else None for host, c in sent.items()}
    assert passwords == {"mirror.example.com": mirror, "registry.example.com": upstream}


async def test_a_container_reads_its_image_config_from_disk_once(
    service: ImageService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.pull_image(_pull("busybox:1"))
    reads: list[str] = []
    read = service.content.read

    def counted(digest: str) -> bytes:
        reads.append(digest)
        return read(digest)

    monkeypatch.setattr(service.content, "read", counted)
    monkeypatch.setattr(service.snapshotter, "lowers", lambda chain_ids: [], raising=False)
    first = service.container_image("busybox:1")
    second = service.container_image("busybox:1")
    assert first.config == second.config and first.config
    assert reads == [first.record.config.digest]
