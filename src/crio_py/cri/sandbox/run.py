"""RunPodSandbox. It is multi-step: every step pushes its undo onto an `AsyncExitStack`, and
`pop_all()` keeps them only when every step succeeded. An undo that fails is logged and the
original error is raised (containerd's `cleanupErr`, ARCHITECTURE.md §5)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cri_api.v1 import api_pb2

from crio_py import crashpoint, fsutil
from crio_py.backends.netns import IdMaps
from crio_py.config.model import RuntimeHandler
from crio_py.cri import validate
from crio_py.cri.sandbox import files, query, userns
from crio_py.cri.sandbox.records import SandboxEntry
from crio_py.cri.undo import best_effort
from crio_py.errors import InvalidArgumentError, NotFoundError, UnimplementedError
from crio_py.ids import new_id
from crio_py.store.records import SandboxMetadata, SandboxStatus

if TYPE_CHECKING:
    from crio_py.cri.sandbox.service import SandboxService

logger = logging.getLogger(__name__)


async def run_pod_sandbox(
    service: SandboxService, request: api_pb2.RunPodSandboxRequest
) -> api_pb2.RunPodSandboxResponse:
    """Reserve the name, pin namespaces, attach the network, write files and records."""
    config = request.config
    handler = _handler(service, request.runtime_handler)
    validate.sandbox_config(config, handler.cgroup_driver)
    infra = _needs_infra(service, config)
    sandbox_id = new_id()
    meta = config.metadata
    name = f"{meta.name}_{meta.namespace}_{meta.uid}_{meta.attempt}"
    options = query.namespace_options(config)
    maps = _id_maps(service, options, handler)
    host_network = options.network == api_pb2.NODE
    # containerd and CRI-O: a request without a hostname gets the node's.
    hostname = config.hostname or socket.gethostname()
    async with contextlib.AsyncExitStack() as undo:
        service.records.names.reserve(name, sandbox_id)
        undo.callback(service.records.names.release, name)
        paths = await _pin(service, undo, sandbox_id, options, hostname, maps)
        crashpoint.reached("RunPodSandbox:pinned")
        if options.ipc != api_pb2.NODE:
            await _mount_shm(service, undo, sandbox_id)
            crashpoint.reached("RunPodSandbox:shm-mounted")
        directory = service.records.records_dir / sandbox_id
        undo.callback(shutil.rmtree, directory, ignore_errors=True)
        fsutil.private_dir(directory, group=maps.gids.host_id if maps else None)
        pod_files = files.PodFiles(directory, hostname, host_network, config)
        metadata = SandboxMetadata(
            id=sandbox_id,
            name=name,
            config=query.config_to_json(config),
            runtime_handler=handler.name,
            namespaces={kind: str(path) for kind, path in paths.items()},
            infra_container_id=sandbox_id if infra else "",
            created_at=time.time_ns(),
        )
        if infra and not host_network:
            ips = await _attach_beside_infra(service, undo, metadata, pod_files, paths)
        else:
            ips = () if host_network else await _attach(service, undo, sandbox_id, config, paths)
            entry = await _create_record(service, undo, metadata, pod_files, ips)
            if infra:
                await _run_infra(service, undo, entry)
        crashpoint.reached("RunPodSandbox:recorded")
        service.records.index.add(sandbox_id)
        undo.pop_all()
    logger.info("Ran sandbox %s (%s) with IPs %s", sandbox_id, name, ", ".join(ips) or "-")
    service.members.announce(sandbox_id, api_pb2.CONTAINER_CREATED_EVENT)
    service.members.announce(sandbox_id, api_pb2.CONTAINER_STARTED_EVENT)
    return api_pb2.RunPodSandboxResponse(pod_sandbox_id=sandbox_id)


async def _create_record(
    service: SandboxService,
    undo: contextlib.AsyncExitStack,
    metadata: SandboxMetadata,
    pod_files: files.PodFiles,
    ips: tuple[str, ...],
) -> SandboxEntry:
    """The files containers bind, then the records."""
    await asyncio.to_thread(pod_files.write, ips)
    entry = await service.records.store.create(
        metadata.id, metadata, SandboxStatus(ready=True, ips=ips)
    )
    undo.callback(service.records.store.delete, metadata.id)
    return entry


async def _attach_beside_infra(
    service: SandboxService,
    undo: contextlib.AsyncExitStack,
    metadata: SandboxMetadata,
    pod_files: files.PodFiles,
    paths: dict[str, Path],
) -> tuple[str, ...]:
    """CNI and the infra container at once (neither needs the other: the infra container
    joins the pinned network namespace, and pause reads no file); /etc/hosts gets the
    pod's addresses once CNI has them, before any other container binds it."""
    entry = await _create_record(service, undo, metadata, pod_files, ())
    config = pod_files.config
    attached, started = await asyncio.gather(
        _attach(service, undo, metadata.id, config, paths),
        _run_infra(service, undo, entry),
        return_exceptions=True,
    )
    for outcome in (attached, started):
        if isinstance(outcome, BaseException):
            raise outcome
    assert isinstance(attached, tuple)
    await asyncio.to_thread(pod_files.write, attached)
    await service.records.store.update(
        metadata.id, lambda s: s.model_copy(update={"ips": attached})
    )
    return attached


def _handler(service: SandboxService, name: str) -> RuntimeHandler:
    handler_name = name or service.settings.default_runtime
    handler = service.settings.runtimes.get(handler_name)
    if handler is None:
        raise NotFoundError(f"runtime handler {handler_name!r} is not configured")
    if handler.kind != "oci":
        raise UnimplementedError(
            f"runtime handler {handler_name!r} is of kind {handler.kind!r}; "
            "only oci handlers are supported"
        )
    return handler


def _id_maps(
    service: SandboxService, options: api_pb2.NamespaceOption, handler: RuntimeHandler
) -> IdMaps | None:
    maps = userns.id_maps(options)
    if maps is not None and not service.user_namespaces(handler):
        raise InvalidArgumentError(
            f"runtime handler {handler.name!r} cannot run pods in user namespaces here"
        )
    return maps


def _needs_infra(service: SandboxService, config: api_pb2.PodSandboxConfig) -> bool:
    """CRI-O's NeedsInfra: the config asks for one, or a shared (POD) PID namespace needs
    a process to hold it."""
    shared_pid = query.namespace_options(config).pid == api_pb2.POD
    return shared_pid or not service.settings.drop_infra_container


async def _run_infra(
    service: SandboxService, undo: contextlib.AsyncExitStack, entry: SandboxEntry
) -> None:
    members, sandbox_id = service.members, entry.metadata.id
    undo.push_async_callback(
        _best_effort,
        f"remove the infra container of sandbox {sandbox_id}",
        lambda: members.remove_all(sandbox_id),
    )
    await members.run_infra(entry)


async def _pin(
    service: SandboxService,
    undo: contextlib.AsyncExitStack,
    sandbox_id: str,
    options: api_pb2.NamespaceOption,
    hostname: str,
    maps: IdMaps | None,
) -> dict[str, Path]:
    kinds = ["user"] if maps is not None else []  # first: it owns the others
    if options.network != api_pb2.NODE:
        kinds += ["net", "uts"]  # a host-network sandbox keeps the host's name too
    if options.ipc != api_pb2.NODE:
        kinds.append("ipc")
    if not kinds:
        return {}
    host = hostname if "uts" in kinds else None
    paths = await service.namespaces.create(service.records.pin_dir, sandbox_id, kinds, host, maps)
    undo.push_async_callback(
        _best_effort,
        f"remove the namespaces of sandbox {sandbox_id}",
        lambda: service.namespaces.remove(paths),
    )
    return paths


async def _mount_shm(
    service: SandboxService, undo: contextlib.AsyncExitStack, sandbox_id: str
) -> None:
    path = service.records.shm_dir / sandbox_id
    await service.namespaces.mount_shm(path)
    undo.push_async_callback(
        _best_effort,
        f"unmount /dev/shm of sandbox {sandbox_id}",
        lambda: service.namespaces.unmount_shm(path),
    )


async def _attach(
    service: SandboxService,
    undo: contextlib.AsyncExitStack,
    sandbox_id: str,
    config: api_pb2.PodSandboxConfig,
    paths: dict[str, Path],
) -> tuple[str, ...]:
    ips, detach = await service.pod_network.attach(sandbox_id, config, str(paths["net"]))
    undo.push_async_callback(_best_effort, f"detach sandbox {sandbox_id} from CNI", detach)
    crashpoint.reached("RunPodSandbox:attached")
    return ips


def _best_effort(what: str, undo: Callable[[], Awaitable[None]]) -> Awaitable[None]:
    return best_effort("RunPodSandbox", what, undo)
