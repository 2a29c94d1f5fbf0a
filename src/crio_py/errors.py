"""Domain exceptions of crio-py; nothing here knows about gRPC.

CrioPyError
 ├── ConfigError            a configuration could not be loaded (carries diagnostics)
 │    └── ConfigReadError   the input could not be read or is not a known format
 ├── NotFoundError
 ├── AlreadyExistsError
 ├── InvalidArgumentError
 ├── FailedPreconditionError
 ├── UnavailableError
 ├── UnimplementedError
 ├── DeadlineExceededError
 ├── PermissionDeniedError
 └── CommandError           a child process failed (argv redacted, exit code, stderr)
      └── CommandStartError the child could not be started at all (missing binary, E2BIG, …)
           └── CommandTooLongError   its arguments or environment were too long (E2BIG)

`clip` and `quote` bound what a message carries of a caller's value: a request may hold a
megabyte where a name belongs, and a message that echoes it whole would not fit in a gRPC
status (its metadata is limited to 16 KiB) nor belong in one log line.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any

QUOTE_LIMIT = 200
"""How many bytes of a caller's value a message quotes."""


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, saying how many more there were."""
    head, left_off = _cut(text, limit)
    return head + left_off


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)` for a message, with at most `limit` bytes of the value itself."""
    if not isinstance(value, str):
        return repr(value)
    head, left_off = _cut(value, limit)
    return repr(head) + left_off


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The head of `text` that fits in `limit` bytes, and what to say of the rest."""
    if len(text) <= limit // 4:  # fits even if every character takes four bytes
        return text, ""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text, ""
    head = data[:limit].decode("utf-8", "ignore")  # never half a character
    return head, f"… ({len(data) - len(head.encode('utf-8'))} more bytes)"


class CrioPyError(Exception):
    """Base class of every error crio-py raises on purpose."""


class ConfigError(CrioPyError):
    """A configuration has errors; `diagnostics` holds them (config.diagnostics.Diagnostic)."""

    def __init__(self, message: str, diagnostics: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)


class ConfigReadError(ConfigError):
    """The input is unreadable, or is neither a containerd nor a CRI-O configuration."""


class NotFoundError(CrioPyError):
    """The object asked for does not exist."""


class AlreadyExistsError(CrioPyError):
    """The object (or its name) is already taken."""


class InvalidArgumentError(CrioPyError):
    """The request is malformed."""


class FailedPreconditionError(CrioPyError):
    """The object is not in a state that allows the operation."""


class UnavailableError(CrioPyError):
    """A service the operation needs is not available right now."""


class UnimplementedError(CrioPyError):
    """The operation is not supported by this runtime or handler."""


class DeadlineExceededError(CrioPyError):
    """The operation did not finish in time."""


class PermissionDeniedError(CrioPyError):
    """The caller or the daemon lacks a permission."""


class IntegrityError(CrioPyError):
    """Content does not match its digest or size (a corrupt blob, a lying registry)."""


class CommandError(CrioPyError):
    """A child process failed: its argv (secrets redacted), exit code and the tail of stderr."""

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stderr: str,
        *,
        timed_out: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.timed_out = timed_out
        if timed_out:
            status = "timed out"
        else:
            status = "failed" if returncode is None else f"exited with {returncode}"
        tail = f": {stderr.strip()[-500:]}" if stderr.strip() else ""
        super().__init__(f"{clip(' '.join(self.argv), 1000)} {status}{tail}")


class CommandStartError(CommandError):
    """A child process could not be started: the binary is missing or not executable, its
    working directory is gone, or the kernel refused its arguments."""

    def __init__(self, argv: Sequence[str], error: OSError) -> None:
        super().__init__(argv, None, error.strerror or str(error))
        self.errno = error.errno
        program = self.argv[0] if self.argv else "a command"
        reason = error.strerror or str(error)
        if error.filename is not None and str(error.filename) != program:
            reason = f"{reason}: {clip(str(error.filename), 200)}"
        self.args = (f"cannot run {clip(program, 200)}: {reason}",)

    @classmethod
    def of(cls, argv: Sequence[str], error: OSError) -> CommandStartError:
        """The error for `error`, the most specific class for its errno."""
        if error.errno == errno.E2BIG:
            return CommandTooLongError(argv, error)
        return cls(argv, error)


class CommandTooLongError(CommandStartError):
    """The kernel refused the child's arguments or environment as too long (E2BIG): a
    request carried a value far larger than any real one."""
