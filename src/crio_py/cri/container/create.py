"""CreateContainer, and the infra container RunPodSandbox asks for: reserve the name, mount
the rootfs, write the bundle and the records, and let conmon run `<runtime> create`. Each step
pushes its undo; `pop_all()` keeps them only when every step succeeded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py import crashpoint
from crio_py.cri import validate
from crio_py.cri.container import announce, host, lifecycle, monitor, query, volumes
from crio_py.cri.container.bundle import Spec, process_user
from crio_py.cri.container.context import ContainerContext, ContainerEntry
from crio_py.cri.image import ContainerImage
from crio_py.cri.sandbox import userns
from crio_py.cri.sandbox.query import config_from_json as sandbox_config_from_json
from crio_py.cri.sandbox.records import SandboxEntry
from crio_py.cri.undo import best_effort
from crio_py.errors import FailedPreconditionError, InvalidArgumentError, quote
from crio_py.ids import new_id
from crio_py.ocispec import stop_signal
from crio_py.store.records import ContainerMetadata, ContainerStatus

logger = logging.getLogger(__name__)


async def create_container(
    ctx: ContainerContext, request: api_pb2.CreateContainerRequest
) -> api_pb2.CreateContainerResponse:
    """A CRI container in a ready sandbox, from a pulled image. The sandbox's lock is held
    shared throughout, so that a StopPodSandbox or RemovePodSandbox waits, then finds the
    container; one that came first leaves the sandbox not ready."""
    validate.container_config(request.config)
    sandbox = ctx.sandboxes.get(request.pod_sandbox_id)
    async with sandbox.lock.shared():
        if not sandbox.status.ready:
            raise FailedPreconditionError(f"sandbox {sandbox.metadata.id} is not ready")
        return await _create_in_sandbox(ctx, request, sandbox)


async def _create_in_sandbox(
    ctx: ContainerContext, request: api_pb2.CreateContainerRequest, sandbox: SandboxEntry
) -> api_pb2.CreateContainerResponse:
    config = request.config
    sandbox_config = sandbox_config_from_json(sandbox.metadata.config)
    container_id = new_id()
    log_path = _log_path(ctx, container_id, sandbox_config, config)
    handler = ctx.runtimes.handler(sandbox.metadata.runtime_handler)
    features = host.handler_features(handler, ctx.host)
    volumes.check(list(config.mounts), rro_supported=features.recursive_read_only_mounts)
    userns.check_container(
        sandbox_config.linux.security_context.namespace_options,
        config.linux.security_context.namespace_options,
    )
    image = ctx.images.container_image(config.image.image)
    await asyncio.to_thread(host.ensure_mount_sources, volumes.host_mounts(list(config.mounts)))
    pid_namespace = _pid_namespace(ctx, sandbox, config)
    metadata = ContainerMetadata(
        id=container_id,
        name=_container_name(config.metadata, sandbox_config.metadata),
        sandbox_id=sandbox.metadata.id,
        config=query.config_to_json(config),
        image_ref=config.image.image,
        image_id=image.record.id,
        image_digest_ref=next(iter(image.record.repo_digests), ""),
        runtime_handler=sandbox.metadata.runtime_handler,
        log_path=str(log_path),
        stop_signal=stop_signal(image.config, config),
        image_volumes=volumes.image_ids(ctx, list(config.mounts)),
        created_at=ctx.clock(),
    )

    def write(rootfs: Path, mounts: list[api_pb2.Mount]) -> Spec:
        bound = api_pb2.ContainerConfig()
        bound.CopyFrom(config)
        del bound.mounts[:]
        bound.mounts.extend(mounts)
        return ctx.bundles.container(container_id, bound, sandbox, image, rootfs, pid_namespace)

    await _create(ctx, metadata, image, write, sandbox, list(config.mounts))
    announce.announce(ctx, container_id, sandbox.metadata.id, announce.CREATED)
    return api_pb2.CreateContainerResponse(container_id=container_id)


async def run_infra(ctx: ContainerContext, sandbox: SandboxEntry) -> None:
    """Create and start the sandbox's infra (pause) container; its id is the sandbox's."""
    image = await ctx.images.ensure_image(ctx.settings.sandbox_image)
    container_id = sandbox.metadata.infra_container_id
    metadata = ContainerMetadata(
        id=container_id,
        name=f"{sandbox.metadata.name}_infra",
        sandbox_id=sandbox.metadata.id,
        config={},
        image_ref=ctx.settings.sandbox_image,
        image_id=image.record.id,
        runtime_handler=sandbox.metadata.runtime_handler,
        log_path=str(ctx.layout.default_log_path(container_id)),
        stop_signal=stop_signal(image.config, api_pb2.ContainerConfig()),
        infra=True,
        created_at=ctx.clock(),
    )

    def write(rootfs: Path, _: list[api_pb2.Mount]) -> Spec:
        return ctx.bundles.infra(container_id, sandbox, image, rootfs)

    entry = await _create(ctx, metadata, image, write, sandbox)
    async with entry.lock:
        await lifecycle.start_locked(ctx, entry)


async def _create(
    ctx: ContainerContext,
    metadata: ContainerMetadata,
    image: ContainerImage,
    write_bundle: Callable[[Path, list[api_pb2.Mount]], Spec],
    sandbox: SandboxEntry,
    mounts: list[api_pb2.Mount] | None = None,
) -> ContainerEntry:
    """The steps every container takes, each undone if a later one fails."""
    container_id, name = metadata.id, metadata.name
    idmap = ctx.sandboxes.idmap(sandbox)
    async with contextlib.AsyncExitStack() as undo:
        ctx.names.reserve(name, container_id)
        undo.callback(ctx.names.release, name)
        rootfs = await ctx.images.mount_rootfs(container_id, image, idmap)
        crashpoint.reached("CreateContainer:rootfs-mounted")
        undo.push_async_callback(  # the staged mounts below go with the rootfs
            _best_effort, "unmount the rootfs", lambda: ctx.images.unmount_rootfs(container_id)
        )
        bound = await volumes.prepare(ctx, container_id, mounts or [], idmap)
        undo.callback(shutil.rmtree, ctx.layout.bundle(container_id), ignore_errors=True)
        spec = await asyncio.to_thread(write_bundle, rootfs, bound)
        metadata = metadata.model_copy(update={"user": process_user(spec)})
        crashpoint.reached("CreateContainer:bundle-written")
        entry = await ctx.store.create(container_id, metadata, ContainerStatus())
        undo.callback(ctx.store.delete, container_id)
        async with entry.lock:  # recorded: the exit monitor and StopPodSandbox can see it
            # Undone after the runtime's container is deleted, when conmon has gone.
            undo.push_async_callback(monitor.remove, ctx.layout.bundle(container_id))
            undo.push_async_callback(
                _best_effort,
                "delete the runtime's container",
                lambda: ctx.runtime(entry).delete(container_id, force=True),
            )
            crashpoint.reached("CreateContainer:recorded")
            handler = ctx.runtimes.handler(metadata.runtime_handler)
            options = monitor.placed(ctx.conmon(entry), handler.monitor_cgroup, spec)
            pid = await ctx.ops.create(options)
            crashpoint.reached("CreateContainer:runtime-created")
            await ctx.images.release_volumes(container_id)
            await ctx.store.update_locked(container_id, lambda s: s.model_copy(update={"pid": pid}))
            ctx.index.add(container_id)
            undo.pop_all()
    logger.info("Created container %s (%s) with pid %d", container_id, name, pid)
    return entry


def _pid_namespace(
    ctx: ContainerContext, sandbox: SandboxEntry, config: api_pb2.ContainerConfig
) -> str:
    """The PID namespace to join: the infra container's (POD) or a target's (TARGET)."""
    options = config.linux.security_context.namespace_options
    if options.pid == api_pb2.POD:
        target_id = sandbox.metadata.infra_container_id
        if not target_id:
            raise FailedPreconditionError(
                f"sandbox {sandbox.metadata.id} has no infra container to share its PID "
                "namespace; ask for it at RunPodSandbox"
            )
    elif options.pid == api_pb2.TARGET:
        target_id = options.target_id
    else:
        return ""
    target = ctx.store.find(ctx.index.get(target_id))
    if (
        target is None
        or target.status.pid <= 0
        or target.metadata.sandbox_id != sandbox.metadata.id
    ):
        raise FailedPreconditionError(
            f"container {quote(target_id)} is not running in sandbox {sandbox.metadata.id}"
        )
    return f"/proc/{target.status.pid}/ns/pid"


def _log_path(
    ctx: ContainerContext,
    container_id: str,
    sandbox_config: api_pb2.PodSandboxConfig,
    config: api_pb2.ContainerConfig,
) -> Path:
    """log_directory/log_path as the kubelet asks, else a file in the bundle."""
    if not sandbox_config.log_directory or not config.log_path:
        return ctx.layout.default_log_path(container_id)
    return joined_log_path(sandbox_config.log_directory, config.log_path)


def joined_log_path(log_directory: str, log_path: str) -> Path:
    """`log_path` under `log_directory`, never outside it.

    containerd joins the two (`filepath.Join(LogDirectory, LogPath)`), so an absolute
    log_path lands under the directory too; a log_path whose `..` would leave the directory,
    or that names the directory itself, is refused.
    """
    validate.absolute_path("log_directory", log_directory)
    validate.no_nul("log_path", log_path)
    directory = Path("/" + os.path.normpath(log_directory).lstrip("/"))
    joined = Path(os.path.normpath(f"{directory}/{log_path}"))
    if joined == directory or not joined.is_relative_to(directory):
        raise InvalidArgumentError(
            f"log_path {quote(log_path)} does not name a file in log_directory {directory}"
        )
    if len(os.fsencode(joined)) >= validate.PATH_MAX:
        raise InvalidArgumentError(f"log path {quote(str(joined))} is longer than PATH_MAX")
    return joined


def _container_name(
    container: api_pb2.ContainerMetadata, sandbox: api_pb2.PodSandboxMetadata
) -> str:
    """containerd's makeContainerName: name_pod_namespace_uid_attempt."""
    parts = (container.name, sandbox.name, sandbox.namespace, sandbox.uid, str(container.attempt))
    return "_".join(parts)


def _best_effort(what: str, undo: Callable[[], Awaitable[None]]) -> Awaitable[None]:
    return best_effort("CreateContainer", what, undo)
