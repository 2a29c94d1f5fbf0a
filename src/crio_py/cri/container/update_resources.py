"""UpdateContainerResources: new limits for a running container through `<runtime> update`."""

from __future__ import annotations

import asyncio
import json

from cri_api.v1 import api_pb2

from crio_py.cri.container.context import ContainerContext
from crio_py.fsutil import atomic_write_text
from crio_py.ocispec.resources import resources_section


async def update_container_resources(
    ctx: ContainerContext, request: api_pb2.UpdateContainerResourcesRequest
) -> api_pb2.UpdateContainerResourcesResponse:
    """The new limits through `<runtime> update`."""
    entry = await ctx.running(request.container_id)
    resources = resources_section(request.linux, host=ctx.host)
    path = ctx.layout.bundle(entry.metadata.id) / "resources.json"
    await asyncio.to_thread(atomic_write_text, path, json.dumps(resources))
    await ctx.runtime(entry).update(entry.metadata.id, path)
    return api_pb2.UpdateContainerResourcesResponse()
