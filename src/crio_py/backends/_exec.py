"""THE way crio-py starts a child process: logged, with secrets redacted, and failures raised
as CommandError carrying the command, its exit code and the tail of its stderr. A child that
could not be started at all (a missing binary, permission denied, arguments too long) is a
CommandStartError that says why.

`run` runs a command to completion; `spawn` starts a long-lived child (a monitor such as conmon
that talks to us over inherited pipes) and hands the process back to the caller.

Every child goes through `asyncio.create_subprocess_exec`, so unit tests fake them all with
pytest-subprocess and assert the exact argv.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crio_py.errors import CommandError, CommandStartError

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"
# A command `run` starts gets SIGKILL when the daemon dies (setpriv sets the parent-death
# signal, then execs it), so that a command of a request the daemon never finished (a pull,
# a CNI ADD) cannot go on behind the next daemon's back. Not for `spawn`: a monitor it starts
# (conmon) must outlive the daemon. (A preexec_fn would make Python fork, which gRPC's fork
# handlers do not survive.)
_SETPRIV = shutil.which("setpriv")
DIE_WITH_DAEMON_DEFAULT: tuple[str, ...] = (
    (_SETPRIV, "--pdeathsig", "KILL", "--") if _SETPRIV else ()
)
DIE_WITH_DAEMON = DIE_WITH_DAEMON_DEFAULT


@dataclass(frozen=True)
class CommandResult:
    """What a finished command printed."""

    returncode: int
    stdout: str
    stderr: str
    raw_stdout: bytes = b""


def redact(argv: Sequence[str], secrets: Sequence[str] = ()) -> list[str]:
    """The argv with every secret replaced, for logs and errors."""
    hidden = [s for s in secrets if s]
    redacted = []
    for arg in argv:
        for secret in hidden:
            arg = arg.replace(secret, REDACTED)
        redacted.append(arg)
    return redacted


async def run(
    argv: Sequence[str],
    *,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    check: bool = True,
    stdin: bytes | None = None,
    started: Callable[[], None] | None = None,
) -> CommandResult:
    """Run a command to completion; raise CommandError when it fails or times out.

    `stdin`, when given, is written to the child's standard input (a CNI plugin reads its
    configuration there); otherwise stdin is /dev/null. `started` is called once the child
    runs (a crash point).
    """
    shown = redact(argv, secrets)
    logger.debug("Running %s", " ".join(shown))
    try:
        process = await asyncio.create_subprocess_exec(
            *_dying_with_daemon(argv),
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
        )
    except OSError as exc:
        raise CommandStartError.of(shown, exc) from exc
    if started is not None:
        started()
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    except TimeoutError:
        await _kill(process)
        raise CommandError(shown, None, f"no answer within {timeout_s} s", timed_out=True) from None
    except asyncio.CancelledError:  # the RPC went away: its command must not run on
        logger.debug("Killing %s: cancelled", " ".join(shown))
        await asyncio.shield(_kill(process))
        raise
    result = CommandResult(
        returncode=process.returncode if process.returncode is not None else -1,
        stdout=stdout.decode("utf-8", "replace"),
        stderr=stderr.decode("utf-8", "replace"),
        raw_stdout=stdout,
    )
    if check and result.returncode != 0:
        raise CommandError(shown, result.returncode, redact([result.stderr], secrets)[0])
    return result


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the child (if it has not exited yet) and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


def _dying_with_daemon(argv: Sequence[str]) -> list[str]:
    """`argv` under setpriv; an OSError, as exec would raise, when its binary cannot run."""
    if not DIE_WITH_DAEMON:
        return list(argv)
    binary = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if binary is None or not os.path.exists(binary):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
    if not os.access(binary, os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), argv[0])
    return [*DIE_WITH_DAEMON, binary, *argv[1:]]


async def spawn(
    argv: Sequence[str],
    *,
    pass_fds: Sequence[int] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    secrets: Sequence[str] = (),
    stdin: int = asyncio.subprocess.DEVNULL,
    stdout: int = asyncio.subprocess.DEVNULL,
    stderr: int = asyncio.subprocess.PIPE,
    new_session: bool = False,
) -> asyncio.subprocess.Process:
    """Start a child and return it at once; the caller owns it and must wait for it.

    `pass_fds` are inherited under the same numbers (every other descriptor is closed in the
    child); `new_session` puts the child in a session of its own, so that a signal sent to
    our process group (Ctrl-C in a terminal) does not reach it. stdin is /dev/null unless
    the caller asks for a pipe (a streaming exec or port-forward).
    """
    shown = redact(argv, secrets)
    logger.debug("Starting %s", " ".join(shown))
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=new_session,
        )
    except OSError as exc:
        raise CommandStartError.of(shown, exc) from exc
