"""StopPodSandbox and RemovePodSandbox. CRI: both are idempotent and answer OK for an unknown
id (api.proto)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from cri_api.v1 import api_pb2

from crio_py import crashpoint
from crio_py.cri.sandbox.records import SandboxEntry, sandbox_config
from crio_py.cri.sandbox.recover import stopped

if TYPE_CHECKING:
    from crio_py.cri.sandbox.service import SandboxService

logger = logging.getLogger(__name__)


async def stop_pod_sandbox(
    service: SandboxService, request: api_pb2.StopPodSandboxRequest
) -> api_pb2.StopPodSandboxResponse:
    """Detach the network, drop the namespaces, mark NOTREADY. CRI: idempotent, and OK
    for an unknown id (api.proto)."""
    entry = service.records.find(request.pod_sandbox_id)
    if entry is not None:
        async with entry.lock:
            await _stop_locked(service, entry)
    return api_pb2.StopPodSandboxResponse()


async def _stop_locked(service: SandboxService, entry: SandboxEntry) -> None:
    metadata = entry.metadata
    await service.members.stop_all(metadata.id)
    crashpoint.reached("StopPodSandbox:containers-stopped")
    was_ready = entry.status.ready
    if was_ready:  # from here on the pod is going: never ready without its network
        await service.records.store.update_locked(metadata.id, stopped)
    paths = {kind: Path(p) for kind, p in metadata.namespaces.items()}
    net = paths.get("net")
    netns_path = str(net) if net is not None and service.namespaces.is_pinned(net) else ""
    await service.pod_network.detach_all(metadata.id, sandbox_config(entry), netns_path)
    crashpoint.reached("StopPodSandbox:detached")
    if paths:
        await service.namespaces.remove(paths)
    await service.namespaces.unmount_shm(service.records.shm_dir / metadata.id)
    if was_ready:
        logger.info("Stopped sandbox %s", metadata.id)
        service.members.announce(metadata.id, api_pb2.CONTAINER_STOPPED_EVENT)


async def remove_pod_sandbox(
    service: SandboxService, request: api_pb2.RemovePodSandboxRequest
) -> api_pb2.RemovePodSandboxResponse:
    """Stop if needed, then delete records and files and release the name. CRI:
    idempotent, and OK for an unknown id (api.proto)."""
    entry = service.records.find(request.pod_sandbox_id)
    if entry is None:
        return api_pb2.RemovePodSandboxResponse()
    sandbox_id = entry.metadata.id
    async with entry.lock:
        await service.records.store.update_locked(
            sandbox_id, lambda s: s.model_copy(update={"removing": True})
        )
        crashpoint.reached("RemovePodSandbox:marked")
        try:
            await _stop_locked(service, entry)
        except BaseException:
            await service.records.store.update_locked(
                sandbox_id, lambda s: s.model_copy(update={"removing": False})
            )
            raise
        await service.members.remove_all(sandbox_id)
        crashpoint.reached("RemovePodSandbox:containers-removed")
        await asyncio.to_thread(service.records.store.delete, sandbox_id)
        service.records.index.delete(sandbox_id)
        service.records.names.release_id(sandbox_id)
    logger.info("Removed sandbox %s", sandbox_id)
    service.members.announce(sandbox_id, api_pb2.CONTAINER_DELETED_EVENT)
    return api_pb2.RemovePodSandboxResponse()
