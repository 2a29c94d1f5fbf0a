"""UpdatePodSandboxResources: the pod's new resources and overhead, checked and kept in the
sandbox's status record. As in containerd 2.x (`sandbox_update_resources.go`) this is a
notification: the kubelet sizes the pod's cgroup itself and updates each container with
UpdateContainerResources; containerd forwards it to NRI plugins, which crio-py does not run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cri_api.v1 import api_pb2

from crio_py.cri.convert import message_to_json
from crio_py.ocispec.resources import validate_resources

if TYPE_CHECKING:
    from crio_py.cri.sandbox.service import SandboxService


async def update_pod_sandbox_resources(
    service: SandboxService, request: api_pb2.UpdatePodSandboxResourcesRequest
) -> api_pb2.UpdatePodSandboxResourcesResponse:
    """Check both sets of resources and record them; NOT_FOUND for an unknown sandbox."""
    entry = service.records.get(request.pod_sandbox_id)
    validate_resources(request.resources)
    validate_resources(request.overhead)
    update = {
        "resources": message_to_json(request.resources),
        "overhead": message_to_json(request.overhead),
    }
    async with entry.lock:
        await service.records.store.update_locked(
            entry.metadata.id, lambda s: s.model_copy(update=update)
        )
    return api_pb2.UpdatePodSandboxResourcesResponse()
