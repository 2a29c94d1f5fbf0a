"""`ContainerService`: the container RPCs. A container is an OCI bundle under the state dir,
run by conmon + the pod's runtime handler on a rootfs the image service mounts, and two
records (metadata written once, status rewritten atomically) under the root dir.

CreateContainer is multi-step like RunPodSandbox: each step pushes its undo and `pop_all()`
keeps them only when every step succeeded. Exits are noticed by `watch_exits` (conmon's exit
files) and whenever a container is looked at; `load` recovers after a crash of the daemon:
conmon kept the containers, and exits that happened meanwhile are read from the exit files.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from cri_api.v1 import api_pb2

from crio_py.backends import conmon, conmon_exec
from crio_py.backends.oci import OciRuntime
from crio_py.config.model import RuntimeSettings
from crio_py.cri.container import exits, host, query
from crio_py.cri.container.bundle import BundleWriter
from crio_py.cri.container.layout import Layout, Runtimes
from crio_py.cri.image import ContainerImage
from crio_py.cri.sandbox import SandboxService
from crio_py.cri.sandbox.query import config_from_json as sandbox_config_from_json
from crio_py.cri.sandbox.service import SandboxEntry
from crio_py.cri.undo import best_effort
from crio_py.errors import (
    CrioPyError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from crio_py.fsutil import atomic_write_text
from crio_py.ids import NameRegistrar, TruncIndex, new_id
from crio_py.ocispec import HostFeatures, stop_signal
from crio_py.ocispec.resources import resources_section
from crio_py.store.objects import Entry, ObjectStore
from crio_py.store.records import (
    ContainerMetadata,
    ContainerState,
    ContainerStatus,
)

logger = logging.getLogger(__name__)

ContainerEntry = Entry[ContainerMetadata, ContainerStatus]
KILL_WAIT_S = 30.0
"""How long a SIGKILLed container may take to be reported gone before StopContainer fails."""
WATCH_INTERVAL_S = 0.1
START_ERROR_EXIT_CODE = 128
"""containerd's exit code for a container whose start failed (reason "StartError")."""
_LIVE = (ContainerState.CREATED, ContainerState.RUNNING)


class ImageSource(Protocol):
    """The part of the image service containers need (`cri/image.py`'s `ImageService`)."""

    def container_image(self, name: str) -> ContainerImage: ...

    async def ensure_image(self, name: str) -> ContainerImage: ...

    async def mount_rootfs(self, container_id: str, image: ContainerImage) -> Path: ...

    async def unmount_rootfs(self, container_id: str) -> None: ...


class ContainerService:
    """The container RPCs and the records behind them."""

    def __init__(
        self,
        settings: RuntimeSettings,
        sandboxes: SandboxService,
        images: ImageSource,
        *,
        host_features: HostFeatures | None = None,
    ) -> None:
        self.settings = settings
        self.sandboxes = sandboxes
        self.images = images
        self.layout = Layout(settings.state_dir, settings.root_dir)
        self.runtimes = Runtimes(settings, self.layout)
        self.host = host_features or host.probe_host()
        self.daemon_oom_score_adj = host.daemon_oom_score_adj()
        self.bundles = BundleWriter(
            settings, self.layout, self.runtimes, sandboxes, self.host, self.daemon_oom_score_adj
        )
        self.names = NameRegistrar()
        self.index = TruncIndex()
        self._configs: dict[str, api_pb2.ContainerConfig] = {}
        self.store: ObjectStore[ContainerMetadata, ContainerStatus] = ObjectStore(
            self.layout.records_dir, ContainerMetadata, ContainerStatus
        )

    def reload_settings(self, settings: RuntimeSettings) -> None:
        """SIGHUP: new containers get `settings` (handlers and paths never change live)."""
        self.settings = settings
        self.runtimes.settings = settings
        self.bundles = dataclasses.replace(self.bundles, settings=settings)

    # Start-up and recovery

    async def load(self) -> None:
        """Load the records, reserve names, and find out what happened while we were away."""
        for broken in self.store.load():
            logger.error("Container %s has an unreadable record; ignoring it", broken)
        for container_id, entry in self.store:
            self.names.reserve(entry.metadata.name, container_id)
            self.index.add(container_id)
            async with entry.lock:
                await self._recover_locked(entry)
        logger.info("Loaded %d containers", len(self.store))

    async def _recover_locked(self, entry: ContainerEntry) -> None:
        if entry.status.state(entry.metadata.created_at) not in _LIVE:
            return
        if self._refresh_locked(entry):
            return
        try:
            state = await self._runtime(entry).state(entry.metadata.id)
        except CrioPyError as exc:
            logger.warning("Container %s vanished while we were down: %s", entry.metadata.id, exc)
            self._finish_locked(entry, exits.EXIT_CODE_UNKNOWN, "container vanished")
            return
        if state.status == "stopped":
            self._finish_locked(entry, exits.EXIT_CODE_UNKNOWN, "exited without an exit file")

    async def watch_exits(self) -> None:
        """Record exits as conmon reports them (run as a task for the daemon's lifetime)."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            try:
                self._collect_exits()
            except Exception:
                logger.exception("Could not record container exits")

    def _collect_exits(self) -> None:
        exited = exits.exited_ids(self.layout.exits_dir)
        for container_id in exited:
            entry = self.store.find(container_id)
            if entry is None or entry.lock.locked():
                continue
            if entry.status.state(entry.metadata.created_at) in _LIVE:
                self._refresh_locked(entry)

    def _refresh_locked(self, entry: ContainerEntry) -> bool:
        """Record the exit conmon wrote, if any; True when the container has exited."""
        if entry.status.state(entry.metadata.created_at) not in _LIVE:
            return entry.status.finished_at != 0
        bundle = self.layout.bundle(entry.metadata.id)
        oom_dirs = (bundle, self.layout.persist_dir(entry.metadata.id))
        exited = exits.exited_status(
            entry.status, self.layout.exits_dir, entry.metadata.id, oom_dirs
        )
        if exited is None:
            return False
        self.store.update_locked(entry.metadata.id, lambda _: exited)
        if entry.metadata.infra:
            self.sandboxes.infra_exited(entry.metadata.sandbox_id)
        logger.info(
            "Container %s exited with %d (%s)", entry.metadata.id, exited.exit_code, exited.reason
        )
        return True

    def _finish_locked(self, entry: ContainerEntry, code: int, message: str) -> None:
        self.store.update_locked(
            entry.metadata.id, lambda s: exits.finished(s, code, message=message)
        )

    # CreateContainer

    async def create_container(
        self, request: api_pb2.CreateContainerRequest
    ) -> api_pb2.CreateContainerResponse:
        """Reserve the name, mount the rootfs, write the bundle and records, run conmon."""
        config = request.config
        _validate(config)
        sandbox = self.sandboxes.get(request.pod_sandbox_id)
        if not sandbox.status.ready:
            raise FailedPreconditionError(f"sandbox {sandbox.metadata.id} is not ready")
        sandbox_config = self._sandbox_config(sandbox)
        image = self.images.container_image(config.image.image)
        await asyncio.to_thread(host.ensure_mount_sources, config.mounts)
        container_id = new_id()
        pid_namespace = self._pid_namespace(sandbox, config)
        metadata = ContainerMetadata(
            id=container_id,
            name=_container_name(config.metadata, sandbox_config.metadata),
            sandbox_id=sandbox.metadata.id,
            config=query.config_to_json(config),
            image_ref=config.image.image,
            image_id=image.record.id,
            image_digest_ref=next(iter(image.record.repo_digests), ""),
            runtime_handler=sandbox.metadata.runtime_handler,
            log_path=str(self._log_path(container_id, sandbox_config, config)),
            stop_signal=stop_signal(image.config, config),
            created_at=time.time_ns(),
        )

        def write(rootfs: Path) -> None:
            self.bundles.container(container_id, config, sandbox, image, rootfs, pid_namespace)

        await self._create(metadata, image, write)
        return api_pb2.CreateContainerResponse(container_id=container_id)

    async def run_infra(self, sandbox: SandboxEntry) -> None:
        """Create and start the sandbox's infra (pause) container; its id is the sandbox's."""
        image = await self.images.ensure_image(self.settings.sandbox_image)
        container_id = sandbox.metadata.infra_container_id
        metadata = ContainerMetadata(
            id=container_id,
            name=f"{sandbox.metadata.name}_infra",
            sandbox_id=sandbox.metadata.id,
            config={},
            image_ref=self.settings.sandbox_image,
            image_id=image.record.id,
            runtime_handler=sandbox.metadata.runtime_handler,
            log_path=str(self.layout.default_log_path(container_id)),
            stop_signal=stop_signal(image.config, api_pb2.ContainerConfig()),
            infra=True,
            created_at=time.time_ns(),
        )

        def write(rootfs: Path) -> None:
            self.bundles.infra(container_id, sandbox, image, rootfs)

        entry = await self._create(metadata, image, write)
        async with entry.lock:
            await self._start_locked(entry)

    async def _create(
        self,
        metadata: ContainerMetadata,
        image: ContainerImage,
        write_bundle: Callable[[Path], None],
    ) -> ContainerEntry:
        """The steps every container takes, each undone if a later one fails."""
        container_id, name = metadata.id, metadata.name
        async with contextlib.AsyncExitStack() as undo:
            self.names.reserve(name, container_id)
            undo.callback(self.names.release, name)
            rootfs = await self.images.mount_rootfs(container_id, image)
            undo.push_async_callback(
                _best_effort, "unmount the rootfs", lambda: self.images.unmount_rootfs(container_id)
            )
            undo.callback(shutil.rmtree, self.layout.bundle(container_id), ignore_errors=True)
            await asyncio.to_thread(write_bundle, rootfs)
            entry = self.store.create(container_id, metadata, ContainerStatus())
            undo.callback(self.store.delete, container_id)
            undo.push_async_callback(
                _best_effort,
                "delete the runtime's container",
                lambda: self._runtime(entry).delete(container_id, force=True),
            )
            pid = await conmon.create_container(self._conmon(entry))
            self.store.update_locked(container_id, lambda s: s.model_copy(update={"pid": pid}))
            self.index.add(container_id)
            undo.pop_all()
        logger.info("Created container %s (%s) with pid %d", container_id, name, pid)
        return entry

    def _pid_namespace(self, sandbox: SandboxEntry, config: api_pb2.ContainerConfig) -> str:
        """The PID namespace to join: the infra container's (POD) or a target's (TARGET)."""
        options = config.linux.security_context.namespace_options
        if options.pid == api_pb2.POD:
            target_id = sandbox.metadata.infra_container_id
            if not target_id:
                raise FailedPreconditionError(
                    f"sandbox {sandbox.metadata.id} has no infra container to share its PID "
                    "namespace; ask for it at RunPodSandbox"
                )
        elif options.pid == api_pb2.TARGET:
            target_id = options.target_id
        else:
            return ""
        target = self.store.find(self.index.get(target_id))
        if (
            target is None
            or target.status.pid <= 0
            or target.metadata.sandbox_id != sandbox.metadata.id
        ):
            raise FailedPreconditionError(
                f"container {target_id!r} is not running in sandbox {sandbox.metadata.id}"
            )
        return f"/proc/{target.status.pid}/ns/pid"

    @staticmethod
    def _sandbox_config(sandbox: SandboxEntry) -> api_pb2.PodSandboxConfig:
        return sandbox_config_from_json(sandbox.metadata.config)

    def _log_path(
        self,
        container_id: str,
        sandbox_config: api_pb2.PodSandboxConfig,
        config: api_pb2.ContainerConfig,
    ) -> Path:
        if not sandbox_config.log_directory or not config.log_path:
            return self.layout.default_log_path(container_id)
        path = Path(sandbox_config.log_directory) / config.log_path
        if not path.is_absolute() or ".." in path.parts:
            raise InvalidArgumentError(f"log path {str(path)!r} must be absolute, without '..'")
        return path

    # StartContainer / StopContainer / RemoveContainer

    async def start_container(
        self, request: api_pb2.StartContainerRequest
    ) -> api_pb2.StartContainerResponse:
        """`<runtime> start`; a container whose start fails is EXITED with StartError."""
        entry = self._get(request.container_id)
        async with entry.lock:
            await self._start_locked(entry)
        return api_pb2.StartContainerResponse()

    async def _start_locked(self, entry: ContainerEntry) -> None:
        state = entry.status.state(entry.metadata.created_at)
        if state != ContainerState.CREATED:
            raise FailedPreconditionError(
                f"container {entry.metadata.id} is {state.name.lower()}, not created"
            )
        try:
            await self._runtime(entry).start(entry.metadata.id)
        except CrioPyError as exc:
            message = str(exc)
            self.store.update_locked(entry.metadata.id, lambda s: _start_failed(s, message))
            raise
        self.store.update_locked(
            entry.metadata.id, lambda s: s.model_copy(update={"started_at": time.time_ns()})
        )
        self._refresh_locked(entry)  # a command that exits at once
        logger.info("Started container %s", entry.metadata.id)

    async def stop_container(
        self, request: api_pb2.StopContainerRequest
    ) -> api_pb2.StopContainerResponse:
        """The stop signal, then SIGKILL once `timeout` seconds have passed."""
        entry = self._get(request.container_id)
        async with entry.lock:
            await self._stop_locked(entry, request.timeout)
        return api_pb2.StopContainerResponse()

    async def _stop_locked(self, entry: ContainerEntry, timeout_s: float) -> None:
        if self._refresh_locked(entry):
            return
        state = entry.status.state(entry.metadata.created_at)
        runtime, container_id = self._runtime(entry), entry.metadata.id
        if state == ContainerState.CREATED:
            # Never started: there is nothing to signal gracefully.
            await runtime.kill(container_id, signal.SIGKILL)
            await self._wait_exit_locked(entry, KILL_WAIT_S)
            return
        if timeout_s > 0:
            await runtime.kill(container_id, entry.metadata.stop_signal)
            if await self._wait_exit_locked(entry, timeout_s, required=False):
                logger.info("Stopped container %s", container_id)
                return
        await runtime.kill(container_id, signal.SIGKILL)
        await self._wait_exit_locked(entry, KILL_WAIT_S)
        logger.info("Killed container %s", container_id)

    async def _wait_exit_locked(
        self, entry: ContainerEntry, timeout_s: float, *, required: bool = True
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self._refresh_locked(entry):
            if time.monotonic() >= deadline:
                if required:
                    raise DeadlineExceededError(
                        f"container {entry.metadata.id} did not exit within {timeout_s:.0f} s"
                    )
                return False
            await asyncio.sleep(0.02)
        return True

    async def remove_container(
        self, request: api_pb2.RemoveContainerRequest
    ) -> api_pb2.RemoveContainerResponse:
        """Kill if running, then delete the runtime state, rootfs, bundle and records. CRI:
        idempotent, OK for an unknown id."""
        entry = self._find(request.container_id)
        if entry is not None:
            async with entry.lock:
                await self._remove_locked(entry)
        return api_pb2.RemoveContainerResponse()

    async def _remove_locked(self, entry: ContainerEntry) -> None:
        container_id = entry.metadata.id
        if self.store.find(container_id) is None:
            return  # removed while we waited for the lock
        if entry.status.state(entry.metadata.created_at) in _LIVE and not entry.status.unknown:
            await self._stop_locked(entry, 0)
        self.store.update_locked(container_id, lambda s: s.model_copy(update={"removing": True}))
        await self._runtime(entry).delete(container_id, force=True)
        await self.images.unmount_rootfs(container_id)
        bundle = self.layout.bundle(container_id)
        await asyncio.to_thread(shutil.rmtree, bundle, ignore_errors=True)
        conmon.exit_file_path(self.layout.exits_dir, container_id).unlink(missing_ok=True)
        await asyncio.to_thread(self.store.delete, container_id)
        self._configs.pop(container_id, None)
        self.index.delete(container_id)
        self.names.release_id(container_id)
        logger.info("Removed container %s", container_id)

    # For the sandbox service

    async def stop_all(self, sandbox_id: str) -> None:
        """Kill every container of the sandbox (StopPodSandbox)."""
        for entry in self._in_sandbox(sandbox_id):
            async with entry.lock:
                if self.store.find(entry.metadata.id) is not None:
                    await self._stop_locked(entry, 0)

    async def remove_all(self, sandbox_id: str) -> None:
        """Remove every container of the sandbox (RemovePodSandbox)."""
        for entry in self._in_sandbox(sandbox_id):
            async with entry.lock:
                await self._remove_locked(entry)

    def _in_sandbox(self, sandbox_id: str) -> list[ContainerEntry]:
        """The sandbox's containers, its infra container last."""
        found = [e for _, e in self.store if e.metadata.sandbox_id == sandbox_id]
        return sorted(found, key=lambda e: e.metadata.infra)

    def images_in_use(self) -> set[str]:
        """The image ids some container was created from (RemoveImage refuses those)."""
        return {entry.metadata.image_id for _, entry in self.store}

    # ContainerStatus / ListContainers

    async def container_status(
        self, request: api_pb2.ContainerStatusRequest
    ) -> api_pb2.ContainerStatusResponse:
        entry = self._get(request.container_id)
        if not entry.lock.locked():
            self._refresh_locked(entry)
        response = api_pb2.ContainerStatusResponse(
            status=query.container_status(entry.metadata, entry.status, self._config(entry))
        )
        if request.verbose:
            response.info["info"] = json.dumps(self._verbose_info(entry))
        return response

    def _verbose_info(self, entry: ContainerEntry) -> dict[str, object]:
        bundle = self.layout.bundle(entry.metadata.id)
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

    async def list_containers(
        self, request: api_pb2.ListContainersRequest
    ) -> api_pb2.ListContainersResponse:
        container_filter = request.filter if request.HasField("filter") else None
        self._collect_exits()
        entries = [entry for _, entry in self.store if not entry.metadata.infra]
        if container_filter is not None and container_filter.id:
            found = self._find(container_filter.id)
            entries = [found] if found is not None else []
        if container_filter is not None and container_filter.pod_sandbox_id:
            sandbox = self.sandboxes.find(container_filter.pod_sandbox_id)
            if sandbox is None:
                return api_pb2.ListContainersResponse()
            container_filter.pod_sandbox_id = sandbox.metadata.id
        items = [query.container(e.metadata, e.status, self._config(e)) for e in entries]
        items = [item for item in items if query.matches(item, container_filter)]
        items.sort(key=lambda item: item.created_at)
        return api_pb2.ListContainersResponse(containers=items)

    # ExecSync / ReopenContainerLog / UpdateContainerResources

    async def exec_sync(self, request: api_pb2.ExecSyncRequest) -> api_pb2.ExecSyncResponse:
        entry = self._running(request.container_id)
        result = await conmon_exec.exec_sync(
            self._conmon(entry),
            list(request.cmd),
            timeout_s=request.timeout,
            scratch_dir=self.layout.state_dir,
        )
        return api_pb2.ExecSyncResponse(
            stdout=result.stdout, stderr=result.stderr, exit_code=result.exit_code
        )

    async def reopen_container_log(
        self, request: api_pb2.ReopenContainerLogRequest
    ) -> api_pb2.ReopenContainerLogResponse:
        """Ask conmon to reopen the log file (after the kubelet rotated it)."""
        entry = self._running(request.container_id)
        ctl = self.layout.bundle(entry.metadata.id) / "ctl"
        log_path = Path(entry.metadata.log_path)
        try:
            descriptor = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise FailedPreconditionError(f"conmon of {entry.metadata.id} is gone: {exc}") from exc
        try:
            os.write(descriptor, b"2 0 0\n")  # conmon's ctl message: 2 = reopen the log
        finally:
            os.close(descriptor)
        deadline = time.monotonic() + 5
        while not log_path.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if not log_path.exists():
            raise DeadlineExceededError(f"conmon did not reopen {log_path}")
        return api_pb2.ReopenContainerLogResponse()

    async def update_container_resources(
        self, request: api_pb2.UpdateContainerResourcesRequest
    ) -> api_pb2.UpdateContainerResourcesResponse:
        entry = self._running(request.container_id)
        resources = resources_section(request.linux, host=self.host)
        bundle = self.layout.bundle(entry.metadata.id)
        path = bundle / "resources.json"
        await asyncio.to_thread(atomic_write_text, path, json.dumps(resources))
        await self._runtime(entry).update(entry.metadata.id, path)
        return api_pb2.UpdateContainerResourcesResponse()

    # Lookups

    def _running(self, container_id: str) -> ContainerEntry:
        entry = self._get(container_id)
        if not entry.lock.locked():
            self._refresh_locked(entry)
        state = entry.status.state(entry.metadata.created_at)
        if state != ContainerState.RUNNING:
            raise FailedPreconditionError(
                f"container {entry.metadata.id} is {state.name.lower()}, not running"
            )
        return entry

    def _get(self, container_id: str) -> ContainerEntry:
        entry = self._find(container_id)
        if entry is None:
            raise NotFoundError(f"container {container_id!r} not found")
        return entry

    def _find(self, container_id: str) -> ContainerEntry | None:
        """The CRI container a full or unique short id names (never an infra container)."""
        if not container_id:
            return None
        try:
            entry = self.store.find(self.index.get(container_id))
        except (NotFoundError, InvalidArgumentError):
            return None
        return None if entry is None or entry.metadata.infra else entry

    def _runtime(self, entry: ContainerEntry) -> OciRuntime:
        return self.runtimes.runtime(entry.metadata.runtime_handler)

    def _config(self, entry: ContainerEntry) -> api_pb2.ContainerConfig:
        """The container's CRI config, parsed once (the metadata never changes)."""
        config = self._configs.get(entry.metadata.id)
        if config is None:
            config = self._configs[entry.metadata.id] = query.config_from_json(
                entry.metadata.config
            )
        return config

    def _conmon(self, entry: ContainerEntry) -> conmon.ConmonOptions:
        config = self._config(entry)
        return self.runtimes.conmon_options(
            entry.metadata, tty=config.tty, stdin=config.stdin, stdin_once=config.stdin_once
        )


def _validate(config: api_pb2.ContainerConfig) -> None:
    if not config.metadata.name:
        raise InvalidArgumentError("container metadata lacks a name")
    if not config.image.image:
        raise InvalidArgumentError("container config names no image")


def _container_name(
    container: api_pb2.ContainerMetadata, sandbox: api_pb2.PodSandboxMetadata
) -> str:
    """containerd's makeContainerName: name_pod_namespace_uid_attempt."""
    parts = (container.name, sandbox.name, sandbox.namespace, sandbox.uid, str(container.attempt))
    return "_".join(parts)


def _start_failed(status: ContainerStatus, message: str) -> ContainerStatus:
    return status.model_copy(
        update={
            "finished_at": time.time_ns(),
            "exit_code": START_ERROR_EXIT_CODE,
            "reason": "StartError",
            "message": message,
            "pid": 0,
        }
    )


def _best_effort(what: str, undo: Callable[[], Awaitable[None]]) -> Awaitable[None]:
    return best_effort("CreateContainer", what, undo)
