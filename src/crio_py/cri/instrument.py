"""The `@rpc` wrapper around every CRI method: readiness, log context, log levels, error mapping.

Modelled on containerd `internal/cri/instrument/instrumented_service.go`. For each call it
1. answers UNAVAILABLE ("crio-py is starting") until the daemon marks the `Readiness` ready;
2. binds a fresh request id, the RPC name and any sandbox/container id of the request in the
   `crio_py.log` contextvars, so every record logged while serving it carries them;
3. logs start and outcome at INFO for RPCs that change state and at DEBUG for polled ones
   (`List*`, `*Status`, `Version`, `ImageFsInfo`, stats, …), as containerd does; the outcome
   names the id the RPC returns (pod_sandbox_id, container_id, image_ref), as containerd's
   "RunPodSandbox for … returns sandbox id" does;
4. turns a failure into one ERROR record (with a traceback only when the exception is not a
   `CrioPyError`, i.e. a bug) and `context.abort(code, message)` with the code from
   `status_codes.py`. This is the only code in crio-py that calls `abort`.

5. reports each outcome (its status code and time) to the active `metrics.Metrics`, if any.

`asyncio.CancelledError` (the client went away, or the server is stopping) always propagates.
Request bodies are never logged: PullImage carries registry credentials.

What a request carries is bounded before it reaches a status or a log record: a status message
is cut to `MESSAGE_LIMIT` bytes (gRPC refuses status metadata above 8 to 16 KiB and the client
would see RESOURCE_EXHAUSTED instead of the real code), and the ids and image ref bound in the
log context to a few hundred bytes, so a megabyte-long field never becomes a megabyte-long
log line.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import grpc  # type: ignore[import-untyped,unused-ignore]
import grpc.aio  # type: ignore[import-untyped,unused-ignore]

from crio_py import log
from crio_py.cri import metrics
from crio_py.cri.status_codes import status_code_for
from crio_py.errors import CrioPyError, UnavailableError, UnimplementedError, clip, quote

logger = logging.getLogger(__name__)

STARTING_MESSAGE = "crio-py is starting"

MESSAGE_LIMIT = 2048
"""Bytes of a status message (and of the failure's log record); gRPC percent-encodes each
non-ASCII byte in three, and clients refuse status metadata above 8 KiB at random."""
ID_LIMIT = 100
"""Bytes of a sandbox/container id in the log context (a real one has 64)."""

POLLED_RPCS = frozenset(
    {
        "Version",
        "Status",
        "ImageFsInfo",
        "ContainerStats",
        "PodSandboxStats",
        "RuntimeConfig",
        "ListMetricDescriptors",
    }
)
"""Polled RPCs whose names do not say so (`List*` and `*Status` are recognised by name)."""


def is_polled(name: str) -> bool:
    """Whether an RPC is one the kubelet polls (logged at DEBUG) rather than a state change."""
    return name in POLLED_RPCS or name.startswith("List") or name.endswith("Status")


class Readiness:
    """Whether the daemon has finished starting (image store loaded, state recovered)."""

    def __init__(self) -> None:
        self._ready = False

    @property
    def ready(self) -> bool:
        """True once `mark_ready` was called."""
        return self._ready

    def mark_ready(self) -> None:
        """Start answering RPCs."""
        self._ready = True


class Gated(Protocol):
    """A servicer: it exposes the readiness gate its RPCs wait for."""

    @property
    def readiness(self) -> Readiness:
        """The daemon's readiness."""


ServicerT = TypeVar("ServicerT", bound=Gated)
RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")
Context = Any  # grpc.aio.ServicerContext; grpcio ships no type information
Method = Callable[[ServicerT, RequestT, Context], Awaitable[ResponseT]]
Wrapped = Callable[[ServicerT, RequestT, Context], Coroutine[Any, Any, ResponseT]]

_REQUEST_IDS = (("pod_sandbox_id", "sandbox_id"), ("container_id", "container_id"))
_RESPONSE_IDS = ("pod_sandbox_id", "container_id", "image_ref")


_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A short id, unique in this daemon's life, that ties together the log records of one
    RPC (a counter behind a random prefix: cheaper than fresh randomness for each call)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def _object_ids(request: object) -> dict[str, str | None]:
    """The sandbox/container id a request names, for the log context."""
    ids: dict[str, str | None] = {}
    for field, key in _REQUEST_IDS:
        value = getattr(request, field, None)
        if isinstance(value, str) and value:
            ids[key] = clip(value, ID_LIMIT)
    return ids


def _describe(request: object) -> str:
    """A safe summary of the request for the start record: the image ref, if any."""
    spec = getattr(request, "image", None)
    ref = getattr(spec, "image", None)
    return f" for image {quote(ref)}" if isinstance(ref, str) and ref else ""


def _returned(response: object) -> str:
    """What the finish record says of the id a response carries, if any."""
    for field in _RESPONSE_IDS:
        value = getattr(response, field, None)
        if isinstance(value, str) and value:
            return f" and returned {field} {quote(value, ID_LIMIT)}"
    return ""


def _record(name: str, started: float, code: str, request: object = None) -> None:
    """Report an outcome to the metrics, if an endpoint is configured (RunPodSandbox names
    its runtime handler, which containerd's timers are labelled with)."""
    recorder = metrics.ACTIVE
    if recorder is not None:
        handler = getattr(request, "runtime_handler", "") if name == "RunPodSandbox" else ""
        recorder.rpc_finished(name, time.monotonic() - started, code, handler)


def rpc(method: Method[ServicerT, RequestT, ResponseT]) -> Wrapped[ServicerT, RequestT, ResponseT]:
    """Wrap one CamelCase servicer method (see the module docstring)."""
    name = method.__name__
    level = logging.DEBUG if is_polled(name) else logging.INFO

    @functools.wraps(method)
    async def wrapper(self: ServicerT, request: RequestT, context: Context) -> ResponseT:
        if level == logging.DEBUG and not logger.isEnabledFor(logging.DEBUG):
            return await _quiet(name, method, self, request, context)
        with log.bound(rpc=name, request_id=new_request_id(), **_object_ids(request)):
            if not self.readiness.ready:
                logger.debug("Refused %s: %s", name, STARTING_MESSAGE)
                await context.abort(status_code_for(UnavailableError()), STARTING_MESSAGE)
            logger.log(level, "%s started%s", name, _describe(request))
            started = time.monotonic()
            try:
                response = await method(self, request, context)
            except asyncio.CancelledError:
                logger.log(level, "%s cancelled after %.3fs", name, time.monotonic() - started)
                _record(name, started, "CANCELLED")
                raise
            except grpc.aio.AbortError:
                raise  # already a status; nothing in crio-py aborts outside this wrapper
            except Exception as exc:
                await _fail(context, name, exc, started)
                raise  # unreachable: abort raises
            _record(name, started, "OK", request)
            elapsed_s = time.monotonic() - started
            logger.log(level, "%s finished in %.3fs%s", name, elapsed_s, _returned(response))
            return response

    return wrapper


async def _quiet(
    name: str,
    method: Method[ServicerT, RequestT, ResponseT],
    servicer: ServicerT,
    request: RequestT,
    context: Context,
) -> ResponseT:
    """A polled RPC when nothing is logged at debug level: no log context unless it fails
    (the kubelet polls these many times a second)."""
    if not servicer.readiness.ready:
        await context.abort(status_code_for(UnavailableError()), STARTING_MESSAGE)
    started = time.monotonic()
    try:
        response = await method(servicer, request, context)
    except asyncio.CancelledError:
        _record(name, started, "CANCELLED")
        raise
    except grpc.aio.AbortError:
        raise
    except Exception as exc:
        with log.bound(rpc=name, request_id=new_request_id(), **_object_ids(request)):
            await _fail(context, name, exc, started)
        raise  # unreachable: abort raises
    _record(name, started, "OK")
    return response


async def _fail(context: Context, name: str, error: Exception, started: float) -> None:
    """Log the failure once, report it, and abort the call with the code of its class."""
    elapsed_s = time.monotonic() - started
    code = status_code_for(error)
    _record(name, started, code.name)
    expected = isinstance(error, CrioPyError)
    text = str(error)
    if not expected:
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    message = clip(text, MESSAGE_LIMIT) or code.name
    # An RPC crio-py does not serve yet is the caller's probe, not a failure worth an ERROR.
    level = logging.DEBUG if isinstance(error, UnimplementedError) else logging.ERROR
    logger.log(
        level,
        "%s failed after %.3fs: %s: %s",
        name,
        elapsed_s,
        code.name,
        message,
        exc_info=None if expected else error,
    )
    await context.abort(code, message)
