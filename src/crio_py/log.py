"""Logging for crio-py: the one place that installs handlers and formatters (ARCHITECTURE.md §7).

Modules only call `logging.getLogger(__name__)`. This module owns:
- `setup()`: one stderr handler on the root logger, text or JSON, at the level the operator asked
  for (containerd/CRI-O level names are accepted: trace, debug, info, warn, error, fatal, panic);
- the per-request context: `cri/instrument.py` binds the request id and RPC name (and, when the
  request names one, the sandbox or container id) in contextvars, and `ContextFilter` copies them
  onto every record, so a backend's log line says which RPC it served without being told;
- the size of a record: its message and traceback are cut (`MESSAGE_LIMIT`, `TRACEBACK_LIMIT`)
  so that a request carrying a megabyte where a name belongs cannot write megabyte lines.

Standard library and `crio_py.errors` only: this is a foundation module.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, TextIO

from crio_py.errors import clip

LogFormat = Literal["text", "json"]
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

LEVELS: dict[str, int] = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}
"""Level names of containerd (logrus) and CRI-O, mapped to Python levels."""

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
rpc_name: ContextVar[str | None] = ContextVar("rpc_name", default=None)
sandbox_id: ContextVar[str | None] = ContextVar("sandbox_id", default=None)
container_id: ContextVar[str | None] = ContextVar("container_id", default=None)

CONTEXT_FIELDS: dict[str, ContextVar[str | None]] = {
    "rpc": rpc_name,
    "request_id": request_id,
    "sandbox_id": sandbox_id,
    "container_id": container_id,
}
"""Record attribute → contextvar; the order is the order of the text suffix."""

MESSAGE_LIMIT = 16 * 1024
"""Bytes of one record's message; what is cut says how much it was."""
TRACEBACK_LIMIT = 32 * 1024
"""Bytes of one record's traceback."""

_HANDLER_NAME = "crio-py"
NOISY_LIBRARIES = ("grpc", "asyncio")
"""Loggers kept at INFO or above unless the level is `trace` (grpc logs every loop lookup)."""


def parse_level(name: str) -> int:
    """The Python level of a level name; ValueError names the accepted ones."""
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}") from None


@contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """Bind context fields (`rpc`, `request_id`, `sandbox_id`, `container_id`) for a block."""
    tokens = [
        (CONTEXT_FIELDS[key], CONTEXT_FIELDS[key].set(value)) for key, value in values.items()
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_context() -> dict[str, str]:
    """The context fields that are set, in `CONTEXT_FIELDS` order."""
    values = {key: var.get() for key, var in CONTEXT_FIELDS.items()}
    return {key: value for key, value in values.items() if value}


class ContextFilter(logging.Filter):
    """Copies the bound context fields onto every record (None when unset); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context attributes and keep the record."""
        for key, var in CONTEXT_FIELDS.items():
            if not hasattr(record, key):
                setattr(record, key, var.get())
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    values = {key: getattr(record, key, None) for key in CONTEXT_FIELDS}
    return {key: str(value) for key, value in values.items() if value}


def _message(record: logging.LogRecord) -> str:
    return clip(record.getMessage(), MESSAGE_LIMIT)


def _traceback(formatter: logging.Formatter, exc_info: _ExcInfo) -> str:
    return clip(formatter.formatException(exc_info), TRACEBACK_LIMIT)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger>: <message> key=value…`, then the traceback if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record (plus a traceback)."""
        context = "".join(f" {key}={value}" for key, value in _context_of(record).items())
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {_message(record)}"
        text = line + context
        if record.exc_info:
            text += "\n" + _traceback(self, record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, the context fields and `error`."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record."""
        entry: dict[str, str] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
            **_context_of(record),
        }
        if record.exc_info:
            entry["error"] = _traceback(self, record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(
    level: str | int = "info", log_format: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record at `level` or above to `stream` (stderr) in `log_format`.

    Calling it again replaces the handler it installed before, so tests and a future
    SIGHUP reload can change the level or format. grpc and asyncio stay at INFO or above
    unless `level` is "trace".
    """
    numeric = parse_level(level) if isinstance(level, str) else level
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    library_level = numeric if level == "trace" else max(numeric, logging.INFO)
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
    return handler
