"""Where a container's files are, and the conmon options and OCI runtime of its handler.

Volatile files (bundle with config.json, pid files, conmon's ctl fifo; exit files; attach
sockets) live under the state dir, as CRI-O keeps them under its run root; records and
conmon's persist dir (a second copy of the exit code) under the root dir.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from crio_py.backends.conmon import DEFAULT_ENV, ConmonOptions
from crio_py.backends.oci import OciRuntime, runtime_for
from crio_py.config.model import RuntimeHandler, RuntimeSettings
from crio_py.errors import FailedPreconditionError, quote
from crio_py.store.records import ContainerMetadata


@dataclass(frozen=True)
class Layout:
    """The directories of every container of one daemon."""

    state_dir: Path
    root_dir: Path

    @property
    def records_dir(self) -> Path:
        return self.root_dir / "container-records"

    @property
    def exits_dir(self) -> Path:
        return self.state_dir / "exits"

    @property
    def socket_dir(self) -> Path:
        return self.state_dir / "attach"

    @property
    def bundles_dir(self) -> Path:
        return self.state_dir / "containers"

    def bundle(self, container_id: str) -> Path:
        return self.bundles_dir / container_id

    def attach_link(self, container_id: str) -> Path:
        """conmon's link to the container's attach socket dir."""
        return self.socket_dir / container_id

    def persist_dir(self, container_id: str) -> Path:
        return self.records_dir / container_id / "persist"

    def default_log_path(self, container_id: str) -> Path:
        return self.bundle(container_id) / "container.log"


class Runtimes:
    """The OCI runtime of each handler (made once) and the conmon options of a container."""

    def __init__(self, settings: RuntimeSettings, layout: Layout) -> None:
        self.settings = settings
        self.layout = layout
        self._runtimes: dict[str, OciRuntime] = {}
        self._binaries: dict[str, Path] = {}

    def handler(self, name: str) -> RuntimeHandler:
        handler = self.settings.runtimes.get(name)
        if handler is None:
            raise FailedPreconditionError(f"runtime handler {quote(name)} is no longer configured")
        return handler

    def runtime(self, name: str) -> OciRuntime:
        runtime = self._runtimes.get(name)
        if runtime is None:
            handler = self.handler(name)
            runtime = runtime_for(handler, state_dir=self.settings.state_dir)
            self._runtimes[name] = runtime
        return runtime

    def conmon_options(
        self, metadata: ContainerMetadata, *, tty: bool, stdin: bool, stdin_once: bool
    ) -> ConmonOptions:
        """How conmon creates, monitors and execs into this container."""
        handler = self.handler(metadata.runtime_handler)
        runtime = self.runtime(metadata.runtime_handler)
        bundle = self.layout.bundle(metadata.id)
        return ConmonOptions(
            conmon_path=self._binary(handler.monitor_path or "conmon", "conmon"),
            container_id=metadata.id,
            bundle_dir=bundle,
            runtime_path=self._binary(handler.binary, f"the runtime of handler {handler.name}"),
            log_path=Path(metadata.log_path),
            exits_dir=self.layout.exits_dir,
            persist_dir=self.layout.persist_dir(metadata.id),
            socket_dir=self.layout.socket_dir,
            container_pid_file=bundle / "pidfile",
            conmon_pid_file=bundle / "conmon.pid",
            container_name=metadata.name,
            runtime_args=tuple(runtime.monitor_args()),
            log_size_max=self.settings.log_size_max,
            systemd_cgroup=handler.cgroup_driver == "systemd",
            tty=tty,
            stdin=stdin,
            stdin_once=stdin_once,
            no_pivot=handler.no_pivot,
            env=handler.monitor_env or DEFAULT_ENV,
        )

    def _binary(self, name: str, what: str) -> Path:
        """`name` looked up in PATH once (conmon options are made for every ExecSync)."""
        found = self._binaries.get(name)
        if found is None:
            where = shutil.which(name)
            if where is None:
                raise FailedPreconditionError(f"{what} ({name}) is not installed")
            found = self._binaries[name] = Path(where).absolute()
        return found
