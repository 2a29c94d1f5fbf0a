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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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

    def __init__(self, argv: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        status = "timed out" if returncode is None else f"exited with {returncode}"
        tail = f": {stderr.strip()[-500:]}" if stderr.strip() else ""
        super().__init__(f"{' '.join(self.argv)} {status}{tail}")
