"""What the sandbox service needs from the outside world, as seams tests can fill with fakes:
a CNI network plugin (`backends.cni.CniExecPlugin` in production) and the namespace pinning
functions of `backends.netns`. Nothing here runs anything itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from crio_py.backends import netns
from crio_py.backends.cni_types import CachedAttachment, CniResult, CniSandbox, NetworkConfig
from crio_py.backends.netns import IdMaps


class NetworkPlugin(Protocol):
    """The part of `CniExecPlugin` the sandbox RPCs use."""

    def load(self) -> NetworkConfig | None:
        """The network sandboxes join now, or None when none is configured."""

    async def add(self, network: NetworkConfig, sandbox: CniSandbox) -> CniResult:
        """Attach the sandbox (undoing itself on failure)."""

    async def delete(self, network: NetworkConfig | None, sandbox: CniSandbox) -> None:
        """Detach the sandbox; None means every network the cache names (idempotent)."""

    def cached_attachments(self, container_id: str) -> list[CachedAttachment]:
        """What ADD left in the cache for `container_id`."""


CreateNamespaces = Callable[
    [Path, str, Sequence[str], "str | None", "IdMaps | None"], Awaitable[dict[str, Path]]
]
RemoveNamespaces = Callable[[Mapping[str, Path]], Awaitable[None]]
IsPinned = Callable[[Path], bool]
MountShm = Callable[[Path], Awaitable[None]]


async def _create(
    pin_dir: Path,
    sandbox_id: str,
    kinds: Sequence[str],
    hostname: str | None,
    id_maps: IdMaps | None,
) -> dict[str, Path]:
    return await netns.create_namespaces(pin_dir, sandbox_id, kinds, hostname, id_maps)


async def _remove(paths: Mapping[str, Path]) -> None:
    await netns.remove_namespaces(paths)


@dataclass(frozen=True)
class NamespaceOps:
    """The namespace functions: `backends.netns` by default, fakes in unit tests."""

    create: CreateNamespaces = _create
    remove: RemoveNamespaces = _remove
    is_pinned: IsPinned = netns.is_pinned
    mount_shm: MountShm = netns.mount_shm
    unmount_shm: MountShm = netns.unmount_shm
