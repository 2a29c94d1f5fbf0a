"""Container records → CRI messages, and the ListContainers filters. Pure functions: no I/O.

The stored config is the CRI ContainerConfig as JSON (`MessageToDict`); labels, annotations,
metadata and mounts come back from it, so they are always what the kubelet sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cri_api.v1 import api_pb2

from crio_py.cri.convert import message_from_json, message_to_json, set_unknown_string
from crio_py.store.records import ContainerMetadata, ContainerState, ContainerStatus

_STATES = {
    ContainerState.CREATED: api_pb2.CONTAINER_CREATED,
    ContainerState.RUNNING: api_pb2.CONTAINER_RUNNING,
    ContainerState.EXITED: api_pb2.CONTAINER_EXITED,
    ContainerState.UNKNOWN: api_pb2.CONTAINER_UNKNOWN,
}


def config_to_json(config: api_pb2.ContainerConfig) -> dict[str, Any]:
    """What `ContainerMetadata.config` holds."""
    return message_to_json(config)


def config_from_json(data: Mapping[str, Any]) -> api_pb2.ContainerConfig:
    """The ContainerConfig back from `ContainerMetadata.config`."""
    return message_from_json(data, api_pb2.ContainerConfig())


def state_of(metadata: ContainerMetadata, status: ContainerStatus) -> int:
    """The CRI ContainerState number."""
    return _STATES[status.state(metadata.created_at)]


def _image_ref(metadata: ContainerMetadata) -> str:
    return metadata.image_digest_ref or metadata.image_id


def container(
    metadata: ContainerMetadata, status: ContainerStatus, config: api_pb2.ContainerConfig
) -> api_pb2.Container:
    """One ListContainers item; `config` is `metadata.config` parsed."""
    return api_pb2.Container(
        id=metadata.id,
        pod_sandbox_id=metadata.sandbox_id,
        metadata=config.metadata,
        image=api_pb2.ImageSpec(image=metadata.image_ref),
        image_ref=_image_ref(metadata),
        image_id=metadata.image_id,
        state=state_of(metadata, status),  # type: ignore[arg-type]
        created_at=metadata.created_at,
        labels=dict(config.labels),
        annotations=dict(config.annotations),
    )


def container_status(
    metadata: ContainerMetadata, status: ContainerStatus, config: api_pb2.ContainerConfig
) -> api_pb2.ContainerStatus:
    """ContainerStatus.status; `config` is `metadata.config` parsed."""
    return api_pb2.ContainerStatus(
        id=metadata.id,
        metadata=config.metadata,
        state=state_of(metadata, status),  # type: ignore[arg-type]
        created_at=metadata.created_at,
        started_at=status.started_at,
        finished_at=status.finished_at,
        exit_code=status.exit_code,
        image=api_pb2.ImageSpec(image=metadata.image_ref),
        image_ref=_image_ref(metadata),
        image_id=metadata.image_id,
        reason=status.reason,
        message=status.message,
        labels=dict(config.labels),
        annotations=dict(config.annotations),
        mounts=_mounts(metadata, config),
        log_path=metadata.log_path,
        resources=_resources(status, config),
        stop_signal=config.stop_signal,
        user=_user(metadata),
    )


def _resources(
    status: ContainerStatus, config: api_pb2.ContainerConfig
) -> api_pb2.ContainerResources | None:
    """The last UpdateContainerResources' resources, else the config's (CRI-O and containerd
    report what the container runs with)."""
    if status.resources is not None:
        linux = message_from_json(status.resources, api_pb2.LinuxContainerResources())
        return api_pb2.ContainerResources(linux=linux)
    if config.linux.HasField("resources"):
        return api_pb2.ContainerResources(linux=config.linux.resources)
    return None


IMAGE_SPEC_IMAGE_REF = 20
"""ImageSpec.image_ref (KEP-5365: the image id of an image volume), newer than these stubs."""


def _mounts(metadata: ContainerMetadata, config: api_pb2.ContainerConfig) -> list[api_pb2.Mount]:
    """The mounts as requested, each image volume with the id of its image."""
    mounts = []
    for mount in config.mounts:
        image_id = metadata.image_volumes.get(mount.container_path)
        if image_id:
            reported = api_pb2.Mount()
            reported.CopyFrom(mount)
            set_unknown_string(reported.image, IMAGE_SPEC_IMAGE_REF, image_id)
            mount = reported
        mounts.append(mount)
    return mounts


def _user(metadata: ContainerMetadata) -> api_pb2.ContainerUser | None:
    """The identity the process runs as, as containerd and CRI-O report it (the spec's
    process.user: the primary gid is among the supplemental groups)."""
    user = metadata.user
    if user is None:
        return None
    return api_pb2.ContainerUser(
        linux=api_pb2.LinuxContainerUser(
            uid=user.uid, gid=user.gid, supplemental_groups=list(user.additional_gids)
        )
    )


def matches(item: api_pb2.Container, container_filter: api_pb2.ContainerFilter | None) -> bool:
    """Whether a container passes the state, sandbox and label filters (the id is resolved
    before; the sandbox id here is a full one)."""
    if container_filter is None:
        return True
    if container_filter.HasField("state") and item.state != container_filter.state.state:
        return False
    if container_filter.pod_sandbox_id and item.pod_sandbox_id != container_filter.pod_sandbox_id:
        return False
    return all(item.labels.get(k) == v for k, v in container_filter.label_selector.items())
