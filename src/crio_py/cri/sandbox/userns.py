"""A pod's user namespace (CRI `NamespaceOption.userns_options`), checked as containerd's
`parseUsernsIDs` checks it: NODE (or none) means the host's, POD needs exactly one uid and
one gid mapping line that maps container id 0, and CONTAINER or TARGET are refused. Pure
functions: no I/O.
"""

from __future__ import annotations

from cri_api.v1 import api_pb2

from crio_py.backends.netns import IdMap, IdMaps
from crio_py.errors import InvalidArgumentError

_MAX_ID = 2**32 - 1


def id_maps(options: api_pb2.NamespaceOption) -> IdMaps | None:
    """The pod's uid and gid mappings, or None for the host's user namespace."""
    if not options.HasField("userns_options"):
        return None
    userns = options.userns_options
    mode = api_pb2.NamespaceMode.Name(userns.mode)
    if userns.mode == api_pb2.NODE:
        if userns.uids or userns.gids:
            raise InvalidArgumentError(f"user namespace mode {mode} takes no id mappings")
        return None
    if userns.mode != api_pb2.POD:
        raise InvalidArgumentError(f"user namespace mode {mode} is not supported; use POD or NODE")
    if api_pb2.NODE in (options.network, options.ipc, options.pid):
        raise InvalidArgumentError("a pod with its own user namespace cannot share host namespaces")
    return IdMaps(uids=_one(userns.uids, "uid"), gids=_one(userns.gids, "gid"))


def _one(mappings: list[api_pb2.IDMapping], kind: str) -> IdMap:
    if len(mappings) != 1:
        raise InvalidArgumentError(
            f"user namespace {kind} mapping: exactly one mapping line is supported, "
            f"got {len(mappings)}"
        )
    (mapping,) = mappings
    if mapping.container_id != 0:
        raise InvalidArgumentError(
            f"user namespace {kind} mapping must start at container id 0, "
            f"not {mapping.container_id}"
        )
    if mapping.length < 1 or mapping.host_id + mapping.length - 1 > _MAX_ID:
        raise InvalidArgumentError(
            f"user namespace {kind} mapping {mapping.host_id}+{mapping.length} is out of range"
        )
    return IdMap(mapping.container_id, mapping.host_id, mapping.length)


def check_container(sandbox: api_pb2.NamespaceOption, container: api_pb2.NamespaceOption) -> None:
    """containerd: a container's user namespace config must be its sandbox's."""
    if id_maps(sandbox) != _container_maps(container):
        raise InvalidArgumentError(
            "the container's user namespace config differs from its sandbox's"
        )


def _container_maps(options: api_pb2.NamespaceOption) -> IdMaps | None:
    """A container config leaves the pod's host namespaces out: only its userns counts."""
    userns_only = api_pb2.NamespaceOption()
    if options.HasField("userns_options"):
        userns_only.userns_options.CopyFrom(options.userns_options)
    return id_maps(userns_only)
