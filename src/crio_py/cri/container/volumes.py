"""The CRI mounts of a container as its spec binds them. Most are bound as the kubelet sent
them; three kinds are prepared on the host first, under the container's rootfs directory
(so they go when it goes, also after a crash):

- an image volume (`Mount.image`): the image's layers as a read-only overlay, or the
  `image_sub_path` inside it (which must exist and cannot lead out of it);
- a recursive read-only mount: a copy of the host tree made read-only all the way down,
  which any runc-compatible runtime can bind (runc 1.1 cannot make one itself);
- in a pod with a user namespace, a mount with id mappings: an idmapped copy.

The stored config keeps the mounts as requested: ContainerStatus reports those.
"""

from __future__ import annotations

import os
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends.mountapi import Idmap
from crio_py.cri import validate
from crio_py.cri.container.context import ContainerContext
from crio_py.errors import InvalidArgumentError, quote
from crio_py.fsutil import resolve_in_root

_PROPAGATIONS = frozenset(api_pb2.MountPropagation.values())


def check(mounts: list[api_pb2.Mount], *, rro_supported: bool) -> None:
    """Refuse what cannot be prepared, before anything is made (CreateContainer)."""
    for mount in mounts:
        where = mount.container_path
        _check_paths(mount)
        if _is_image(mount) and not mount.readonly:
            raise InvalidArgumentError(f"image volume {where} must be read-only")
        if mount.recursive_read_only:
            if not mount.readonly:
                raise InvalidArgumentError(f"recursive read-only mount {where} must be read-only")
            if mount.propagation != api_pb2.PROPAGATION_PRIVATE:
                raise InvalidArgumentError(
                    f"recursive read-only mount {where} needs private propagation"
                )
            if not rro_supported:
                raise InvalidArgumentError(
                    f"the runtime handler cannot make recursive read-only mounts ({where})"
                )


def _check_paths(mount: api_pb2.Mount) -> None:
    validate.absolute_path("mount container_path", mount.container_path)
    if not _is_image(mount):
        validate.absolute_path(f"mount {quote(mount.container_path)}: host_path", mount.host_path)
    if mount.propagation not in _PROPAGATIONS:
        raise InvalidArgumentError(
            f"mount {quote(mount.container_path)}: unknown propagation {mount.propagation}"
        )


async def prepare(
    ctx: ContainerContext,
    container_id: str,
    mounts: list[api_pb2.Mount],
    idmap: Idmap | None,
) -> list[api_pb2.Mount]:
    """The mounts with prepared ones pointing at what was made for them."""
    prepared = []
    for index, mount in enumerate(mounts):
        source: Path | None = None
        if _is_image(mount):
            source = await _image_volume(ctx, container_id, index, mount, idmap)
        elif mount.recursive_read_only or (idmap is not None and mount.uidMappings):
            mapped = idmap if mount.uidMappings else None
            source = await ctx.images.stage_mount(
                container_id,
                f"mount-{index}",
                Path(mount.host_path),
                read_only=mount.recursive_read_only,
                idmap=mapped,
            )
        if source is None:
            prepared.append(mount)
            continue
        bound = api_pb2.Mount(
            container_path=mount.container_path,
            host_path=str(source),
            readonly=mount.readonly,
            propagation=api_pb2.PROPAGATION_PRIVATE,
        )
        prepared.append(bound)
    return prepared


def image_ids(ctx: ContainerContext, mounts: list[api_pb2.Mount]) -> dict[str, str]:
    """Container path → image id of each image volume; NotFoundError for an image that is
    not pulled (the kubelet pulls it first)."""
    return {
        mount.container_path: ctx.images.container_image(mount.image.image).record.id
        for mount in mounts
        if _is_image(mount)
    }


def host_mounts(mounts: list[api_pb2.Mount]) -> list[api_pb2.Mount]:
    """The mounts that bind a host path (image volumes have none)."""
    return [mount for mount in mounts if not _is_image(mount)]


async def _image_volume(
    ctx: ContainerContext, container_id: str, index: int, mount: api_pb2.Mount, idmap: Idmap | None
) -> Path:
    image = ctx.images.container_image(mount.image.image)
    root = await ctx.images.mount_image_volume(container_id, f"image-{index}", image, idmap)
    if not mount.image_sub_path:
        return root
    try:
        source = resolve_in_root(root, mount.image_sub_path)
    except OSError as exc:
        raise InvalidArgumentError(f"image_sub_path {quote(mount.image_sub_path)}: {exc}") from exc
    if not os.path.lexists(source):
        raise InvalidArgumentError(
            f"image_sub_path {quote(mount.image_sub_path)} is not in image "
            f"{quote(mount.image.image)}"
        )
    return source


def _is_image(mount: api_pb2.Mount) -> bool:
    return mount.HasField("image") and bool(mount.image.image)
