"""ExecSync through conmon's exec mode: run a command in a running container with a timeout and
collect its exit code, stdout and stderr (CRI-O's ExecSyncContainer)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crio_py.backends.conmon import (
    ConmonOptions,
    ConmonRelayedError,
    decode_message,
    monitor_conmon,
    read_pid_file,
)
from crio_py.errors import DeadlineExceededError, InvalidArgumentError

logger = logging.getLogger(__name__)

EXEC_SYNC_MAX_OUTPUT = 16 * 1024 * 1024
"""The most ExecSync output kept, as CRI-O's maxExecSyncSize."""
TIMED_OUT_MESSAGE = "command timed out"
"""What ExecSync says of a command it killed at its timeout (conmon's TIMED_OUT_MESSAGE)."""
_EXEC_GRACE_S = 10.0  # after the timeout: for the pid file, then for conmon's answer


@dataclass(frozen=True)
class ExecSyncResult:
    """What CRI ExecSync answers: exit code and output; -1 and `timed_out` on a timeout."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


def exec_sync_argv(
    options: ConmonOptions, *, process_spec: Path, log_path: Path, pid_file: Path
) -> list[str]:
    """conmon's command line for ExecSync (CRI-O's ExecSyncContainer). No `-T`: conmon's own
    timeout kills the command and exits without reaping it, which leaves a zombie under a
    container init that reaps nothing; `exec_sync` kills it while conmon still waits."""
    o = options
    argv = [
        str(o.conmon_path),
        "-c",
        o.container_id,
        "-n",
        o.container_name or o.container_id,
        "-r",
        str(o.runtime_path),
        "-p",
        str(pid_file),
        "-e",
        "-l",
        str(log_path),
        "--socket-dir-path",
        str(o.socket_dir),
        "--log-level",
        o.log_level,
        "--sync",
        "--log-global-size-max",
        str(EXEC_SYNC_MAX_OUTPUT),
    ]
    if o.tty:
        argv.append("-t")
    if o.systemd_cgroup:
        argv.append("-s")
    argv += ["--exec-process-spec", str(process_spec)]
    for arg in o.global_runtime_args():
        argv += ["--runtime-arg", arg]
    return argv


def parse_cri_log(data: bytes) -> tuple[bytes, bytes]:
    """(stdout, stderr) from a CRI log: F lines keep their newline, P lines lose it."""
    out: dict[bytes, bytearray] = {b"stdout": bytearray(), b"stderr": bytearray()}
    for line in data.splitlines(keepends=True):
        parts = line.split(b" ", 3)
        if len(parts) < 4 or parts[1] not in out:
            if line.strip():
                logger.warning("Skipped a malformed CRI log line %r", line[:200])
            continue
        content = parts[3]
        if parts[2] == b"P" and content.endswith(b"\n"):
            content = content[:-1]
        out[parts[1]] += content
    return bytes(out[b"stdout"]), bytes(out[b"stderr"])


async def exec_sync(
    options: ConmonOptions,
    command: Sequence[str],
    *,
    timeout_s: float = 0,
    scratch_dir: Path | None = None,
) -> ExecSyncResult:
    """Run `command` in the running container (CRI ExecSync); `timeout_s` 0 means none.

    A command that outlives `timeout_s` is killed (conmon, its parent, reaps it) and answered
    with exit code -1 and "command timed out" on stderr, as CRI-O answers (kubelet probes
    then count a failure). The process spec is the container's own with `command` as its args.
    """
    if not command:
        raise InvalidArgumentError("ExecSync needs a command")
    with tempfile.TemporaryDirectory(prefix="crio-py-exec-", dir=scratch_dir) as scratch:
        work = Path(scratch)
        spec = work / "process.json"
        process = exec_process_spec(options.bundle_dir, command, tty=options.tty)
        spec.write_text(json.dumps(process), encoding="utf-8")
        log_path, pid_file = work / "exec.log", work / "exec.pid"
        argv = exec_sync_argv(options, process_spec=spec, log_path=log_path, pid_file=pid_file)
        timed_out = False
        # cwd: conmon may write an "oom" file there
        async with monitor_conmon(argv, options, cwd=work) as monitor:
            line = await monitor.answer(argv, timeout_s if timeout_s > 0 else None, foreground=True)
            if line is None and (pid := await _started_pid(pid_file)) is not None:
                timed_out = _kill_command(pid)
                line = await monitor.wait_answer(argv, _EXEC_GRACE_S, foreground=True)
            if line is None:
                waited = timeout_s + _EXEC_GRACE_S
                raise DeadlineExceededError(f"conmon did not finish exec in {waited:g} s")
        code, said = decode_message(line, argv)
        if timed_out:
            return ExecSyncResult(-1, b"", TIMED_OUT_MESSAGE.encode(), timed_out=True)
        if code < 0:
            raise ConmonRelayedError([str(options.runtime_path), "exec", *command], code, said)
        try:
            with log_path.open("rb") as stream:
                logged = stream.read(EXEC_SYNC_MAX_OUTPUT)
        except FileNotFoundError:  # the command printed nothing
            logged = b""
        stdout, stderr = parse_cri_log(logged)
        return ExecSyncResult(code, stdout, stderr)


async def _started_pid(pid_file: Path) -> int | None:
    """The exec'd command's pid, once the runtime has written it; None if it never does."""
    deadline = time.monotonic() + _EXEC_GRACE_S
    while (pid := read_pid_file(pid_file)) is None:
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.02)
    return pid


def _kill_command(pid: int) -> bool:
    """SIGKILL the exec'd command (and its process group when it leads one, as a terminal
    session does); False when it had finished already."""
    try:
        if os.getpgid(pid) == pid:
            # conmon may reap the leader before a second kill, so one signal must do
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def exec_process_spec(bundle_dir: Path, command: Sequence[str], *, tty: bool) -> dict[str, object]:
    """The container's process spec with other args (CRI-O's prepareProcessExec)."""
    config_path = bundle_dir / "config.json"
    try:
        process = json.loads(config_path.read_text(encoding="utf-8")).get("process")
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidArgumentError(f"cannot read the process of {config_path}: {exc}") from exc
    if not isinstance(process, dict):
        raise InvalidArgumentError(f"{config_path} has no process")
    return {**process, "args": list(command), "terminal": tty}
