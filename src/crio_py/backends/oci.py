"""The OCI runtime seam: what the runtime service asks of a low-level runtime, and which
implementation serves a runtime handler.

`OciRuntime` is the Protocol the `cri/` handlers and `tests/fakes/` code against;
`runtime_for` picks the implementation for a handler. Only "oci" handlers (conmon plus a
runc-compatible CLI) can be driven; "vm" (shim v2, e.g. kata) and "pod" (conmon-rs) handlers
are refused with UnimplementedError. This module runs no command and parses no output: that
is the implementation's job (runc.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from crio_py.config.model import RuntimeHandler
from crio_py.errors import UnimplementedError

OciStatus = Literal["created", "running", "stopped", "paused"]


@dataclass(frozen=True)
class ContainerState:
    """What `<runtime> state <id>` reports (OCI runtime spec, "State").

    `pid` is 0 once the container has stopped. `created` is None when the runtime does not
    report it (runsc does not).
    """

    id: str
    status: OciStatus
    pid: int
    bundle: Path
    created: datetime | None = None


class OciRuntime(Protocol):
    """The operations of an OCI runtime CLI that the runtime service needs.

    Errors are domain errors: NotFoundError (no such container), AlreadyExistsError,
    FailedPreconditionError (the container is in the wrong state), and CommandError for
    anything the implementation could not classify.
    """

    async def create(
        self,
        container_id: str,
        bundle: Path,
        *,
        pid_file: Path,
        console_socket: Path | None = None,
    ) -> None:
        """Create a container from a bundle (normally conmon runs create; kept for completeness)."""
        ...

    async def start(self, container_id: str) -> None:
        """Start the user process of a created container."""
        ...

    async def state(self, container_id: str) -> ContainerState:
        """The container's state as the runtime sees it."""
        ...

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        """Send a signal to the init process (or every process); a stopped container is fine."""
        ...

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        """Delete the container's runtime state; a container that is already gone is fine."""
        ...

    def exec_argv(
        self,
        container_id: str,
        process_json_path: Path,
        *,
        pid_file: Path,
        tty: bool,
        detach: bool,
    ) -> list[str]:
        """The argv of `<runtime> exec --process process.json` for conmon or the caller to run."""
        ...

    async def update(self, container_id: str, resources_json_path: Path) -> None:
        """Apply the OCI `LinuxResources` in a JSON file to a running container."""
        ...

    async def pause(self, container_id: str) -> None:
        """Freeze every process of the container."""
        ...

    async def resume(self, container_id: str) -> None:
        """Thaw a paused container."""
        ...

    async def ps(self, container_id: str) -> list[int]:
        """The pids of the container's processes."""
        ...

    def base_argv(self) -> list[str]:
        """The binary and its global flags, as the runtime is run here."""
        ...

    def monitor_args(self) -> list[str]:
        """The global flags conmon passes on (`--runtime-arg`), the cgroup driver's left to
        conmon's own `-s`."""
        ...


def runtime_for(handler: RuntimeHandler, *, state_dir: Path) -> OciRuntime:
    """The OciRuntime that drives `handler`.

    `state_dir` is the daemon's volatile state directory (the default `--root` lives under
    it); the handler's `cgroup_driver` and `flavour` say how its binary is run.
    """
    if handler.kind == "oci":
        # Imported here because runc.py imports ContainerState from this module.
        from crio_py.backends.runc import RuncRuntime

        return RuncRuntime(handler, state_dir=state_dir)
    runtime_type = handler.runtime_type or handler.kind
    if handler.kind == "vm":
        raise UnimplementedError(
            f"runtime handler {handler.name} ({runtime_type}) is a shim v2 runtime, "
            "which crio-py cannot drive"
        )
    raise UnimplementedError(
        f"runtime handler {handler.name} ({runtime_type}) is a pod runtime run by conmon-rs, "
        "which crio-py cannot drive"
    )
