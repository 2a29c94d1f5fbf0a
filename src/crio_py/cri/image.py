"""The CRI ImageService: ListImages, ImageStatus, PullImage, RemoveImage, ImageFsInfo.

A pull resolves the registry endpoints from the configuration (hosts.toml, mirrors, TLS,
credentials), lets skopeo fetch into the content store, unpacks the layers into snapshots and
then writes the image record: a pull that fails leaves neither record, blobs nor snapshots.
`max_concurrent_downloads` bounds concurrent pulls, and identical pulls in flight share one.
Removing an image collects the blobs and snapshots no image references any more.

The sandbox image and CRI-O's `pinned_images` (exact names, `prefix*` globs and `*keyword*`
patterns, as CRI-O matches them) are reported pinned, so the kubelet's image GC spares them;
pinning is worked out from the current settings, so SIGHUP re-pins a changed sandbox image.
A pull for a pod in namespace NS goes through `<signature_policy_dir>/NS.json` when that file
exists, else `signature_policy`, else skopeo's default policy (CRI-O 1.28+).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py import crashpoint
from crio_py.backends.layers import LayerRef
from crio_py.backends.manifests import ManifestFetcher
from crio_py.backends.mountapi import Idmap
from crio_py.backends.skopeo import PulledImage, PullSpec, SkopeoPuller, Source
from crio_py.backends.snapshotter import OverlaySnapshotter, chain_ids
from crio_py.config.model import Credentials, RuntimeSettings
from crio_py.config.registry.endpoints import Resolver
from crio_py.cri import metrics
from crio_py.cri.convert import image_message, image_user, verbose_info
from crio_py.cri.image_policy import Pins, policy_for
from crio_py.errors import (
    CrioPyError,
    FailedPreconditionError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    quote,
)
from crio_py.reference import Reference, parse_reference
from crio_py.store.content import ContentStore
from crio_py.store.images import ImageStore
from crio_py.store.records import ImageRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContainerImage:
    """What creating a container needs of its image: the record, its config JSON and the
    unpacked layers (lowest first)."""

    record: ImageRecord
    config: dict[str, object]
    lowers: list[Path]


class ImageService:
    """Images on this node, and how they get here."""

    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        content: ContentStore,
        images: ImageStore,
        puller: SkopeoPuller,
        snapshotter: OverlaySnapshotter,
    ) -> None:
        self.settings = settings
        self.content = content
        self.images = images
        self.puller = puller
        self.snapshotter = snapshotter
        self._downloads = asyncio.Semaphore(max(settings.max_concurrent_downloads, 1))
        self._resolver = Resolver(settings.registry)
        self._pins = Pins(settings)
        puller.progress_timeout_s = settings.image_pull_progress_timeout_s
        # Pulls in flight by reference, credentials and policy: a pull never shares the outcome
        # of one made with other credentials (a wrong password must not borrow a right one).
        self._in_flight: dict[_PullKey, asyncio.Task[ImageRecord]] = {}
        self._deletions: set[asyncio.Future[None]] = set()
        # Image configs by digest (content-addressed, so never stale): CreateContainer reads
        # its image's config without touching the disk.
        self._configs: dict[str, dict[str, object]] = {}

    @classmethod
    async def open(cls, settings: RuntimeSettings) -> ImageService:
        """Open the stores under the root dir and clear what a crashed pull left behind."""
        root = settings.root_dir
        work = root / "tmp"
        shutil.rmtree(work, ignore_errors=True)
        content = ContentStore(root / "content")
        snapshotter = OverlaySnapshotter(root)
        snapshotter.remove_incomplete()
        service = cls(
            settings,
            content=content,
            images=ImageStore(root / "images"),
            puller=SkopeoPuller(content, work, manifests=ManifestFetcher()),
            snapshotter=snapshotter,
        )
        service.collect_garbage()
        return service

    def reload_settings(self, settings: RuntimeSettings) -> None:
        """SIGHUP: the next request reads `settings`; pins follow the new sandbox image."""
        self.settings = settings
        self._pins = Pins(settings)
        self.puller.progress_timeout_s = settings.image_pull_progress_timeout_s

    def is_pinned(self, record: ImageRecord) -> bool:
        """Whether the image is the sandbox image or matches `pinned_images`."""
        return self._pins.match(record)

    def _message(self, record: ImageRecord) -> api_pb2.Image:
        message = image_message(record)
        message.pinned = self._pins.match(record)
        return message

    async def close(self) -> None:
        for task in self._in_flight.values():
            task.cancel()
        await asyncio.gather(*self._deletions)

    # -- RPCs ------------------------------------------------------------------------------------
    async def list_images(self, request: api_pb2.ListImagesRequest) -> api_pb2.ListImagesResponse:
        wanted = request.filter.image.image if request.HasField("filter") else ""
        if wanted:
            found = self.images.find(wanted)
            records = [found] if found else []
        else:
            records = self.images.all()
        return api_pb2.ListImagesResponse(images=[self._message(r) for r in records])

    async def image_status(
        self, request: api_pb2.ImageStatusRequest
    ) -> api_pb2.ImageStatusResponse:
        # CRI: an unknown image is an empty response, not an error.
        record = self.images.find(request.image.image)
        if record is None:
            return api_pb2.ImageStatusResponse()
        response = api_pb2.ImageStatusResponse(image=self._message(record))
        if request.verbose:
            response.info.update(verbose_info(record, self._config(record)))
        return response

    async def pull_image(self, request: api_pb2.PullImageRequest) -> api_pb2.PullImageResponse:
        reference = parse_reference(request.image.image)
        credentials = _request_credentials(request.auth) if request.HasField("auth") else None
        server = _server_host(request.auth.server_address)
        policy = policy_for(self.settings, request.sandbox_config.metadata.namespace)
        key = (str(reference), credentials, server, policy)
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._pull(reference, credentials, server, policy))
            self._in_flight[key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        record = await asyncio.shield(task)
        return api_pb2.PullImageResponse(image_ref=record.id)

    async def remove_image(
        self, request: api_pb2.RemoveImageRequest, images_in_use: Callable[[], set[str]] = set
    ) -> api_pb2.RemoveImageResponse:
        # CRI: RemoveImage is idempotent; an unknown image is not an error.
        name = request.image.image
        record = self.images.find(name)
        if record is None:
            return api_pb2.RemoveImageResponse()
        tag = _tag_named(name)
        if tag in record.repo_tags and len(record.repo_tags) > 1:
            self.images.untag(record, tag)  # other tags keep the image, as CRI-O does
            return api_pb2.RemoveImageResponse()
        if record.id in images_in_use():
            raise FailedPreconditionError(f"image {record.id} is used by a container")
        self.images.delete(record.id)
        crashpoint.reached("RemoveImage:untagged")
        logger.info("Removed image %s", record.id)
        self.collect_garbage()
        return api_pb2.RemoveImageResponse()

    async def image_fs_info(
        self, request: api_pb2.ImageFsInfoRequest
    ) -> api_pb2.ImageFsInfoResponse:
        blob_bytes, blob_inodes = await asyncio.to_thread(self.content.usage)
        snap_bytes, snap_inodes = await asyncio.to_thread(self.snapshotter.usage)
        usage = api_pb2.FilesystemUsage(
            timestamp=time.time_ns(),
            fs_id=api_pb2.FilesystemIdentifier(mountpoint=str(self.settings.root_dir)),
        )
        usage.used_bytes.value = blob_bytes + snap_bytes
        usage.inodes_used.value = blob_inodes + snap_inodes
        # Writable layers live on the same filesystem: CRI-O then answers it for both, which
        # tells a kubelet with KubeletSeparateDiskGC that the image filesystem is not split.
        return api_pb2.ImageFsInfoResponse(
            image_filesystems=[usage], container_filesystems=[usage]
        )

    # -- pulling --------------------------------------------------------------------------------
    async def _pull(
        self,
        reference: Reference,
        credentials: Credentials | None,
        server: str = "",
        policy: Path | None = None,
    ) -> ImageRecord:
        """Pull from each endpoint in turn; the request's credentials go only to the server
        they name (all endpoints when they name none), as containerd's ParseAuth does, so a
        mirror never sees them."""
        registry = self.settings.registry
        if reference.domain in registry.blocked_hosts:
            raise PermissionDeniedError(
                f"registry {reference.domain} is blocked by registries.conf"
            )
        sources = await asyncio.to_thread(self._sources, reference, credentials, server)
        started = time.monotonic()
        async with self._downloads:
            pulled = await self._measured_pull(PullSpec(reference, sources, policy))
            try:
                diff_ids = _diff_ids(pulled)
                await self.snapshotter.prepare(
                    [
                        LayerRef(
                            layer.digest, diff_id, layer.media_type, self.content.path(layer.digest)
                        )
                        for layer, diff_id in zip(pulled.layers, diff_ids, strict=True)
                    ]
                )
                crashpoint.reached("PullImage:unpacked")
                record = self.images.save(self._record(reference, pulled, diff_ids))
            except BaseException:
                self._discard()
                raise
        logger.info(
            "Pulled image %s as %s in %.2f s", reference, record.id, time.monotonic() - started
        )
        return record

    def _sources(
        self, reference: Reference, credentials: Credentials | None, server: str
    ) -> tuple[Source, ...]:
        if self._resolver.registry is not self.settings.registry:  # new settings
            self._resolver = Resolver(self.settings.registry)
        resolver = self._resolver
        return tuple(
            Source(
                endpoint,
                (credentials if _same_host(server, endpoint.host) else None)
                or resolver.credentials(endpoint.host),
            )
            for endpoint in resolver.endpoints(reference.domain)
        )
    async def _measured_pull(self, spec: PullSpec) -> PulledImage:
        """The pull, reported to the metrics: its outcome, bytes fetched and time."""
        recorder = metrics.ACTIVE
        if recorder is None:
            return await self.puller.pull(spec)
        name, started = str(spec.reference), time.monotonic()
        recorder.pull_started()
        try:
            pulled = await self.puller.pull(spec)
        except BaseException as exc:
            kind = type(exc).__name__.removesuffix("Error") or "Unknown"
            recorder.pull_finished(metrics.PullOutcome(name, time.monotonic() - started, kind))
            raise
        layers = [
            (layer.media_type, layer.size, layer.digest in pulled.reused) for layer in pulled.layers
        ]
        recorder.pull_finished(
            metrics.PullOutcome(
                name,
                time.monotonic() - started,
                fetched=tuple((kind, size) for kind, size, reused in layers if not reused),
                skipped=tuple(size for _, size, reused in layers if reused),
            )
        )
        return pulled

    def _record(
        self, reference: Reference, pulled: PulledImage, diff_ids: list[str]
    ) -> ImageRecord:
        uid, username = image_user(pulled.config_json)
        return ImageRecord(
            id=pulled.config.digest,
            repo_tags=(reference.tagged,) if reference.tag else (),
            repo_digests=(reference.with_digest(pulled.repo_digest or pulled.manifest.digest),),
            manifest=pulled.manifest,
            config=pulled.config,
            layers=pulled.layers,
            diff_ids=tuple(diff_ids),
            chain_ids=tuple(chain_ids(diff_ids)),
            size=pulled.manifest.size + pulled.config.size + sum(x.size for x in pulled.layers),
            uid=uid,
            username=username,
            pinned=self._pins.names(reference.tagged),
            pulled_at=time.time(),
        )

    def _config(self, record: ImageRecord) -> dict[str, object]:
        digest = record.config.digest
        cached = self._configs.get(digest)
        if cached is not None:
            return cached
        loaded: object = {}
        with contextlib.suppress(CrioPyError, ValueError):
            loaded = json.loads(self.content.read(digest))
        if not isinstance(loaded, dict):
            return {}
        if len(self._configs) >= _CONFIGS_KEPT:
            self._configs.pop(next(iter(self._configs)))
        self._configs[digest] = loaded
        return loaded

    # -- for the runtime service -----------------------------------------------------------------
    def container_image(self, name: str) -> ContainerImage:
        """The image a container is created from, by id, tag or digest; NotFoundError if it
        has not been pulled."""
        record = self.images.find(name)
        if record is None:
            raise NotFoundError(f"image {quote(name)} not found; pull it first")
        config = self._config(record)
        return ContainerImage(record, config, self.snapshotter.lowers(record.chain_ids))

    async def ensure_image(self, name: str) -> ContainerImage:
        """`container_image`, pulling the image first when it is not here (the sandbox image)."""
        if self.images.find(name) is None:
            await self.pull_image(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=name)))
        return self.container_image(name)

    async def mount_rootfs(
        self, container_id: str, image: ContainerImage, idmap: Idmap | None = None
    ) -> Path:
        """The container's writable root filesystem on top of the image's layers."""
        return await self.snapshotter.mount_rootfs(container_id, image.lowers, idmap)

    async def stage_mount(
        self,
        container_id: str,
        name: str,
        source: Path,
        *,
        read_only: bool = False,
        idmap: Idmap | None = None,
    ) -> Path:
        """A copy of a host mount tree the container binds, removed with its rootfs."""
        return await self.snapshotter.stage_mount(
            container_id, name, source, read_only=read_only, idmap=idmap
        )

    async def mount_image_volume(
        self, container_id: str, name: str, image: ContainerImage, idmap: Idmap | None = None
    ) -> Path:
        """An image's contents, read-only, for the container to bind (CRI image volumes)."""
        return await self.snapshotter.mount_image_volume(container_id, name, image.lowers, idmap)

    async def release_volumes(self, container_id: str) -> None:
        """Drop the host's copies of mounts the container's runtime has bound."""
        await asyncio.to_thread(self.snapshotter.release_volumes, container_id)

    async def unmount_rootfs(self, container_id: str) -> None:
        """Unmount and delete a container's root filesystem (idempotent)."""
        await self.snapshotter.unmount_rootfs(container_id)

    def rootfs_ids(self) -> set[str]:
        """The containers that have a root filesystem (for clean-up after a crash)."""
        return self.snapshotter.rootfs_ids()

    def writable_usage(self, container_id: str) -> tuple[int, int]:
        """Bytes and inodes the container wrote to its root filesystem."""
        return self.snapshotter.writable_usage(container_id)

    # -- garbage collection ----------------------------------------------------------------------
    def _discard(self) -> None:
        """Take back the blobs and snapshots of a pull that failed after storing them (a bad
        layer, a config the record cannot take), unless another pull in flight might share
        them (the next collection gets those)."""
        if len(self._in_flight) <= 1:
            self._collect()

    def collect_garbage(self) -> None:
        """Remove blobs and snapshots no image references (never while a pull is running)."""
        if not self._in_flight:
            self._collect()

    def _collect(self) -> None:
        blobs: set[str] = set()
        chains: set[str] = set()
        for record in self.images.all():
            blobs |= record.blob_digests()
            chains |= set(record.chain_ids)
        for digest in set(self.content.digests()) - blobs:
            self.content.delete(digest)
        doomed = [
            self.snapshotter.detach_snapshot(chain)
            for chain in self.snapshotter.snapshot_ids() - chains
        ]
        self._delete_later([path for path in doomed if path is not None])

    def _delete_later(self, paths: list[Path]) -> None:
        """Delete detached snapshots off the event loop and after the RPC has answered;
        `close` waits for it, and a crash leaves them to `remove_incomplete`."""
        if not paths:
            return

        def delete() -> None:
            for path in paths:
                shutil.rmtree(path, ignore_errors=True)

        task = asyncio.ensure_future(asyncio.to_thread(delete))
        self._deletions.add(task)
        task.add_done_callback(self._deletions.discard)


_CONFIGS_KEPT = 256
_PullKey = tuple[str, Credentials | None, str, Path | None]


def _diff_ids(pulled: PulledImage) -> list[str]:
    rootfs = pulled.config_json.get("rootfs", {})
    diff_ids = rootfs.get("diff_ids", []) if isinstance(rootfs, dict) else []
    if not isinstance(diff_ids, list) or len(diff_ids) != len(pulled.layers):
        raise IntegrityError("the image config's rootfs.diff_ids do not match its layers")
    return [str(d) for d in diff_ids]


def _request_credentials(auth: api_pb2.AuthConfig) -> Credentials | None:
    if auth.registry_token and not (auth.username or auth.auth or auth.identity_token):
        # skopeo takes a bearer token only as --registry-token, on a command line any user
        # of the node can read, so it is refused rather than passed there (or ignored).
        raise InvalidArgumentError(
            "AuthConfig.registry_token is not supported; use username and password, auth "
            "or identity_token"
        )
    if auth.auth and not auth.username:
        try:
            return Credentials.from_auth(auth.auth)
        except ValueError as exc:  # the message quotes nothing of the secret
            raise InvalidArgumentError(f"AuthConfig.auth: {exc}") from None
    if not (auth.username or auth.password or auth.identity_token):
        return None
    return Credentials(
        username=auth.username, password=auth.password, identity_token=auth.identity_token
    )


_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def _server_host(address: str) -> str:
    """The host[:port] of an AuthConfig `server_address` ("https://host/v1/", or bare)."""
    if not address:
        return ""
    return urllib.parse.urlsplit(address if "://" in address else f"//{address}").netloc


def _same_host(server: str, host: str) -> bool:
    if not server or server == host:
        return True
    return server in _DOCKER_HUB and host in _DOCKER_HUB


def _tag_named(name: str) -> str:
    """The repo tag a RemoveImage request names, or "" when it names an id or a digest."""
    try:
        reference = parse_reference(name)
    except InvalidArgumentError:
        return ""
    return reference.tagged if "@" not in name else ""
