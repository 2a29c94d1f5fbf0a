"""UpdateRuntimeConfig: the node's pod CIDR goes to the network of sandboxes to come."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cri_api.v1 import api_pb2

if TYPE_CHECKING:
    from crio_py.cri.sandbox.service import SandboxService

logger = logging.getLogger(__name__)


async def update_runtime_config(
    service: SandboxService, request: api_pb2.UpdateRuntimeConfigRequest
) -> api_pb2.UpdateRuntimeConfigResponse:
    """The node's pod CIDR, for the sandboxes to come."""
    service.pod_network.set_pod_cidr(request.runtime_config.network_config.pod_cidr)
    return api_pb2.UpdateRuntimeConfigResponse()
