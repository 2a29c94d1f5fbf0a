"""Fakes for the container service's seams: an OCI runtime and conmon that only keep state in
memory and write exit files as conmon would, an image service that mounts nothing, a clock
that only moves when told, and `ContainerWorld`, a `ContainerContext` over all of them and a
ready sandbox. None of it needs root.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.backends.conmon import ConmonOptions
from crio_py.backends.conmon_exec import ExecSyncResult
from crio_py.backends.mountapi import Idmap
from crio_py.backends.oci import ContainerState, OciStatus
from crio_py.config.load import load_settings
from crio_py.config.model import RuntimeHandler, RuntimeSettings
from crio_py.cri.container import ContainerContext, ContainerOps, create, lifecycle, status
from crio_py.cri.container.layout import Layout
from crio_py.cri.image import ContainerImage
from crio_py.cri.sandbox import SandboxRecords
from crio_py.cri.sandbox.query import config_to_json
from crio_py.errors import CrioPyError, NotFoundError, UnavailableError
from crio_py.fsutil import atomic_write_text
from crio_py.ocispec import HostFeatures
from crio_py.store.objects import METADATA, STATUS, ObjectStore
from crio_py.store.records import (
    ContainerMetadata,
    ContainerStatus,
    Descriptor,
    ImageRecord,
    SandboxMetadata,
    SandboxStatus,
)

IMAGE_ID = "sha256:" + "b" * 64
IMAGE_REF = "docker.io/library/busybox:latest"
SANDBOX_ID = "5" * 64
PID = 4242


class FakeClock:
    """Nanoseconds that only move by `advance`."""

    def __init__(self, now: int = 1_700_000_000_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


@dataclass
class FakeRuntime:
    """An OCI runtime whose containers are entries of `states`; a kill whose signal ends the
    container writes conmon's exit file (128 + signal)."""

    exits_dir: Path
    states: dict[str, OciStatus] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    ignored: set[int] = field(default_factory=set)
    """Signals the container's process ignores (a kill with one of them changes nothing)."""
    fail: dict[str, CrioPyError] = field(default_factory=dict)
    systemd_cgroup: bool = False

    def _call(self, name: str, container_id: str, number: int = 0) -> None:
        self.calls.append((name, container_id, number))
        if name in self.fail:
            raise self.fail[name]

    def names(self) -> list[str]:
        """The calls' names, in order."""
        return [name for name, _, _ in self.calls]

    def exit(self, container_id: str, code: int) -> None:
        """The process exits by itself: conmon writes the exit file."""
        self.states[container_id] = "stopped"
        self.exits_dir.mkdir(parents=True, exist_ok=True)
        (self.exits_dir / container_id).write_text(str(code))

    async def start(self, container_id: str) -> None:
        self._call("start", container_id)
        self.states[container_id] = "running"

    async def state(self, container_id: str) -> ContainerState:
        self._call("state", container_id)
        status = self.states.get(container_id)
        if status is None:
            raise NotFoundError(f"container {container_id} does not exist")
        pid = PID if status == "running" else 0
        return ContainerState(id=container_id, status=status, pid=pid, bundle=Path("/"))

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        self._call("kill", container_id, int(signal))
        if signal not in self.ignored and self.states.get(container_id) in ("created", "running"):
            self.exit(container_id, 128 + int(signal))

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        self._call("delete", container_id)
        self.states.pop(container_id, None)

    async def update(self, container_id: str, resources_json_path: Path) -> None:
        self._call("update", container_id)

    def monitor_args(self) -> list[str]:
        return []


@dataclass
class FakeConmon:
    """conmon's create: the runtime's container exists from now on (state "created")."""

    runtime: FakeRuntime
    created: list[ConmonOptions] = field(default_factory=list)
    fail: CrioPyError | None = None

    async def create(self, options: ConmonOptions) -> int:
        self.created.append(options)
        if self.fail is not None:
            raise self.fail
        self.runtime.states[options.container_id] = "created"
        return PID


@dataclass
class FakeExec:
    """conmon's exec mode: answers `result` and records each (container id, argv, timeout)."""

    result: ExecSyncResult = field(default_factory=lambda: ExecSyncResult(0, b"out\n", b""))
    calls: list[tuple[str, list[str], float]] = field(default_factory=list)

    async def exec_sync(
        self, options: ConmonOptions, command: list[str], timeout_s: float, scratch_dir: Path
    ) -> ExecSyncResult:
        self.calls.append((options.container_id, command, timeout_s))
        return self.result


class FakeImages:
    """The image service's part for containers: one image; rootfs directories under `root`.
    `fail[method]` makes that method raise."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounted: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, CrioPyError] = {}
        blob = Descriptor(media_type="application/json", digest=IMAGE_ID, size=1)
        self.image = ContainerImage(
            record=ImageRecord(
                id=IMAGE_ID,
                repo_tags=(IMAGE_REF,),
                manifest=blob,
                config=blob,
                layers=(),
                diff_ids=(),
                chain_ids=(),
                size=1,
            ),
            config={"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}},
            lowers=[],
        )

    def _call(self, name: str, container_id: str = "") -> None:
        self.calls.append((name, container_id))
        if name in self.fail:
            raise self.fail[name]

    def container_image(self, name: str) -> ContainerImage:
        if name not in (IMAGE_REF, "busybox", IMAGE_ID):
            raise NotFoundError(f"image {name!r} not found")
        return self.image

    async def ensure_image(self, name: str) -> ContainerImage:
        return self.image

    async def mount_rootfs(
        self, container_id: str, image: ContainerImage, idmap: Idmap | None = None
    ) -> Path:
        self._call("mount_rootfs", container_id)
        path = self.root / container_id
        path.mkdir(parents=True, exist_ok=True)
        self.mounted.add(container_id)
        return path

    async def stage_mount(
        self,
        container_id: str,
        name: str,
        source: Path,
        *,
        read_only: bool = False,
        idmap: Idmap | None = None,
    ) -> Path:
        self._call("stage_mount", container_id)
        return source

    async def mount_image_volume(
        self, container_id: str, name: str, image: ContainerImage, idmap: Idmap | None = None
    ) -> Path:
        raise UnavailableError("no image volumes here")

    async def release_volumes(self, container_id: str) -> None:
        self._call("release_volumes", container_id)

    async def unmount_rootfs(self, container_id: str) -> None:
        self._call("unmount_rootfs", container_id)
        self.mounted.discard(container_id)

    def rootfs_ids(self) -> set[str]:
        return set(self.mounted)

    def writable_usage(self, container_id: str) -> tuple[int, int]:
        return (0, 0)


def settings_in(tmp_path: Path) -> RuntimeSettings:
    """The embedded defaults with the node's directories under `tmp_path`."""
    settings, _ = load_settings(None)
    return settings.model_copy(
        update={"root_dir": tmp_path / "root", "state_dir": tmp_path / "state"}
    )


def sandbox_config(name: str = "web") -> api_pb2.PodSandboxConfig:
    options = api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, namespace="ns", uid="uid-1"),
        linux=api_pb2.LinuxPodSandboxConfig(
            security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=options)
        ),
    )


def container_config(name: str = "app") -> api_pb2.ContainerConfig:
    return api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name=name),
        image=api_pb2.ImageSpec(image=IMAGE_REF),
        command=["sleep", "60"],
        linux=api_pb2.LinuxContainerConfig(
            security_context=api_pb2.LinuxContainerSecurityContext(
                namespace_options=api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
            )
        ),
    )


class ContainerWorld:
    """A `ContainerContext` on fakes, with one ready sandbox (`SANDBOX_ID`)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.settings = settings_in(tmp_path)
        self.layout = Layout(self.settings.state_dir, self.settings.root_dir)
        self.records = SandboxRecords(self.settings)
        self.images = FakeImages(tmp_path / "rootfs")
        self.runtime = FakeRuntime(self.layout.exits_dir)
        self.conmon = FakeConmon(self.runtime)
        self.execs = FakeExec()
        self.clock = FakeClock()
        self.ctx = self.restarted()
        self.add_sandbox(SANDBOX_ID)

    def runtime_for(self, handler: RuntimeHandler, state_dir: Path) -> FakeRuntime:
        return self.runtime

    def restarted(self) -> ContainerContext:
        """A context over the same directories and fakes, its records not loaded yet."""
        return ContainerContext(
            self.settings,
            self.records,
            self.images,
            host_features=HostFeatures(),
            layout=self.layout,
            store=ObjectStore(self.layout.records_dir, ContainerMetadata, ContainerStatus),
            ops=ContainerOps(
                runtime_for=self.runtime_for,
                create=self.conmon.create,
                exec_sync=self.execs.exec_sync,
                clock=self.clock,
            ),
        )

    def add_sandbox(self, sandbox_id: str, *, ready: bool = True) -> None:
        metadata = SandboxMetadata(
            id=sandbox_id,
            name=f"web_ns_uid-1_0_{sandbox_id[:4]}",
            config=config_to_json(sandbox_config()),
            runtime_handler=self.settings.default_runtime,
            created_at=self.clock(),
        )
        # On disk as the daemon writes it, then loaded (the store's own create is async).
        directory = self.records.store.dir / sandbox_id
        atomic_write_text(directory / METADATA, metadata.model_dump_json())
        atomic_write_text(directory / STATUS, SandboxStatus(ready=ready).model_dump_json())
        self.records.store.load()
        self.records.index.add(sandbox_id)

    async def create(self, name: str = "app") -> str:
        """CreateContainer in the sandbox; the new id."""
        request = api_pb2.CreateContainerRequest(
            pod_sandbox_id=SANDBOX_ID, config=container_config(name)
        )
        return (await create.create_container(self.ctx, request)).container_id

    async def start(self, container_id: str) -> None:
        request = api_pb2.StartContainerRequest(container_id=container_id)
        await lifecycle.start_container(self.ctx, request)

    async def run(self, name: str = "app") -> str:
        """Create and start; the id."""
        container_id = await self.create(name)
        await self.start(container_id)
        return container_id

    async def status(self, container_id: str) -> api_pb2.ContainerStatus:
        request = api_pb2.ContainerStatusRequest(container_id=container_id)
        return (await status.container_status(self.ctx, request)).status

    def leftovers(self) -> Iterator[str]:
        """What a removed (or never created) container could have left behind."""
        for directory in (self.layout.records_dir, self.layout.bundles_dir, self.layout.exits_dir):
            if directory.is_dir():
                yield from (f"{directory.name}/{p.name}" for p in directory.iterdir())
        yield from (f"rootfs {i}" for i in self.images.mounted)
        yield from (f"runtime {i}" for i in self.runtime.states)


def signal_number(name: str) -> int:
    return int(signal.Signals[name])
