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
     └── PermissionDeniedError
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
