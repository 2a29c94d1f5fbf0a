"""`SandboxRecords`: the sandbox records with their names and short ids, and what the container
RPCs read of a sandbox (its files, namespaces and idmap). The sandbox RPCs write them; the
container RPCs only read them, so both are built on one `SandboxRecords`.

Records live under `<root_dir>/sandboxes/<id>/`; namespace pins under `<state_dir>/ns/`,
/dev/shm mounts under `<state_dir>/shm/`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends.mountapi import Idmap
from crio_py.config.model import RuntimeSettings
from crio_py.cri.sandbox import query, userns
from crio_py.cri.sandbox.recover import stopped
from crio_py.errors import InvalidArgumentError, NotFoundError
from crio_py.ids import NameRegistrar, TruncIndex
from crio_py.store.objects import Entry, ObjectStore
from crio_py.store.records import SandboxMetadata, SandboxStatus

logger = logging.getLogger(__name__)

SandboxEntry = Entry[SandboxMetadata, SandboxStatus]
_OCI_KINDS = {"net": "network", "ipc": "ipc", "uts": "uts", "user": "user"}


class SandboxRecords:
    """The sandboxes: records on disk, their names and their short ids."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.records_dir = settings.root_dir / "sandboxes"
        self.pin_dir = settings.state_dir / "ns"
        self.shm_dir = settings.state_dir / "shm"
        self.names = NameRegistrar()
        self.index = TruncIndex()
        self._store: ObjectStore[SandboxMetadata, SandboxStatus] | None = None

    @property
    def store(self) -> ObjectStore[SandboxMetadata, SandboxStatus]:
        """The records; the directory is created by the first sandbox, not at start-up."""
        if self._store is None:
            self._store = ObjectStore(self.records_dir, SandboxMetadata, SandboxStatus)
        return self._store

    def find(self, sandbox_id: str) -> SandboxEntry | None:
        """The sandbox a full or unique short id names; None when none does."""
        if self._store is None:
            return None
        try:
            return self.store.find(self.index.get(sandbox_id))
        except (NotFoundError, InvalidArgumentError):
            return None

    def get(self, sandbox_id: str) -> SandboxEntry:
        """The sandbox a full or unique short id names; NotFoundError when none does."""
        entry = self.find(sandbox_id)
        if entry is None:
            raise NotFoundError(f"sandbox {sandbox_id!r} not found")
        return entry

    def all(self) -> list[SandboxEntry]:
        """Every sandbox."""
        return [entry for _, entry in self.store] if self._store is not None else []

    def select(self, sandbox_id: str = "") -> list[SandboxEntry]:
        """Every sandbox, or only the one a full or unique short id names ("": every one)."""
        if not sandbox_id:
            return self.all()
        found = self.find(sandbox_id)
        return [found] if found is not None else []

    def container_files(self, entry: SandboxEntry) -> dict[str, str]:
        """Container path → host path of the files every container of the sandbox mounts."""
        directory = self.records_dir / entry.metadata.id
        found = {
            "/etc/hosts": directory / "hosts",
            "/etc/resolv.conf": directory / "resolv.conf",
            "/etc/hostname": directory / "hostname",
            "/dev/shm": self.shm_dir / entry.metadata.id,
        }
        if query.namespace_options(sandbox_config(entry)).ipc == api_pb2.NODE:
            found["/dev/shm"] = Path("/dev/shm")  # host IPC: the host's
        return {dest: str(path) for dest, path in found.items() if path.exists()}

    async def infra_exited(self, sandbox_id: str) -> bool:
        """The infra container is gone: the sandbox is not ready any more. Only StopPodSandbox
        and RemovePodSandbox hold a sandbox's lock, and they mark it not ready themselves.
        True when this marked it."""
        entry = self.store.find(sandbox_id)
        ready = entry is not None and entry.status.ready
        if ready and await self.store.update_if_free(sandbox_id, stopped):
            logger.warning("The infra container of sandbox %s exited", sandbox_id)
            return True
        return False

    @staticmethod
    def idmap(entry: SandboxEntry) -> Idmap | None:
        """What the sandbox's mounts are idmapped through, when it has a user namespace."""
        maps = userns.id_maps(query.namespace_options(sandbox_config(entry)))
        path = entry.metadata.namespaces.get("user")
        if maps is None or path is None:
            return None
        return Idmap(Path(path), root_uid=maps.uids.host_id, root_gid=maps.gids.host_id)

    @staticmethod
    def namespace_paths(entry: SandboxEntry) -> dict[str, str]:
        """The sandbox's pinned namespaces by their OCI names (network, ipc, uts)."""
        return {_OCI_KINDS[kind]: path for kind, path in entry.metadata.namespaces.items()}


def sandbox_config(entry: SandboxEntry) -> api_pb2.PodSandboxConfig:
    """The sandbox's CRI config, from its metadata (parsed once; read-only)."""
    return query.parsed_config(entry.metadata)
