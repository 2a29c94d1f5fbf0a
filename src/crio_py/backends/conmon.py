"""conmon, the per-container monitor, driven as CRI-O drives it (`internal/oci/runtime_oci.go`).

conmon holds the container's stdio, writes the CRI log file (`<RFC3339Nano> <stream> <F|P>
<line>`), serves the attach socket, and writes the exit code to `<exits_dir>/<container id>`
(and to `<persist_dir>/exit`). It runs `<runtime> create` itself and forks once more, so the
monitor is not our child and outlives the daemon.

The handshake: conmon gets a minimal explicit environment and two inherited pipes named by
`_OCI_SYNCPIPE` and `_OCI_STARTPIPE`. It blocks on the start pipe until we write a byte, which
leaves the caller a moment to move it into a cgroup (`before_start`); then it forks, its first
process exits, and the monitor writes one JSON line on the sync pipe: `{"pid": N}` (newer
conmons started with `--api-version 1` write `{"data": N}`), or a negative number with the
runtime's stderr as "message" when `create` failed.

`exec_sync` runs conmon in its exec mode (`-e --sync`) for CRI ExecSync: the exit code arrives
on the sync pipe as `{"exit_code": N}` and the output in a CRI log file.

This module builds argv, performs the handshake, and is the only one that reads and deletes
conmon's exit and oom files (`read_exit`, `remove_exit`). It does not start, stop or delete
containers (`runc.py` does), choose cgroups, or watch the exits directory (`exit_monitor.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crio_py import crashpoint
from crio_py.backends import _exec, monitor_cgroup
from crio_py.errors import (
    CommandError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
)

logger = logging.getLogger(__name__)

DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
"""CRI-O's default `monitor_env`."""
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")
"""The levels conmon's `--log-level` accepts (anything else makes it exit)."""
CREATE_TIMEOUT_S = 240.0
"""How long `<runtime> create` may take: CRI-O's ContainerCreateTimeout."""
_RUNC_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')


class ConmonRelayedError(CommandError):
    """The OCI runtime failed under conmon; `stderr` is what conmon relayed of its output.

    `argv` is the runtime command conmon ran. conmon does not pass on the runtime's exit
    status, so `returncode` is the negative number it sent instead of a pid or exit code.
    """

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(argv, returncode, stderr)
        said = _runtime_message(stderr) or "no message"
        self.args = (f"{' '.join(self.argv)} failed: {said}",)


@dataclass(frozen=True)
class ConmonOptions:
    """Everything conmon needs to create and monitor one container."""

    conmon_path: Path
    container_id: str
    bundle_dir: Path
    runtime_path: Path
    log_path: Path
    exits_dir: Path
    persist_dir: Path
    socket_dir: Path  # attach sockets: <socket_dir>/<container id> links to the bundle
    container_pid_file: Path
    conmon_pid_file: Path
    container_name: str = ""  # -n; the container id when empty
    runtime_root: Path | None = None  # --root of the runtime; its own default when None
    runtime_args: tuple[str, ...] = ()  # further global runtime flags, after --root
    log_size_max: int = -1  # bytes; negative: unlimited (not passed)
    log_tag: str = ""
    log_level: str = "info"
    systemd_cgroup: bool = False
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    no_pivot: bool = False
    no_sync_log: bool = False
    syslog: bool = False  # conmon's own messages to syslog (CRI-O always asks for it)
    env: tuple[str, ...] = DEFAULT_ENV  # KEY=VALUE, the handler's monitor_env
    monitor_cgroup: str = ""  # cgroupfs path conmon is moved into; "" leaves it in ours

    def __post_init__(self) -> None:
        cid = self.container_id
        if not cid or "/" in cid or cid in (".", ".."):
            raise InvalidArgumentError(f"container id {cid!r} cannot name an exit file")
        for name in (
            "conmon_path",
            "bundle_dir",
            "runtime_path",
            "log_path",
            "exits_dir",
            "persist_dir",
            "socket_dir",
            "container_pid_file",
            "conmon_pid_file",
        ):
            if not getattr(self, name).is_absolute():
                raise InvalidArgumentError(f"conmon {name} must be absolute: {getattr(self, name)}")
        if self.runtime_root is not None and not self.runtime_root.is_absolute():
            raise InvalidArgumentError(f"runtime root must be absolute: {self.runtime_root}")
        if self.log_level not in LOG_LEVELS:
            raise InvalidArgumentError(
                f"conmon log level {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )
        bad = [entry for entry in self.env if "=" not in entry or entry.startswith("=")]
        if bad:
            raise InvalidArgumentError(f"conmon environment entries need KEY=VALUE: {bad}")

    def global_runtime_args(self) -> list[str]:
        """The runtime's global flags, each passed on by one `--runtime-arg`."""
        root = [f"--root={self.runtime_root}"] if self.runtime_root is not None else []
        return [*root, *self.runtime_args]


def conmon_argv(options: ConmonOptions) -> list[str]:
    """conmon's command line for creating the container, in CRI-O's order."""
    o = options
    argv = [
        str(o.conmon_path),
        "-b",
        str(o.bundle_dir),
        "-c",
        o.container_id,
        "--exit-dir",
        str(o.exits_dir),
        "-l",
        str(o.log_path),
        "--log-level",
        o.log_level,
        "-n",
        o.container_name or o.container_id,
        "-P",
        str(o.conmon_pid_file),
        "-p",
        str(o.container_pid_file),
        "--persist-dir",
        str(o.persist_dir),
        "-r",
        str(o.runtime_path),
    ]
    for arg in o.global_runtime_args():
        argv += ["--runtime-arg", arg]
    argv += ["--socket-dir-path", str(o.socket_dir)]
    if o.syslog:
        argv.append("--syslog")
    argv += ["-u", o.container_id]
    if o.systemd_cgroup:
        argv.append("-s")
    if o.log_size_max >= 0:
        argv += ["--log-size-max", str(o.log_size_max)]
    if o.log_tag:
        argv += ["--log-tag", o.log_tag]
    if o.no_sync_log:
        argv.append("--no-sync-log")
    if o.no_pivot:
        argv.append("--no-pivot")
    if o.tty:
        argv.append("-t")
    elif o.stdin:  # CRI-O: a terminal carries stdin itself
        if not o.stdin_once:
            argv.append("--leave-stdin-open")
        argv.append("-i")
    return argv


def runtime_create_argv(options: ConmonOptions) -> list[str]:
    """The runtime command conmon runs for `create` (for messages: conmon builds it itself)."""
    o = options
    argv = [str(o.runtime_path), *(["--systemd-cgroup"] if o.systemd_cgroup else [])]
    argv += [*o.global_runtime_args(), "create", "--bundle", str(o.bundle_dir)]
    argv += ["--pid-file", str(o.container_pid_file), *(["--no-pivot"] if o.no_pivot else [])]
    return [*argv, o.container_id]


def conmon_env(options: ConmonOptions, *, sync_fd: int, start_fd: int) -> dict[str, str]:
    """The whole environment conmon gets: the handler's entries and the two pipe numbers."""
    env = dict(entry.split("=", 1) for entry in options.env)
    env["_OCI_SYNCPIPE"] = str(sync_fd)
    env["_OCI_STARTPIPE"] = str(start_fd)
    if "XDG_RUNTIME_DIR" in os.environ:  # as CRI-O: rootless runtimes find their state by it
        env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    return env


def parse_sync_message(line: bytes) -> tuple[int, str]:
    """(number, message) from one line conmon wrote on the sync pipe; ValueError if garbled."""
    document = json.loads(line)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    for key in ("pid", "data", "exit_code"):
        value = document.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            message = document.get("message", "")
            return value, message if isinstance(message, str) else str(message)
    raise ValueError("no pid, data or exit_code")


OOM_FILE = "oom"
"""What conmon leaves in its working directory (the bundle) and persist dir when the kernel's
OOM killer struck the container (CRI-O's `oom` file check)."""


@dataclass(frozen=True)
class ConmonExit:
    """An exit conmon recorded: its code (None when the exit file is garbled, `error` says
    how), when the file was written, and whether an oom file says the OOM killer struck."""

    code: int | None
    finished_at_ns: int
    oom: bool = False
    error: str = ""


def read_exit(
    exits_dir: Path, container_id: str, oom_dirs: Sequence[Path] = ()
) -> ConmonExit | None:
    """The exit conmon recorded for `container_id`, or None while it has none; `oom_dirs`
    are where conmon may have left an oom file."""
    path = exit_file_path(exits_dir, container_id)
    try:
        code = read_exit_file(exits_dir, container_id)
    except CommandError as exc:  # a garbled exit file still means it exited
        return ConmonExit(None, _mtime_ns(path), error=str(exc))
    if code is None:
        return None
    oom = any((directory / OOM_FILE).exists() for directory in oom_dirs)
    return ConmonExit(code, _mtime_ns(path), oom=oom)


def remove_exit(exits_dir: Path, container_id: str) -> None:
    """Delete the exit file of a container being removed (idempotent)."""
    exit_file_path(exits_dir, container_id).unlink(missing_ok=True)


def exited_ids(exits_dir: Path) -> set[str]:
    """The ids with an exit file (one listing; cheap to call often)."""
    with contextlib.suppress(FileNotFoundError):
        return set(os.listdir(exits_dir))
    return set()


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return time.time_ns()


def exit_file_path(exits_dir: Path, container_id: str) -> Path:
    """Where conmon writes the exit code of `container_id`."""
    return exits_dir / container_id


def read_exit_file(exits_dir: Path, container_id: str) -> int | None:
    """The container's exit code (128+N after signal N), or None while it has none."""
    path = exit_file_path(exits_dir, container_id)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise CommandError([str(path)], None, f"exit file holds {text[:50]!r}") from None


async def wait_exit_file(
    exits_dir: Path, container_id: str, *, timeout_s: float, interval_s: float = 0.05
) -> int:
    """Poll for the exit file; DeadlineExceededError if it has not come within `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (code := read_exit_file(exits_dir, container_id)) is None:
        if asyncio.get_running_loop().time() >= deadline:
            raise DeadlineExceededError(f"container {container_id} has not exited")
        await asyncio.sleep(interval_s)
    return code


def read_pid_file(path: Path) -> int | None:
    """A pid conmon or the runtime wrote, or None if the file is missing or not a pid."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


CTL_RESIZE = 1
CTL_REOPEN_LOG = 2


def write_ctl(bundle_dir: Path, event: int, first: int = 0, second: int = 0) -> None:
    """One message on conmon's control fifo `<bundle>/ctl`: "<event> <a> <b>\n" (resize:
    height and width; reopen the log: zeros). FailedPreconditionError when conmon is gone."""
    try:
        descriptor = os.open(bundle_dir / "ctl", os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise FailedPreconditionError(f"conmon of {bundle_dir.name} is gone: {exc}") from exc
    try:
        os.write(descriptor, f"{event} {first} {second}\n".encode())
    finally:
        os.close(descriptor)


BeforeStart = Callable[[int], Awaitable[None]]
"""Called with conmon's pid while it waits on the start pipe (to move it into a cgroup)."""


async def create_container(
    options: ConmonOptions,
    *,
    before_start: BeforeStart | None = None,
    timeout_s: float = CREATE_TIMEOUT_S,
) -> int:
    """Run conmon, which runs `<runtime> create`; return the container's pid.

    Raises ConmonRelayedError with the runtime's message when `create` failed, CommandError
    when conmon itself failed, and DeadlineExceededError (after killing conmon) when no
    answer came in `timeout_s`. After any failure the caller must still `<runtime> delete
    --force` the container, as CRI-O does.
    """
    for directory in (
        options.exits_dir,
        options.socket_dir,
        options.persist_dir,
        options.log_path.parent,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    argv = conmon_argv(options)
    async with monitor_conmon(argv, options, cwd=options.bundle_dir) as monitor:
        if options.monitor_cgroup:
            await asyncio.to_thread(
                monitor_cgroup.place, monitor.process.pid, options.monitor_cgroup
            )
        if before_start is not None:
            await before_start(monitor.process.pid)
        monitor.release()
        crashpoint.reached("CreateContainer:runtime-create-running")
        line = await monitor.wait_answer(argv, timeout_s)
        if line is None:
            kill_monitor(options.conmon_pid_file, options.container_id)
            raise DeadlineExceededError(
                f"conmon for container {options.container_id} gave no pid in {timeout_s} s"
            )
    pid, said = decode_message(line, argv)
    if pid <= 0:
        raise ConmonRelayedError(runtime_create_argv(options), pid, said)
    logger.debug("Conmon created container %s with pid %d", options.container_id, pid)
    return pid


class _Monitor:
    """A conmon we started: the process, the sync pipe's reader, our end of the start pipe."""

    def __init__(
        self, process: asyncio.subprocess.Process, reader: asyncio.StreamReader, start_fd: int
    ) -> None:
        self.process = process
        self.reader = reader
        self.start_fd = start_fd

    def release(self) -> None:
        """Let conmon go on past its start pipe (CRI-O writes one zero byte; any read will do)."""
        if self.start_fd < 0:
            return
        with contextlib.suppress(BrokenPipeError):  # conmon is gone; its stderr says why
            os.write(self.start_fd, b"\0")
        os.close(self.start_fd)
        self.start_fd = -1

    async def answer(
        self, argv: list[str], timeout_s: float | None, *, foreground: bool = False
    ) -> bytes | None:
        """Release conmon and read its one sync message; None when `timeout_s` passed first.

        A daemonizing conmon's first process exits at once, so its status is checked before
        the message; a `--sync` (`foreground`) conmon exits only after writing it.
        """
        self.release()
        return await self.wait_answer(argv, timeout_s, foreground=foreground)

    async def wait_answer(
        self, argv: list[str], timeout_s: float | None, *, foreground: bool = False
    ) -> bytes | None:
        """`answer` of a conmon already released: wait again after a timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                if not foreground:
                    await self._check_exit(argv, relayed=False)
                line = await self.reader.readline()
                if foreground:
                    await self._check_exit(argv, relayed=bool(line))
        except TimeoutError:
            return None
        if not line:
            raise CommandError(argv, self.process.returncode, "conmon exited without an answer")
        return line

    async def _check_exit(self, argv: list[str], *, relayed: bool) -> None:
        """Wait for conmon; CommandError with its stderr if it failed without relaying why."""
        assert self.process.stderr is not None
        stderr = (await self.process.stderr.read()).decode("utf-8", "replace")
        code = await self.process.wait()
        if code != 0 and not relayed:
            raise CommandError(argv, code, stderr)
        if stderr.strip():
            logger.debug("Conmon said: %s", stderr.strip())

    async def close(self) -> None:
        """Kill conmon if it is still ours and running (before closing the start pipe, which
        would let it go on), reap it, and close our pipe ends."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        if self.start_fd >= 0:
            os.close(self.start_fd)
            self.start_fd = -1
        await self.process.wait()


@contextlib.asynccontextmanager
async def monitor_conmon(
    argv: list[str], options: ConmonOptions, *, cwd: Path | None = None
) -> AsyncIterator[_Monitor]:
    """Start conmon with its sync and start pipes; on the way out leave no zombie, no blocked
    monitor and no open pipe end, whatever happened."""
    sync_read, sync_write = os.pipe()
    start_read, start_write = os.pipe()
    monitor: _Monitor | None = None
    transport: asyncio.BaseTransport | None = None
    try:
        env = conmon_env(options, sync_fd=sync_write, start_fd=start_read)
        process = await _exec.spawn(
            argv, pass_fds=(sync_write, start_read), env=env, cwd=cwd, new_session=True
        )
        monitor = _Monitor(process, asyncio.StreamReader(limit=1 << 20), start_write)
        start_write = -1
        for fd in (sync_write, start_read):  # the child's ends: only conmon may hold them
            os.close(fd)
        sync_write = start_read = -1
        reader = monitor.reader
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(sync_read, "rb", 0)
        )
        sync_read = -1
        yield monitor
    finally:
        if monitor is not None:
            await monitor.close()
        if transport is not None:
            transport.close()
        for fd in (sync_read, sync_write, start_read, start_write):
            if fd >= 0:
                os.close(fd)


def decode_message(line: bytes, argv: list[str]) -> tuple[int, str]:
    try:
        return parse_sync_message(line)
    except ValueError as exc:
        raise CommandError(argv, None, f"unreadable answer {line[:200]!r}: {exc}") from exc


def _runtime_message(stderr: str) -> str:
    """runc's error text out of its logfmt line (`msg="..."`), else the stderr itself."""
    found = _RUNC_MSG.findall(stderr)
    if not found:
        return stderr.strip()
    try:
        return str(json.loads(f'"{found[-1]}"'))
    except ValueError:
        return str(found[-1])


def kill_monitor(pid_file: Path, container_id: str) -> None:
    """SIGKILL the daemonized conmon named by its pid file (its runtime child dies with it),
    if that pid is still a conmon of `container_id` (pids are reused)."""
    pid = read_pid_file(pid_file)
    if pid is None:
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if container_id.encode() in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
