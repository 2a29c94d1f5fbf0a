"""PodSandboxStatus and ListPodSandbox."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from cri_api.v1 import api_pb2

from crio_py.cri.sandbox import query
from crio_py.errors import NotFoundError

if TYPE_CHECKING:
    from crio_py.cri.sandbox.service import SandboxService

logger = logging.getLogger(__name__)


async def pod_sandbox_status(
    service: SandboxService, request: api_pb2.PodSandboxStatusRequest
) -> api_pb2.PodSandboxStatusResponse:
    """The sandbox's status; `verbose` adds namespace paths and the CNI result."""
    entry = service.records.find(request.pod_sandbox_id)
    if entry is None:
        raise NotFoundError(f"sandbox {request.pod_sandbox_id!r} not found")
    response = api_pb2.PodSandboxStatusResponse(
        status=query.pod_sandbox_status(entry.metadata, entry.status)
    )
    if request.verbose:
        info = {
            "id": entry.metadata.id,
            "name": entry.metadata.name,
            "runtimeHandler": entry.metadata.runtime_handler,
            "namespaces": dict(entry.metadata.namespaces),
            "cniResult": service.pod_network.cached_results(entry.metadata.id),
            "config": entry.metadata.config,
        }
        response.info["info"] = json.dumps(info)
    return response


async def list_pod_sandbox(
    service: SandboxService, request: api_pb2.ListPodSandboxRequest
) -> api_pb2.ListPodSandboxResponse:
    """Every sandbox passing the filter; an id filter is a prefix (truncindex)."""
    sandbox_filter = request.filter if request.HasField("filter") else None
    entries = service.records.select(sandbox_filter.id if sandbox_filter is not None else "")
    items = [query.pod_sandbox(e.metadata, e.status) for e in entries]
    items = [item for item in items if query.matches(item, sandbox_filter)]
    items.sort(key=lambda item: item.created_at)
    return api_pb2.ListPodSandboxResponse(items=items)
