"""The events GetContainerEvents streams, built when a container or sandbox changes state.

As containerd's `generateAndSendContainerEvent` (`internal/cri/server/helpers.go`) does,
each event carries a snapshot taken when it is published: the sandbox's status (absent once
the sandbox is gone) and the statuses of the sandbox's CRI containers. A sandbox's own
transitions are sent too, with the sandbox id as the container id (containerd's
RunPodSandbox, StopPodSandbox and RemovePodSandbox do so), since the kubelet's evented PLEG
watches pods, not only their containers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cri_api.v1 import api_pb2

from crio_py.cri.container import query
from crio_py.cri.sandbox.query import pod_sandbox_status

if TYPE_CHECKING:
    from crio_py.cri.container.context import ContainerContext

CREATED = api_pb2.CONTAINER_CREATED_EVENT
STARTED = api_pb2.CONTAINER_STARTED_EVENT
STOPPED = api_pb2.CONTAINER_STOPPED_EVENT
DELETED = api_pb2.CONTAINER_DELETED_EVENT


def announce(ctx: ContainerContext, object_id: str, sandbox_id: str, kind: int) -> None:
    """Publish a `kind` event for the container (or sandbox) `object_id` of `sandbox_id`."""
    event = api_pb2.ContainerEventResponse(
        container_id=object_id,
        container_event_type=kind,  # type: ignore[arg-type]
        created_at=time.time_ns(),
        containers_statuses=_container_statuses(ctx, sandbox_id),
    )
    sandbox = ctx.sandboxes.find(sandbox_id)
    if sandbox is not None:
        event.pod_sandbox_status.CopyFrom(pod_sandbox_status(sandbox.metadata, sandbox.status))
    ctx.events.publish(event)


def _container_statuses(ctx: ContainerContext, sandbox_id: str) -> list[api_pb2.ContainerStatus]:
    return [
        query.container_status(entry.metadata, entry.status, ctx.config(entry))
        for entry in ctx.in_sandbox(sandbox_id)
        if not entry.metadata.infra
    ]
