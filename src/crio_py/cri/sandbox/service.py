"""`SandboxService`: the pod sandbox RPCs. A sandbox is a set of pinned namespaces, a sized
/dev/shm, a CNI attachment, three files, its records and, when the pod shares its PID
namespace or the configuration asks for one, an infra container (`PodMembers.run_infra`).

RunPodSandbox is multi-step: every step pushes its undo onto an `AsyncExitStack`, and
`pop_all()` keeps them only when every step succeeded. An undo that fails is logged and the
original error is raised (containerd's `cleanupErr`, ARCHITECTURE.md §5).

CRI: StopPodSandbox and RemovePodSandbox must be idempotent and answer OK for an unknown id
(api.proto). Records live under `<root_dir>/sandboxes/<id>/`; namespace pins under
`<state_dir>/ns/`. Pins gone while a record says ready means the host rebooted: such a
sandbox is loaded NOTREADY.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from cri_api.v1 import api_pb2

from crio_py import crashpoint, fsutil
from crio_py.backends.cni import CniExecPlugin
from crio_py.backends.mountapi import Idmap
from crio_py.backends.netns import IdMaps
from crio_py.config.model import RuntimeHandler, RuntimeSettings
from crio_py.cri import validate
from crio_py.cri.sandbox import files, query, recover, userns
from crio_py.cri.sandbox.network import PodNetwork
from crio_py.cri.sandbox.recover import stopped
from crio_py.cri.sandbox.seams import NamespaceOps, NetworkPlugin
from crio_py.cri.undo import best_effort
from crio_py.errors import (
    InvalidArgumentError,
    NotFoundError,
    UnimplementedError,
)
from crio_py.ids import NameRegistrar, TruncIndex, new_id
from crio_py.store.objects import Entry, ObjectStore
from crio_py.store.records import SandboxMetadata, SandboxStatus

logger = logging.getLogger(__name__)

SandboxEntry = Entry[SandboxMetadata, SandboxStatus]
_OCI_KINDS = {"net": "network", "ipc": "ipc", "uts": "uts", "user": "user"}


class PodMembers(Protocol):
    """What stopping and removing a sandbox does to its containers (the container service)."""

    async def stop_all(self, sandbox_id: str) -> None:
        """Stop every container of the sandbox (SIGKILL, as StopPodSandbox does)."""

    async def remove_all(self, sandbox_id: str) -> None:
        """Remove every container of the sandbox."""

    async def run_infra(self, sandbox: Entry[SandboxMetadata, SandboxStatus]) -> None:
        """Create and start the sandbox's infra container."""


class SandboxService:
    """The pod sandbox RPCs; `network` and `namespaces` are seams for tests."""

    def __init__(
        self,
        settings: RuntimeSettings,
        network: NetworkPlugin,
        namespaces: NamespaceOps | None = None,
        user_namespaces: Callable[[RuntimeHandler], bool] = lambda _: False,
    ) -> None:
        self.settings = settings
        # Whether a handler can run a pod in a user namespace (the host's features say).
        self.user_namespaces = user_namespaces
        self.network = network
        self.pod_network = PodNetwork(network)
        self.namespaces = namespaces or NamespaceOps()
        self.records_dir = settings.root_dir / "sandboxes"
        self.pin_dir = settings.state_dir / "ns"
        self.shm_dir = settings.state_dir / "shm"
        self.names = NameRegistrar()
        self.index = TruncIndex()
        self.members: PodMembers | None = None
        self._store: ObjectStore[SandboxMetadata, SandboxStatus] | None = None

    @classmethod
    async def open(
        cls,
        settings: RuntimeSettings,
        network: NetworkPlugin | None = None,
        user_namespaces: Callable[[RuntimeHandler], bool] = lambda _: False,
    ) -> SandboxService:
        """The production service: the CNI plugins of the settings; records loaded."""
        if network is None:
            network = CniExecPlugin.from_settings(settings.cni, settings.root_dir / "cni-cache")
        service = cls(settings, network, user_namespaces=user_namespaces)
        await service.load()
        return service

    def reload_settings(self, settings: RuntimeSettings) -> None:
        """SIGHUP: the next request reads `settings`."""
        self.settings = settings

    @property
    def store(self) -> ObjectStore[SandboxMetadata, SandboxStatus]:
        """The records; the directory is created by the first sandbox, not at start-up."""
        if self._store is None:
            self._store = ObjectStore(self.records_dir, SandboxMetadata, SandboxStatus)
        return self._store

    async def load(self) -> None:
        """Load the records and settle what changed while the daemon was away."""
        await recover.load(self)

    # RunPodSandbox

    async def run_pod_sandbox(
        self, request: api_pb2.RunPodSandboxRequest
    ) -> api_pb2.RunPodSandboxResponse:
        """Reserve the name, pin namespaces, attach the network, write files and records."""
        config = request.config
        handler = self._handler(request.runtime_handler)
        validate.sandbox_config(config, handler.cgroup_driver)
        infra = self._needs_infra(config)
        sandbox_id = new_id()
        meta = config.metadata
        name = f"{meta.name}_{meta.namespace}_{meta.uid}_{meta.attempt}"
        options = query.namespace_options(config)
        maps = self._id_maps(options, handler)
        host_network = options.network == api_pb2.NODE
        # containerd and CRI-O: a request without a hostname gets the node's.
        hostname = config.hostname or socket.gethostname()
        async with contextlib.AsyncExitStack() as undo:
            self.names.reserve(name, sandbox_id)
            undo.callback(self.names.release, name)
            paths = await self._pin(undo, sandbox_id, options, hostname, maps)
            crashpoint.reached("RunPodSandbox:pinned")
            if options.ipc != api_pb2.NODE:
                await self._mount_shm(undo, sandbox_id)
                crashpoint.reached("RunPodSandbox:shm-mounted")
            directory = self.records_dir / sandbox_id
            undo.callback(shutil.rmtree, directory, ignore_errors=True)
            fsutil.private_dir(directory, group=maps.gids.host_id if maps else None)
            pod_files = files.PodFiles(directory, hostname, host_network, config)
            metadata = SandboxMetadata(
                id=sandbox_id,
                name=name,
                config=query.config_to_json(config),
                runtime_handler=handler.name,
                namespaces={kind: str(path) for kind, path in paths.items()},
                infra_container_id=sandbox_id if infra else "",
                created_at=time.time_ns(),
            )
            if infra and not host_network:
                ips = await self._attach_beside_infra(undo, metadata, pod_files, paths)
            else:
                ips = () if host_network else await self._attach(undo, sandbox_id, config, paths)
                entry = await self._create_record(undo, metadata, pod_files, ips)
                if infra:
                    await self._run_infra(undo, entry)
            crashpoint.reached("RunPodSandbox:recorded")
            self.index.add(sandbox_id)
            undo.pop_all()
        logger.info("Ran sandbox %s (%s) with IPs %s", sandbox_id, name, ", ".join(ips) or "-")
        return api_pb2.RunPodSandboxResponse(pod_sandbox_id=sandbox_id)

    async def _create_record(
        self,
        undo: contextlib.AsyncExitStack,
        metadata: SandboxMetadata,
        pod_files: files.PodFiles,
        ips: tuple[str, ...],
    ) -> SandboxEntry:
        """The files containers bind, then the records."""
        await asyncio.to_thread(pod_files.write, ips)
        entry = await self.store.create(metadata.id, metadata, SandboxStatus(ready=True, ips=ips))
        undo.callback(self.store.delete, metadata.id)
        return entry

    async def _attach_beside_infra(
        self,
        undo: contextlib.AsyncExitStack,
        metadata: SandboxMetadata,
        pod_files: files.PodFiles,
        paths: dict[str, Path],
    ) -> tuple[str, ...]:
        """CNI and the infra container at once (neither needs the other: the infra container
        joins the pinned network namespace, and pause reads no file); /etc/hosts gets the
        pod's addresses once CNI has them, before any other container binds it."""
        entry = await self._create_record(undo, metadata, pod_files, ())
        config = pod_files.config
        attached, started = await asyncio.gather(
            self._attach(undo, metadata.id, config, paths),
            self._run_infra(undo, entry),
            return_exceptions=True,
        )
        for outcome in (attached, started):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(attached, tuple)
        await asyncio.to_thread(pod_files.write, attached)
        await self.store.update(metadata.id, lambda s: s.model_copy(update={"ips": attached}))
        return attached

    def _handler(self, name: str) -> RuntimeHandler:
        handler_name = name or self.settings.default_runtime
        handler = self.settings.runtimes.get(handler_name)
        if handler is None:
            raise NotFoundError(f"runtime handler {handler_name!r} is not configured")
        if handler.kind != "oci":
            raise UnimplementedError(
                f"runtime handler {handler_name!r} is of kind {handler.kind!r}; "
                "only oci handlers are supported"
            )
        return handler

    def _id_maps(self, options: api_pb2.NamespaceOption, handler: RuntimeHandler) -> IdMaps | None:
        maps = userns.id_maps(options)
        if maps is not None and not self.user_namespaces(handler):
            raise InvalidArgumentError(
                f"runtime handler {handler.name!r} cannot run pods in user namespaces here"
            )
        return maps

    def _needs_infra(self, config: api_pb2.PodSandboxConfig) -> bool:
        """CRI-O's NeedsInfra: the config asks for one, or a shared (POD) PID namespace needs
        a process to hold it."""
        shared_pid = query.namespace_options(config).pid == api_pb2.POD
        return shared_pid or not self.settings.drop_infra_container

    async def _run_infra(self, undo: contextlib.AsyncExitStack, entry: SandboxEntry) -> None:
        if self.members is None:
            raise UnimplementedError("this daemon runs no containers; no infra container either")
        members, sandbox_id = self.members, entry.metadata.id
        undo.push_async_callback(
            _best_effort,
            f"remove the infra container of sandbox {sandbox_id}",
            lambda: members.remove_all(sandbox_id),
        )
        await members.run_infra(entry)

    async def _pin(
        self,
        undo: contextlib.AsyncExitStack,
        sandbox_id: str,
        options: api_pb2.NamespaceOption,
        hostname: str,
        maps: IdMaps | None,
    ) -> dict[str, Path]:
        kinds = ["user"] if maps is not None else []  # first: it owns the others
        if options.network != api_pb2.NODE:
            kinds += ["net", "uts"]  # a host-network sandbox keeps the host's name too
        if options.ipc != api_pb2.NODE:
            kinds.append("ipc")
        if not kinds:
            return {}
        host = hostname if "uts" in kinds else None
        paths = await self.namespaces.create(self.pin_dir, sandbox_id, kinds, host, maps)
        undo.push_async_callback(
            _best_effort,
            f"remove the namespaces of sandbox {sandbox_id}",
            lambda: self.namespaces.remove(paths),
        )
        return paths

    async def _mount_shm(self, undo: contextlib.AsyncExitStack, sandbox_id: str) -> None:
        path = self.shm_dir / sandbox_id
        await self.namespaces.mount_shm(path)
        undo.push_async_callback(
            _best_effort,
            f"unmount /dev/shm of sandbox {sandbox_id}",
            lambda: self.namespaces.unmount_shm(path),
        )

    async def _attach(
        self,
        undo: contextlib.AsyncExitStack,
        sandbox_id: str,
        config: api_pb2.PodSandboxConfig,
        paths: dict[str, Path],
    ) -> tuple[str, ...]:
        ips, detach = await self.pod_network.attach(sandbox_id, config, str(paths["net"]))
        undo.push_async_callback(_best_effort, f"detach sandbox {sandbox_id} from CNI", detach)
        crashpoint.reached("RunPodSandbox:attached")
        return ips

    async def update_runtime_config(
        self, request: api_pb2.UpdateRuntimeConfigRequest
    ) -> api_pb2.UpdateRuntimeConfigResponse:
        """The node's pod CIDR, for the sandboxes to come."""
        self.pod_network.set_pod_cidr(request.runtime_config.network_config.pod_cidr)
        return api_pb2.UpdateRuntimeConfigResponse()

    # StopPodSandbox / RemovePodSandbox

    async def stop_pod_sandbox(
        self, request: api_pb2.StopPodSandboxRequest
    ) -> api_pb2.StopPodSandboxResponse:
        """Detach the network, drop the namespaces, mark NOTREADY. CRI: idempotent, and OK
        for an unknown id (api.proto)."""
        entry = self.find(request.pod_sandbox_id)
        if entry is not None:
            async with entry.lock:
                await self._stop_locked(entry)
        return api_pb2.StopPodSandboxResponse()

    async def _stop_locked(self, entry: SandboxEntry) -> None:
        metadata = entry.metadata
        if self.members is not None:
            await self.members.stop_all(metadata.id)
        crashpoint.reached("StopPodSandbox:containers-stopped")
        was_ready = entry.status.ready
        if was_ready:  # from here on the pod is going: never ready without its network
            await self.store.update_locked(metadata.id, stopped)
        paths = {kind: Path(p) for kind, p in metadata.namespaces.items()}
        net = paths.get("net")
        netns_path = str(net) if net is not None and self.namespaces.is_pinned(net) else ""
        await self.pod_network.detach_all(metadata.id, _config(entry), netns_path)
        crashpoint.reached("StopPodSandbox:detached")
        if paths:
            await self.namespaces.remove(paths)
        await self.namespaces.unmount_shm(self.shm_dir / metadata.id)
        if was_ready:
            logger.info("Stopped sandbox %s", metadata.id)

    async def remove_pod_sandbox(
        self, request: api_pb2.RemovePodSandboxRequest
    ) -> api_pb2.RemovePodSandboxResponse:
        """Stop if needed, then delete records and files and release the name. CRI:
        idempotent, and OK for an unknown id (api.proto)."""
        entry = self.find(request.pod_sandbox_id)
        if entry is None:
            return api_pb2.RemovePodSandboxResponse()
        sandbox_id = entry.metadata.id
        async with entry.lock:
            await self.store.update_locked(
                sandbox_id, lambda s: s.model_copy(update={"removing": True})
            )
            crashpoint.reached("RemovePodSandbox:marked")
            try:
                await self._stop_locked(entry)
            except BaseException:
                await self.store.update_locked(
                    sandbox_id, lambda s: s.model_copy(update={"removing": False})
                )
                raise
            if self.members is not None:
                await self.members.remove_all(sandbox_id)
            crashpoint.reached("RemovePodSandbox:containers-removed")
            await asyncio.to_thread(self.store.delete, sandbox_id)
            self.index.delete(sandbox_id)
            self.names.release_id(sandbox_id)
        logger.info("Removed sandbox %s", sandbox_id)
        return api_pb2.RemovePodSandboxResponse()

    # PodSandboxStatus / ListPodSandbox

    async def pod_sandbox_status(
        self, request: api_pb2.PodSandboxStatusRequest
    ) -> api_pb2.PodSandboxStatusResponse:
        """The sandbox's status; `verbose` adds namespace paths and the CNI result."""
        entry = self.find(request.pod_sandbox_id)
        if entry is None:
            raise NotFoundError(f"sandbox {request.pod_sandbox_id!r} not found")
        response = api_pb2.PodSandboxStatusResponse(
            status=query.pod_sandbox_status(entry.metadata, entry.status)
        )
        if request.verbose:
            info = {
                "id": entry.metadata.id,
                "name": entry.metadata.name,
                "runtimeHandler": entry.metadata.runtime_handler,
                "namespaces": dict(entry.metadata.namespaces),
                "cniResult": self.pod_network.cached_results(entry.metadata.id),
                "config": entry.metadata.config,
            }
            response.info["info"] = json.dumps(info)
        return response

    async def list_pod_sandbox(
        self, request: api_pb2.ListPodSandboxRequest
    ) -> api_pb2.ListPodSandboxResponse:
        """Every sandbox passing the filter; an id filter is a prefix (truncindex)."""
        sandbox_filter = request.filter if request.HasField("filter") else None
        entries = [entry for _, entry in self.store] if self._store is not None else []
        if sandbox_filter is not None and sandbox_filter.id:
            found = self.find(sandbox_filter.id)
            entries = [found] if found is not None else []
        items = [query.pod_sandbox(e.metadata, e.status) for e in entries]
        items = [item for item in items if query.matches(item, sandbox_filter)]
        items.sort(key=lambda item: item.created_at)
        return api_pb2.ListPodSandboxResponse(items=items)

    # For the container service

    def get(self, sandbox_id: str) -> SandboxEntry:
        """The sandbox a full or unique short id names; NotFoundError when none does."""
        entry = self.find(sandbox_id)
        if entry is None:
            raise NotFoundError(f"sandbox {sandbox_id!r} not found")
        return entry

    def container_files(self, entry: SandboxEntry) -> dict[str, str]:
        """Container path → host path of the files every container of the sandbox mounts."""
        directory = self.records_dir / entry.metadata.id
        found = {
            "/etc/hosts": directory / "hosts",
            "/etc/resolv.conf": directory / "resolv.conf",
            "/etc/hostname": directory / "hostname",
            "/dev/shm": self.shm_dir / entry.metadata.id,
        }
        if query.namespace_options(_config(entry)).ipc == api_pb2.NODE:
            found["/dev/shm"] = Path("/dev/shm")  # host IPC: the host's
        return {dest: str(path) for dest, path in found.items() if path.exists()}

    def all(self) -> list[SandboxEntry]:
        """Every sandbox."""
        return [entry for _, entry in self.store] if self._store is not None else []

    def infra_exited(self, sandbox_id: str) -> None:
        """The infra container is gone: the sandbox is not ready any more. Only StopPodSandbox
        and RemovePodSandbox hold a sandbox's lock, and they mark it not ready themselves."""
        entry = self.store.find(sandbox_id)
        ready = entry is not None and entry.status.ready
        if ready and self.store.update_if_free(sandbox_id, stopped):
            logger.warning("The infra container of sandbox %s exited", sandbox_id)

    @staticmethod
    def idmap(entry: SandboxEntry) -> Idmap | None:
        """What the sandbox's mounts are idmapped through, when it has a user namespace."""
        maps = userns.id_maps(query.namespace_options(_config(entry)))
        path = entry.metadata.namespaces.get("user")
        if maps is None or path is None:
            return None
        return Idmap(Path(path), root_uid=maps.uids.host_id, root_gid=maps.gids.host_id)

    @staticmethod
    def namespace_paths(entry: SandboxEntry) -> dict[str, str]:
        """The sandbox's pinned namespaces by their OCI names (network, ipc, uts)."""
        return {_OCI_KINDS[kind]: path for kind, path in entry.metadata.namespaces.items()}

    def find(self, sandbox_id: str) -> SandboxEntry | None:
        """The sandbox a full or unique short id names; None when none does."""
        if self._store is None:
            return None
        try:
            return self.store.find(self.index.get(sandbox_id))
        except (NotFoundError, InvalidArgumentError):
            return None


def _config(entry: SandboxEntry) -> api_pb2.PodSandboxConfig:
    return query.config_from_json(entry.metadata.config)


def _best_effort(what: str, undo: Callable[[], Awaitable[None]]) -> Awaitable[None]:
    return best_effort("RunPodSandbox", what, undo)
