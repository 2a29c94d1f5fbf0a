"""The exit monitor: exit files seen through inotify (not the slow re-scan), the re-scan and
the polling fallback, waiters woken, and a failing handler that does not stop it."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from crio_py.backends import exit_monitor
from crio_py.backends.exit_monitor import ExitMonitor

CID = "0123456789abcdef" * 4
NEVER_S = 3600.0


class Recorder:
    """An `on_exits` that keeps every batch and can be waited on."""

    def __init__(self, fail: bool = False) -> None:
        self.seen: set[str] = set()
        self.calls = 0
        self.fail = fail
        self.changed = asyncio.Event()

    async def __call__(self, container_ids: set[str]) -> None:
        self.calls += 1
        self.seen |= container_ids
        self.changed.set()
        if self.fail:
            raise RuntimeError("broken handler")

    async def until(self, container_id: str, timeout_s: float = 2.0) -> float:
        """How long `container_id` took to be delivered."""
        start = time.monotonic()
        async with asyncio.timeout(timeout_s):
            while container_id not in self.seen:
                self.changed.clear()
                await self.changed.wait()
        return time.monotonic() - start


@asynccontextmanager
async def running(monitor: ExitMonitor, recorder: Recorder) -> AsyncIterator[None]:
    task = asyncio.create_task(monitor.run(recorder))
    await asyncio.sleep(0.05)  # the watch is in place
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def write_exit(exits_dir: Path, container_id: str, code: int = 0) -> None:
    """As conmon does: a complete file renamed into place."""
    temporary = exits_dir / f".{container_id}.tmp"
    temporary.write_text(str(code))
    os.rename(temporary, exits_dir / container_id)


async def test_an_exit_file_is_delivered_by_its_event(tmp_path: Path) -> None:
    monitor, recorder = ExitMonitor(tmp_path, rescan_s=NEVER_S), Recorder()
    async with running(monitor, recorder):
        write_exit(tmp_path, CID)
        assert await recorder.until(CID) < 0.5
    assert recorder.seen == {CID}  # never the temporary name


async def test_a_file_written_in_place_is_delivered_once_closed(tmp_path: Path) -> None:
    monitor, recorder = ExitMonitor(tmp_path, rescan_s=NEVER_S), Recorder()
    async with running(monitor, recorder):
        (tmp_path / CID).write_text("137")
        await recorder.until(CID)


async def test_exits_written_before_the_start_are_delivered(tmp_path: Path) -> None:
    write_exit(tmp_path, CID)
    monitor, recorder = ExitMonitor(tmp_path, rescan_s=NEVER_S), Recorder()
    async with running(monitor, recorder):
        await recorder.until(CID)


async def test_the_rescan_finds_what_no_event_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exit_monitor, "IN_CLOSE_WRITE", 0)
    monkeypatch.setattr(exit_monitor, "IN_MOVED_TO", 0x200)  # IN_DELETE: no event comes
    monitor, recorder = ExitMonitor(tmp_path, rescan_s=0.2), Recorder()
    async with running(monitor, recorder):
        write_exit(tmp_path, CID)
        assert await recorder.until(CID) > 0.05


async def test_without_inotify_the_directory_is_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exit_monitor, "_open_inotify", lambda directory: None)
    monitor, recorder = ExitMonitor(tmp_path, rescan_s=NEVER_S), Recorder()
    async with running(monitor, recorder):
        write_exit(tmp_path, CID)
        await recorder.until(CID)


async def test_a_waiter_wakes_when_its_exit_file_appears(tmp_path: Path) -> None:
    monitor, recorder = ExitMonitor(tmp_path, rescan_s=NEVER_S), Recorder()
    async with running(monitor, recorder):
        waiting = asyncio.create_task(monitor.wait(CID, 30))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        write_exit(tmp_path, CID)
        await waiting
        assert time.monotonic() - start < 0.5
    assert not monitor._waiters


async def test_a_waiter_gives_up_after_its_timeout(tmp_path: Path) -> None:
    monitor = ExitMonitor(tmp_path)
    start = time.monotonic()
    await monitor.wait(CID, 0.05)
    assert 0.04 < time.monotonic() - start < 0.5
    assert not monitor._waiters


async def test_a_failing_handler_is_logged_and_the_watch_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monitor, recorder = ExitMonitor(tmp_path, rescan_s=NEVER_S), Recorder(fail=True)
    with caplog.at_level(logging.ERROR):
        async with running(monitor, recorder):
            write_exit(tmp_path, CID)
            await recorder.until(CID)
            write_exit(tmp_path, "other")
            await recorder.until("other")
    assert "Could not record the exits" in caplog.text


def test_events_are_parsed_with_their_padded_names() -> None:
    name = CID.encode() + b"\0" * 16
    data = struct.pack("iIII", 1, 0x80, 0, len(name)) + name
    data += struct.pack("iIII", -1, 0x4000, 0, 0)
    assert list(exit_monitor.parse_events(data)) == [(0x80, CID), (0x4000, "")]
