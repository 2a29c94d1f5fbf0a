"""UpdateContainerResources: new limits for a created or running container through
`<runtime> update` (the runtime made its cgroup at create, so a created container starts
with them), kept in the status record and reported by ContainerStatus, as CRI-O does.

Fields left zero keep their value, as containerd's `WithResources` does; the record holds
the merged result, so a restart reports what the container runs with.
"""

from __future__ import annotations

import asyncio
import json

from cri_api.v1 import api_pb2

from crio_py.cri.container.context import LIVE_STATES, ContainerContext, ContainerEntry
from crio_py.cri.convert import message_from_json, message_to_json
from crio_py.errors import FailedPreconditionError
from crio_py.fsutil import atomic_write_text
from crio_py.ocispec.resources import resources_section


async def update_container_resources(
    ctx: ContainerContext, request: api_pb2.UpdateContainerResourcesRequest
) -> api_pb2.UpdateContainerResourcesResponse:
    """The new limits through `<runtime> update`, then into the record."""
    entry = ctx.get(request.container_id)
    async with entry.lock:
        await ctx.refresh_locked(entry)
        state = entry.status.state(entry.metadata.created_at)
        if state not in LIVE_STATES:
            raise FailedPreconditionError(
                f"container {entry.metadata.id} is {state.name.lower()}, not created or running"
            )
        resources = resources_section(request.linux, host=ctx.host)
        path = ctx.layout.bundle(entry.metadata.id) / "resources.json"
        await asyncio.to_thread(atomic_write_text, path, json.dumps(resources))
        await ctx.runtime(entry).update(entry.metadata.id, path)
        kept = message_to_json(merged(current_resources(ctx, entry), request.linux))
        await ctx.store.update_locked(
            entry.metadata.id, lambda s: s.model_copy(update={"resources": kept})
        )
    return api_pb2.UpdateContainerResourcesResponse()


def current_resources(
    ctx: ContainerContext, entry: ContainerEntry
) -> api_pb2.LinuxContainerResources:
    """What the container runs with: the last update's, else its config's."""
    if entry.status.resources is not None:
        return message_from_json(entry.status.resources, api_pb2.LinuxContainerResources())
    return ctx.config(entry).linux.resources


def merged(
    base: api_pb2.LinuxContainerResources, update: api_pb2.LinuxContainerResources
) -> api_pb2.LinuxContainerResources:
    """`base` with every field `update` sets; unified keys are added, hugepage limits
    replaced."""
    result = api_pb2.LinuxContainerResources()
    result.CopyFrom(base)
    for field, value in update.ListFields():
        if field.name == "unified":
            result.unified.update(value)
        elif field.name == "hugepage_limits":
            del result.hugepage_limits[:]
            result.hugepage_limits.extend(value)
        else:
            setattr(result, field.name, value)
    return result
