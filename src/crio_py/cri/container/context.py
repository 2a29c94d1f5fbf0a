"""What every container RPC shares: the settings, the sandbox and image services, the records
with their lookups, and how an exit conmon recorded becomes a container's status.

The RPC modules (`create`, `lifecycle`, `status`, `exec_sync`, …) are functions of a
`ContainerContext`, which is given its collaborators (`seams.ContainerOps`, the records, the
image service and the sandbox records); `rpcs.rpc_table` maps each RPC name to its function.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from cri_api.v1 import api_pb2

from crio_py.backends.conmon import ConmonOptions
from crio_py.backends.exit_monitor import ExitMonitor
from crio_py.backends.mountapi import Idmap
from crio_py.backends.oci import OciRuntime
from crio_py.config.model import RuntimeSettings
from crio_py.cri import metrics
from crio_py.cri.container import announce, exits, host, query
from crio_py.cri.container.bundle import BundleWriter
from crio_py.cri.container.cpu_rate import CpuRates
from crio_py.cri.container.layout import Layout, Runtimes
from crio_py.cri.container.seams import ContainerOps
from crio_py.cri.events import EventHub
from crio_py.cri.image import ContainerImage
from crio_py.cri.memo import PerObject
from crio_py.cri.sandbox.records import SandboxRecords
from crio_py.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    quote,
)
from crio_py.ids import NameRegistrar, TruncIndex
from crio_py.ocispec import HostFeatures
from crio_py.store.objects import Entry, ObjectStore
from crio_py.store.records import ContainerMetadata, ContainerState, ContainerStatus

logger = logging.getLogger(__name__)

ContainerEntry = Entry[ContainerMetadata, ContainerStatus]
LIVE_STATES = (ContainerState.CREATED, ContainerState.RUNNING)


class ImageSource(Protocol):
    """The part of the image service containers need (`cri/image.py`'s `ImageService`)."""

    def container_image(self, name: str) -> ContainerImage: ...

    async def ensure_image(self, name: str) -> ContainerImage: ...

    async def mount_rootfs(
        self, container_id: str, image: ContainerImage, idmap: Idmap | None = None
    ) -> Path: ...

    async def stage_mount(
        self,
        container_id: str,
        name: str,
        source: Path,
        *,
        read_only: bool = False,
        idmap: Idmap | None = None,
    ) -> Path: ...

    async def mount_image_volume(
        self, container_id: str, name: str, image: ContainerImage, idmap: Idmap | None = None
    ) -> Path: ...

    async def release_volumes(self, container_id: str) -> None: ...

    async def unmount_rootfs(self, container_id: str) -> None: ...

    def rootfs_ids(self) -> set[str]: ...

    def writable_usage(self, container_id: str) -> tuple[int, int]: ...


class ContainerContext:
    """The container records and everything the container RPCs use."""

    def __init__(
        self,
        settings: RuntimeSettings,
        sandboxes: SandboxRecords,
        images: ImageSource,
        *,
        host_features: HostFeatures,
        layout: Layout,
        store: ObjectStore[ContainerMetadata, ContainerStatus],
        ops: ContainerOps,
    ) -> None:
        self.settings = settings
        self.sandboxes = sandboxes
        self.images = images
        self.layout = layout
        self.ops = ops
        self.clock = ops.clock
        self.runtimes = Runtimes(settings, layout, ops.runtime_for)
        self.host = host_features
        self.bundles = BundleWriter(
            settings, layout, self.runtimes, sandboxes, host_features, host.daemon_oom_score_adj()
        )
        self.names = NameRegistrar()
        self.index = TruncIndex()
        self.store = store
        # Parsed CRI configs, one per (immutable) metadata record.
        self._configs: PerObject[ContainerMetadata, api_pb2.ContainerConfig] = PerObject()
        self.exit_monitor = ExitMonitor(self.layout.exits_dir)
        self.events = EventHub()
        self.cpu_rates = CpuRates()  # the last CPU sample of each container and sandbox

    def reload_settings(self, settings: RuntimeSettings) -> None:
        """SIGHUP: new containers get `settings` (handlers and paths never change live)."""
        self.settings = settings
        self.runtimes.settings = settings
        self.bundles = dataclasses.replace(self.bundles, settings=settings)

    # Lookups

    def find(self, container_id: str) -> ContainerEntry | None:
        """The CRI container a full or unique short id names (never an infra container)."""
        if not container_id:
            return None
        try:
            entry = self.store.find(self.index.get(container_id))
        except (NotFoundError, InvalidArgumentError):
            return None
        return None if entry is None or entry.metadata.infra else entry

    def get(self, container_id: str) -> ContainerEntry:
        entry = self.find(container_id)
        if entry is None:
            raise NotFoundError(f"container {quote(container_id)} not found")
        return entry

    async def running(self, container_id: str) -> ContainerEntry:
        """The container, which must be running (FailedPreconditionError otherwise)."""
        entry = self.get(container_id)
        await self.refresh(entry)
        state = entry.status.state(entry.metadata.created_at)
        if state != ContainerState.RUNNING:
            raise FailedPreconditionError(
                f"container {entry.metadata.id} is {state.name.lower()}, not running"
            )
        return entry

    def select(
        self, container_id: str = "", sandbox_id: str = "", labels: dict[str, str] | None = None
    ) -> list[ContainerEntry]:
        """The CRI containers with this id and in this sandbox (both may be prefixes, both
        optional) whose labels include `labels`."""
        entries = [entry for _, entry in self.store if not entry.metadata.infra]
        if container_id:
            found = self.find(container_id)
            entries = [found] if found is not None else []
        if sandbox_id:
            sandbox = self.sandboxes.find(sandbox_id)
            full_id = sandbox.metadata.id if sandbox is not None else None
            entries = [e for e in entries if e.metadata.sandbox_id == full_id]
        wanted = (labels or {}).items()
        return [e for e in entries if all(self.config(e).labels.get(k) == v for k, v in wanted)]

    def forget(self, container_id: str) -> None:
        """Drop what is kept in memory of a removed container."""
        self.index.delete(container_id)
        self.names.release_id(container_id)
        self.cpu_rates.forget(container_id)

    def in_sandbox(self, sandbox_id: str) -> list[ContainerEntry]:
        """The sandbox's containers, its infra container last."""
        found = [e for _, e in self.store if e.metadata.sandbox_id == sandbox_id]
        return sorted(found, key=lambda e: e.metadata.infra)

    def runtime(self, entry: ContainerEntry) -> OciRuntime:
        return self.runtimes.runtime(entry.metadata.runtime_handler)

    def config(self, entry: ContainerEntry) -> api_pb2.ContainerConfig:
        """The container's CRI config, parsed once (the metadata never changes)."""
        return self._configs.get(entry.metadata, lambda m: query.config_from_json(m.config))

    def conmon(self, entry: ContainerEntry) -> ConmonOptions:
        config = self.config(entry)
        return self.runtimes.conmon_options(
            entry.metadata, tty=config.tty, stdin=config.stdin, stdin_once=config.stdin_once
        )

    # Exits

    async def collect_exits(self, container_ids: Iterable[str]) -> None:
        """Record the exits conmon wrote for these containers."""
        for container_id in container_ids:
            entry = self.store.find(container_id)
            if entry is not None:
                await self.refresh(entry)

    async def refresh(self, entry: ContainerEntry) -> None:
        """`refresh_locked` under the container's lock, unless someone holds it: then the
        holder records the exit, and a reader must not wait behind a StopContainer."""
        if entry.lock.locked():
            return
        if entry.status.state(entry.metadata.created_at) in LIVE_STATES:
            async with entry.lock:
                await self.refresh_locked(entry)

    async def refresh_locked(self, entry: ContainerEntry) -> bool:
        """Record the exit conmon wrote, if any; True when the container has exited."""
        if not entry.lock.locked():
            raise RuntimeError(f"container {entry.metadata.id} refreshed without its lock")
        if entry.status.state(entry.metadata.created_at) not in LIVE_STATES:
            return entry.status.finished_at != 0
        container_id = entry.metadata.id
        oom_dirs = (self.layout.bundle(container_id), self.layout.persist_dir(container_id))
        exited = exits.exited_status(entry.status, self.layout.exits_dir, container_id, oom_dirs)
        if exited is None:
            return False
        await self.store.update_locked(container_id, lambda _: exited)
        sandbox_id = entry.metadata.sandbox_id
        if not entry.metadata.infra:
            self.announce_stopped(entry)
        elif await self.sandboxes.infra_exited(sandbox_id):
            announce.announce(self, sandbox_id, sandbox_id, announce.STOPPED)
        logger.info(
            "Container %s exited with %d (%s)", container_id, exited.exit_code, exited.reason
        )
        if exited.reason == exits.REASON_OOM_KILLED and metrics.ACTIVE is not None:
            metrics.ACTIVE.container_oom(entry.metadata.name)
        return True

    async def finish_locked(self, entry: ContainerEntry, code: int, message: str) -> None:
        """Record an exit nobody saw."""
        await self.store.update_locked(
            entry.metadata.id, lambda s: exits.finished(s, code, message=message)
        )
        if not entry.metadata.infra:
            self.announce_stopped(entry)

    def announce_stopped(self, entry: ContainerEntry) -> None:
        """CONTAINER_STOPPED for a CRI container (a sandbox's stop is its own event)."""
        announce.announce(self, entry.metadata.id, entry.metadata.sandbox_id, announce.STOPPED)

    async def wait_exit_locked(
        self, entry: ContainerEntry, timeout_s: float, *, required: bool = True
    ) -> bool:
        """Wait for the exit; False (or DeadlineExceededError when `required`) on timeout."""
        deadline = time.monotonic() + timeout_s
        while not await self.refresh_locked(entry):
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                if required:
                    raise DeadlineExceededError(
                        f"container {entry.metadata.id} did not exit within {timeout_s:.0f} s"
                    )
                return False
            await self.exit_monitor.wait(entry.metadata.id, remaining_s)
        return True
