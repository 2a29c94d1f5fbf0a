"""RuncRuntime: the OciRuntime for runc-compatible CLIs (runc, crun, runsc,
nvidia-container-runtime, or any binary with runc's command line).

It owns the global flags of each handler (`--root`, `--systemd-cgroup`, `--log … --log-format
json`, then the handler's extra flags such as runsc's `--platform=ptrace`), the argv of every
subcommand, the parsing of `state` and `ps` output, and the translation of the tool's failures
into domain errors. It starts children only through `_exec` (`run`, and `spawn` for create,
whose child keeps the runtime's stdio) and never decides a gRPC code.

Error translation (the stderr texts of runc 1.1, crun 1.8 and runsc 2022, matched
case-insensitively; for create, the error records of the `--log` file):

    "already exists"                              -> AlreadyExistsError
    "does not exist", "not found",
    crun's "<root>/<id>…: No such file or directory" -> NotFoundError (not for create, where it
                                                     names a bundle file)
    "not running", "not stopped", "not paused",
    "is not in ", " in state ", "cannot start",
    "process already finished"                    -> FailedPreconditionError
    anything else, or a runtime that never ran    -> the CommandError, unchanged
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crio_py.backends import _exec
from crio_py.backends.oci import ContainerState, OciStatus
from crio_py.config.model import RuntimeHandler
from crio_py.errors import (
    AlreadyExistsError,
    CommandError,
    CrioPyError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnimplementedError,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0

_ALREADY_EXISTS = ("already exists",)
_NOT_FOUND = ("does not exist", "not found")
_WRONG_STATE = (
    "not running",
    "not stopped",
    "not paused",
    "is not in ",
    " in state ",
    "cannot start",
    "process already finished",
)
# What a kill of a container whose processes have all exited says (containerd's runc shim
# treats the same texts as "process already finished", pkg/process/utils.go checkKillError).
_ALREADY_FINISHED = ("not running", "process already finished", "no such process")
# OCI runtime spec statuses plus runc's transitional ones, folded onto the four we report.
_NANOSECONDS = re.compile(r"(\.\d{6})\d+")
_STATUSES: dict[str, OciStatus] = {
    "creating": "created",
    "created": "created",
    "running": "running",
    "pausing": "paused",
    "paused": "paused",
    "stopped": "stopped",
}


@dataclass(frozen=True)
class _Flavour:
    """Where a runc-compatible CLI differs from runc's command line."""

    name: str
    exec_tty_flag: bool = True  # runsc exec has no --tty; process.json's terminal decides
    no_pivot_flag: bool = True  # runsc create has no --no-pivot
    can_update: bool = True  # runsc has no update subcommand
    # Whether binds of mounts the daemon prepared (read-only or idmapped copies) and a joined
    # user namespace work; gVisor's gofer serves its own view of host files.
    host_prepared_mounts: bool = True


_RUNC = _Flavour("runc")
_RUNSC = _Flavour(
    "runsc",
    exec_tty_flag=False,
    no_pivot_flag=False,
    can_update=False,
    host_prepared_mounts=False,
)


def takes_prepared_mounts(handler: RuntimeHandler) -> bool:
    """Whether the handler's runtime runs containers with host-prepared read-only or idmapped
    mounts and a pinned user namespace (runc, crun and their wrappers; not runsc)."""
    return _flavour(handler).host_prepared_mounts


def _flavour(handler: RuntimeHandler) -> _Flavour:
    # runc, crun, nvidia-container-runtime (a runc wrapper) and others share runc's flags.
    return _RUNSC if handler.flavour == "runsc" else _RUNC


def _contains(text: str, needles: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in needles)


class RuncRuntime:
    """Drives one runtime handler's runc-compatible binary."""

    def __init__(
        self,
        handler: RuntimeHandler,
        *,
        state_dir: Path,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.handler = handler
        self.root = handler.root or state_dir / "runtimes" / handler.name
        self.log_path = state_dir / "runtime-logs" / f"{handler.name}.json"
        self.timeout_s = timeout_s
        self._flavour = _flavour(handler)
        # The runtimes create their --root themselves, but not the directory of --log.
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def base_argv(self) -> list[str]:
        """The binary and its global flags, as the runtime is run here."""
        args = self.monitor_args()  # --root first, then the cgroup driver, then the rest
        systemd = ["--systemd-cgroup"] if self.handler.cgroup_driver == "systemd" else []
        return [self.handler.binary, *args[:2], *systemd, *args[2:]]

    def monitor_args(self) -> list[str]:
        """The global flags for conmon's `--runtime-arg`: all but the cgroup driver's, which
        conmon adds itself when told `-s`."""
        # runc, crun and runsc all accept --log/--log-format, and still print errors on stderr.
        args = ["--root", str(self.root), "--log", str(self.log_path), "--log-format", "json"]
        return [*args, *self.handler.extra_flags]

    async def create(
        self,
        container_id: str,
        bundle: Path,
        *,
        pid_file: Path,
        console_socket: Path | None = None,
    ) -> None:
        """`create --bundle … --pid-file … [--console-socket …] <id>`.

        The container's init inherits the runtime's stdio, so the runtime runs with /dev/null
        (pipes would stay open for the container's lifetime) and its error is read back from
        its `--log` file. Normally conmon runs create, with pipes of its own.
        """
        args = ["create", "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            args += ["--console-socket", str(console_socket)]
        if self.handler.no_pivot and self._flavour.no_pivot_flag:
            args.append("--no-pivot")
        argv = [*self.base_argv(), *args, container_id]
        offset = _size(self.log_path)
        process = await _exec.spawn(
            argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            returncode = await asyncio.wait_for(process.wait(), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise CommandError(
                argv, None, f"no answer within {self.timeout_s} s", timed_out=True
            ) from None
        if returncode != 0:
            exc = CommandError(argv, returncode, _logged_errors(self.log_path, offset))
            raise self._translate(exc, container_id, creating=True) from exc

    async def start(self, container_id: str) -> None:
        """`start <id>`."""
        await self._run(container_id, ["start", container_id])

    async def state(self, container_id: str) -> ContainerState:
        """`state <id>`, parsed."""
        argv = [*self.base_argv(), "state", container_id]
        result = await self._checked(container_id, argv)
        try:
            data = json.loads(result.stdout)
            status = _STATUSES[str(data["status"])]
            return ContainerState(
                id=str(data.get("id") or container_id),
                status=status,
                pid=int(data.get("pid") or 0),
                bundle=Path(str(data.get("bundle") or "")),
                created=_timestamp(data.get("created")),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CommandError(
                argv, result.returncode, f"unreadable state {result.stdout[:200]!r}: {exc!r}"
            ) from exc

    async def kill(self, container_id: str, signal: int, *, all_processes: bool = False) -> None:
        """`kill [--all] <id> <signal>`; a container whose processes have exited is fine."""
        args = ["kill", *(["--all"] if all_processes else []), container_id, str(signal)]
        argv = [*self.base_argv(), *args]
        try:
            await _exec.run(argv, timeout_s=self.timeout_s)
        except CommandError as exc:
            if exc.returncode is not None and _contains(exc.stderr, _ALREADY_FINISHED):
                logger.debug(
                    "Container %s has already exited; signal %d not sent", container_id, signal
                )
                return
            error = self._translate(exc, container_id)
            # runsc answers a kill of a stopped sandbox with "connection refused": ask.
            if error is exc and exc.returncode is not None and await self._stopped(container_id):
                logger.debug("Container %s is stopped; signal %d not sent", container_id, signal)
                return
            raise error from exc

    async def delete(self, container_id: str, *, force: bool = False) -> None:
        """`delete [--force] <id>`; a container that does not exist is fine."""
        args = ["delete", *(["--force"] if force else []), container_id]
        try:
            await self._run(container_id, args)
        except NotFoundError:
            logger.debug("Container %s is already deleted", container_id)

    def exec_argv(
        self,
        container_id: str,
        process_json_path: Path,
        *,
        pid_file: Path,
        tty: bool,
        detach: bool,
    ) -> list[str]:
        """`exec --process <json> --pid-file <file> [--detach] [--tty] <id>`.

        With --process the runtime takes the terminal setting from process.json; --tty only
        restates it, and is left out for runsc, whose exec has no such flag.
        """
        argv = [*self.base_argv(), "exec", "--process", str(process_json_path)]
        argv += ["--pid-file", str(pid_file)]
        if detach:
            argv.append("--detach")
        if tty and self._flavour.exec_tty_flag:
            argv.append("--tty")
        argv.append(container_id)
        return argv

    async def update(self, container_id: str, resources_json_path: Path) -> None:
        """`update --resources <json> <id>`."""
        if not self._flavour.can_update:
            raise UnimplementedError(
                f"runtime handler {self.handler.name} ({self.handler.binary}) cannot update "
                "the resources of a container"
            )
        try:
            await self._run(
                container_id, ["update", "--resources", str(resources_json_path), container_id]
            )
        except CommandError as exc:
            if exc.returncode is None:
                raise
            # The kernel refuses the value (CPUs the node lacks, a limit below the usage).
            raise InvalidArgumentError(
                f"runtime handler {self.handler.name} refused the resources of container "
                f"{container_id}: {exc.stderr.strip()[-300:]}"
            ) from exc

    async def pause(self, container_id: str) -> None:
        """`pause <id>`."""
        await self._run(container_id, ["pause", container_id])

    async def resume(self, container_id: str) -> None:
        """`resume <id>`."""
        await self._run(container_id, ["resume", container_id])

    async def ps(self, container_id: str) -> list[int]:
        """`ps --format json <id>`: host pids (runsc reports the pids inside its sandbox)."""
        argv = [*self.base_argv(), "ps", "--format", "json", container_id]
        result = await self._checked(container_id, argv)
        try:
            pids = json.loads(result.stdout)
            # runc prints `null` for a container without processes.
            return [int(pid) for pid in pids or []]
        except (ValueError, TypeError) as exc:
            raise CommandError(
                argv, result.returncode, f"unreadable pid list {result.stdout[:200]!r}"
            ) from exc

    async def _run(self, container_id: str, args: list[str]) -> _exec.CommandResult:
        return await self._checked(container_id, [*self.base_argv(), *args])

    async def _checked(self, container_id: str, argv: list[str]) -> _exec.CommandResult:
        try:
            return await _exec.run(argv, timeout_s=self.timeout_s)
        except CommandError as exc:
            raise self._translate(exc, container_id) from exc

    def _translate(
        self, exc: CommandError, container_id: str, *, creating: bool = False
    ) -> CrioPyError:
        """The domain error for a failed command, or `exc` itself when it is not one we know."""
        if exc.returncode is None:  # the binary is missing, or it hung: not about the container
            return exc
        where = f"runtime handler {self.handler.name}"
        detail = exc.stderr.strip()[-300:]
        if _contains(exc.stderr, _ALREADY_EXISTS):
            return AlreadyExistsError(f"container {container_id} already exists in {where}")
        if not creating and self._missing(exc.stderr, container_id):
            return NotFoundError(f"container {container_id} not found in {where}: {detail}")
        if _contains(exc.stderr, _WRONG_STATE):
            return FailedPreconditionError(f"container {container_id} ({where}): {detail}")
        return exc

    def _missing(self, stderr: str, container_id: str) -> bool:
        if _contains(stderr, _NOT_FOUND):
            return True
        # crun: "error opening file `<root>/<id>/status`: No such file or directory"
        return str(self.root / container_id) in stderr and _contains(
            stderr, ("no such file or directory",)
        )

    async def _stopped(self, container_id: str) -> bool:
        try:
            return (await self.state(container_id)).status == "stopped"
        except CrioPyError:
            return False


def _timestamp(value: object) -> datetime | None:
    """An RFC 3339 time as the runtimes print it (nanoseconds are cut to microseconds)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(_NANOSECONDS.sub(r"\1", value))
    except ValueError:
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _logged_errors(log_path: Path, offset: int) -> str:
    """The `"level": "error"` messages written to a `--log-format json` file after `offset`.

    runc and crun end each record with a newline, runsc does not; other commands of the same
    handler may have logged in between, which is why create is the only reader.
    """
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return ""
    decoder = json.JSONDecoder()
    messages, index = [], 0
    while (index := _skip_space(text, index)) < len(text):
        try:
            record, index = decoder.raw_decode(text, index)
        except ValueError:
            break
        if isinstance(record, dict) and record.get("level") in ("error", "fatal"):
            messages.append(str(record.get("msg", "")))
    return "\n".join(messages)


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index
