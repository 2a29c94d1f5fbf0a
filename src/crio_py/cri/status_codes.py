"""Domain error → gRPC status code: the one table (ARCHITECTURE.md §6).

Handlers and backends raise the exceptions of `crio_py.errors` and never choose a code;
`cri/instrument.py` looks the code up here and is the only caller of `context.abort`.

The lookup walks the exception's MRO and takes the first class that has a row, so a subclass
(say `ConfigReadError`) gets the code of its nearest listed ancestor (`ConfigError`) unless it
has a row of its own. Anything without a row, including a bare `CrioPyError`, is INTERNAL.

Choices that are not one-to-one (compare containerd `errgrpc.ToGRPC`):
- `ConfigError` → FAILED_PRECONDITION, not INVALID_ARGUMENT. During an RPC a configuration error
  is the node's fault (a broken hosts.toml, CNI conflist or handler config), not the caller's:
  the request was valid and will succeed once an operator fixes the file, which is what
  FAILED_PRECONDITION means ("the system is not in a state required for the operation").
  INVALID_ARGUMENT would tell the kubelet its own request is malformed.
- `IntegrityError` → DATA_LOSS: content that does not match its digest is corrupt data,
  containerd's `errdefs.ErrDataLoss`.
- `CommandError` → INTERNAL: a tool failed in a way its backend did not translate into a more
  precise domain error, so it is a fault inside the runtime.
- `CommandStartError` → FAILED_PRECONDITION: a tool that cannot be started at all (a runtime
  binary that is missing or not executable) is the node's state, as with `ConfigError`; the
  request is fine and succeeds once the tool is installed.
- `CommandTooLongError` → INVALID_ARGUMENT: the kernel refuses arguments or an environment
  that large (E2BIG) only when a request carried a value far beyond any real one.
"""

from __future__ import annotations

import grpc  # type: ignore[import-untyped,unused-ignore]

from crio_py.errors import (
    AlreadyExistsError,
    CommandError,
    CommandStartError,
    CommandTooLongError,
    ConfigError,
    DeadlineExceededError,
    FailedPreconditionError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
    UnimplementedError,
)

STATUS_CODES: dict[type[BaseException], grpc.StatusCode] = {
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
    UnavailableError: grpc.StatusCode.UNAVAILABLE,
    UnimplementedError: grpc.StatusCode.UNIMPLEMENTED,
    DeadlineExceededError: grpc.StatusCode.DEADLINE_EXCEEDED,
    PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    IntegrityError: grpc.StatusCode.DATA_LOSS,
    ConfigError: grpc.StatusCode.FAILED_PRECONDITION,
    CommandError: grpc.StatusCode.INTERNAL,
    CommandStartError: grpc.StatusCode.FAILED_PRECONDITION,
    CommandTooLongError: grpc.StatusCode.INVALID_ARGUMENT,
}
"""Each error class with its code; subclasses inherit the row of their nearest listed ancestor."""

DEFAULT_CODE = grpc.StatusCode.INTERNAL
"""The code of any exception without a row: an unexpected error is a fault of the runtime."""


def status_code_for(error: BaseException) -> grpc.StatusCode:
    """The status code of `error`: the row of the most specific class in its MRO, else INTERNAL."""
    for cls in type(error).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code
    return DEFAULT_CODE
