"""THE way crio-py starts a child process: logged, with secrets redacted, and failures raised
as CommandError carrying the command, its exit code and the tail of its stderr.

Every child goes through `asyncio.create_subprocess_exec`, so unit tests fake them all with
pytest-subprocess and assert the exact argv.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crio_py.errors import CommandError

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"


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
) -> CommandResult:
    """Run a command to completion; raise CommandError when it fails or times out."""
    shown = redact(argv, secrets)
    logger.debug("Running %s", " ".join(shown))
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
        )
    except OSError as exc:
        raise CommandError(shown, None, str(exc)) from exc
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise CommandError(shown, None, f"no answer within {timeout_s} s") from None
    result = CommandResult(
        returncode=process.returncode if process.returncode is not None else -1,
        stdout=stdout.decode("utf-8", "replace"),
        stderr=stderr.decode("utf-8", "replace"),
        raw_stdout=stdout,
    )
    if check and result.returncode != 0:
        raise CommandError(shown, result.returncode, redact([result.stderr], secrets)[0])
    return result
