"""`crio-py ctl logs`: a container's CRI log file read as crictl (the kubelet's `ReadLogs`)
reads it: stdout lines to stdout, stderr lines to stderr, partial (P) lines joined.

The log file is read directly, from the path ContainerStatus reports, so this verb runs on
the node, as crictl's does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from cri_api.v1 import api_pb2

from crio_py.ctl.client import Client
from crio_py.ctl.containers import container_status
from crio_py.ctl.endpoints import CtlError

FOLLOW_POLL_S = 0.2


@dataclass(frozen=True)
class LogLine:
    """One line of a CRI log file."""

    timestamp: str
    stream: str  # "stdout" or "stderr"
    partial: bool
    content: bytes

    @classmethod
    def parse(cls, raw: bytes) -> LogLine | None:
        parts = raw.rstrip(b"\n").split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
            return None
        content = parts[3] if len(parts) == 4 else b""
        stream = parts[1].decode()
        return cls(parts[0].decode(errors="replace"), stream, parts[2] == b"P", content)

    def seconds(self) -> float:
        """The timestamp as seconds since the epoch (0 if unreadable)."""
        text = self.timestamp
        if "." in text:  # Python parses at most microseconds
            head, _, rest = text.partition(".")
            digits = "".join(c for c in rest if c.isdigit())
            text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0


def run_logs(client: Client, args: argparse.Namespace) -> int:
    """Print the container's log; -f follows it until the container stops."""
    status = container_status(client, args.container, verbose=False).status
    if not status.log_path:
        raise CtlError(f"container {args.container!r} has no log file")
    try:
        stream = open(status.log_path, "rb")  # noqa: SIM115 -- kept open while following
    except OSError as exc:
        raise CtlError(f"cannot open the log file {status.log_path}: {exc.strerror}") from None
    since = time.time() - args.since if args.since else 0.0
    with stream:
        lines = [line for line in _lines(stream) if line.seconds() >= since]
        if args.tail >= 0:
            lines = _tail(lines, args.tail)
        budget = _Budget(args.limit_bytes)
        for line in lines:
            if not _write(line, args.timestamps, budget):
                return 0
        if args.follow:
            _follow(client, args, stream, status.log_path, budget)
    return 0


def _lines(stream: BinaryIO) -> Iterator[LogLine]:
    for raw in stream:
        if not raw.endswith(b"\n"):  # still being written: read it again later
            stream.seek(-len(raw), os.SEEK_CUR)
            return
        line = LogLine.parse(raw)
        if line is not None:
            yield line


def _tail(lines: list[LogLine], count: int) -> list[LogLine]:
    """The last `count` whole lines (a partial line belongs to the next full one)."""
    ends = [i for i, line in enumerate(lines) if not line.partial]
    if count == 0:
        return []
    if len(ends) <= count:
        return lines
    return lines[ends[-count - 1] + 1 :]


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit if limit > 0 else -1


def _write(line: LogLine, timestamps: bool, budget: _Budget) -> bool:
    """Write one line to its stream; False once --limit-bytes is used up."""
    data = line.content + (b"" if line.partial else b"\n")
    if timestamps:
        data = line.timestamp.encode() + b" " + data
    if budget.left >= 0:
        data = data[: budget.left]
        budget.left -= len(data)
    target = sys.stdout if line.stream == "stdout" else sys.stderr
    target.buffer.write(data)
    target.flush()
    return budget.left != 0


def _follow(
    client: Client, args: argparse.Namespace, stream: BinaryIO, path: str, budget: _Budget
) -> None:
    """Read new lines as they come; reopen after a rotation; stop when the container has
    stopped and nothing more is written."""
    opened: list[BinaryIO] = []
    try:
        _follow_stream(client, args, stream, path, budget, opened)
    finally:
        for extra in opened:
            extra.close()


def _follow_stream(
    client: Client,
    args: argparse.Namespace,
    stream: BinaryIO,
    path: str,
    budget: _Budget,
    opened: list[BinaryIO],
) -> None:
    inode = os.fstat(stream.fileno()).st_ino
    while True:
        wrote = False
        for line in _lines(stream):
            wrote = True
            if not _write(line, args.timestamps, budget):
                return
        if wrote:
            continue
        try:
            if os.stat(path).st_ino != inode:
                stream = open(path, "rb")  # noqa: SIM115 -- closed by _follow
                opened.append(stream)
                inode = os.fstat(stream.fileno()).st_ino
                continue
        except FileNotFoundError:
            pass
        state = container_status(client, args.container, verbose=False).status.state
        if state != api_pb2.CONTAINER_RUNNING:
            for line in _lines(stream):
                _write(line, args.timestamps, budget)
            return
        time.sleep(FOLLOW_POLL_S)
