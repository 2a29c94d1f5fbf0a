"""ContainerStatus and ListContainers: records as CRI messages, exits recorded first."""

from __future__ import annotations

import contextlib
import json

from cri_api.v1 import api_pb2

from crio_py.cri.container import query
from crio_py.cri.container.context import ContainerContext, ContainerEntry
from crio_py.cri.memo import PerObject
from crio_py.store.records import ContainerStatus


async def container_status(
    ctx: ContainerContext, request: api_pb2.ContainerStatusRequest
) -> api_pb2.ContainerStatusResponse:
    """The status; `verbose` adds the pid, bundle, handler and runtime spec."""
    entry = ctx.get(request.container_id)
    await ctx.refresh(entry)
    response = api_pb2.ContainerStatusResponse(
        status=query.container_status(entry.metadata, entry.status, ctx.config(entry))
    )
    if request.verbose:
        response.info["info"] = json.dumps(_verbose_info(ctx, entry))
    return response


def _verbose_info(ctx: ContainerContext, entry: ContainerEntry) -> dict[str, object]:
    bundle = ctx.layout.bundle(entry.metadata.id)
    spec: object = {}
    with contextlib.suppress(OSError, ValueError):
        spec = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    return {
        "sandboxID": entry.metadata.sandbox_id,
        "pid": entry.status.pid,
        "runtimeHandler": entry.metadata.runtime_handler,
        "bundle": str(bundle),
        "removing": entry.status.removing,
        "runtimeSpec": spec,
    }


# ListContainers items by the status record they show (a new record on every change).
_items: PerObject[ContainerStatus, tuple[str, api_pb2.Container]] = PerObject()


def _item(ctx: ContainerContext, entry: ContainerEntry) -> api_pb2.Container:
    def make(status: ContainerStatus) -> tuple[str, api_pb2.Container]:
        return entry.metadata.id, query.container(entry.metadata, status, ctx.config(entry))

    owner, item = _items.get(entry.status, make)
    return item if owner == entry.metadata.id else make(entry.status)[1]


async def list_containers(
    ctx: ContainerContext, request: api_pb2.ListContainersRequest
) -> api_pb2.ListContainersResponse:
    """Every CRI container passing the filter; ids and sandbox ids may be prefixes. Exits are
    those the exit monitor has recorded (it hears of each as conmon writes it)."""
    wanted = request.filter if request.HasField("filter") else api_pb2.ContainerFilter()
    entries = ctx.select(wanted.id, wanted.pod_sandbox_id)
    items = [_item(ctx, e) for e in entries]
    if wanted.HasField("state") or wanted.label_selector:
        checks = api_pb2.ContainerFilter(label_selector=wanted.label_selector)
        if wanted.HasField("state"):
            checks.state.CopyFrom(wanted.state)
        items = [item for item in items if query.matches(item, checks)]
    items.sort(key=lambda item: item.created_at)
    return api_pb2.ListContainersResponse(containers=items)
