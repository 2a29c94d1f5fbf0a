"""Exits as events: inotify on conmon's exits directory (CRI-O's `StartExitMonitor` watches the
same directory with fsnotify), read with `loop.add_reader`, plus a slow re-scan for events
the kernel dropped (a queue overflow) and for exits written before the watch began.

It tells `on_exits` which containers have an exit file and wakes whoever `wait`s for one of
them. It knows nothing of what an exit file holds (`conmon.py` reads it) nor of container
records. Where inotify cannot be had (no instances left), it polls instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from crio_py.backends import conmon

logger = logging.getLogger(__name__)

RESCAN_S = 5.0
"""How often the whole directory is listed again, in case an event was lost."""
FALLBACK_POLL_S = 0.1
"""How often the directory is listed when inotify is not available."""
WAKE_S = 1.0
"""The longest a waiter sleeps before it looks at the exit file again by itself."""

# <sys/inotify.h>. conmon writes the exit file and closes it, or renames a complete one into
# place (g_file_set_contents); IN_CREATE would come before the code is written.
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name
_READ_SIZE = 64 * 1024

ExitHandler = Callable[[set[str]], Awaitable[None]]


class ExitMonitor:
    """One watcher of one exits directory; `run` is a task for the daemon's lifetime."""

    def __init__(self, exits_dir: Path, *, rescan_s: float = RESCAN_S) -> None:
        self.exits_dir = exits_dir
        self.rescan_s = rescan_s
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._pending: asyncio.Queue[set[str]] = asyncio.Queue()

    async def run(self, on_exits: ExitHandler) -> None:
        """Watch until cancelled: `on_exits(ids)` for each batch of exit files seen, and for
        all of them once at the start and every `rescan_s`."""
        self.exits_dir.mkdir(parents=True, exist_ok=True)
        fd = _open_inotify(self.exits_dir)
        loop = asyncio.get_running_loop()
        if fd is not None:
            loop.add_reader(fd, self._read_events, fd)
        interval = self.rescan_s if fd is not None else FALLBACK_POLL_S
        rescan = loop.create_task(self._rescan_every(interval))
        try:
            await self._deliver(on_exits)
        finally:
            rescan.cancel()
            if fd is not None:
                loop.remove_reader(fd)
                os.close(fd)

    async def wait(self, container_id: str, timeout_s: float) -> None:
        """Return when an exit file of `container_id` is seen, or after `timeout_s` (at most
        WAKE_S); the caller then reads the file itself, so a lost event costs a second."""
        event = asyncio.Event()
        self._waiters.setdefault(container_id, set()).add(event)
        try:
            async with asyncio.timeout(min(timeout_s, WAKE_S)):
                await event.wait()
        except TimeoutError:
            pass
        finally:
            waiting = self._waiters.get(container_id, set())
            waiting.discard(event)
            if not waiting:
                self._waiters.pop(container_id, None)

    def seen(self, container_ids: set[str]) -> None:
        """Exit files of `container_ids` appeared: wake their waiters, queue them for
        `on_exits`."""
        for container_id in container_ids:
            for event in self._waiters.get(container_id, ()):
                event.set()
        self._pending.put_nowait(container_ids)

    async def _deliver(self, on_exits: ExitHandler) -> None:
        self.seen(conmon.exited_ids(self.exits_dir))
        while True:
            container_ids = await self._pending.get()
            while not self._pending.empty():
                container_ids |= self._pending.get_nowait()
            try:
                await on_exits(container_ids)
            except Exception:
                logger.exception("Could not record the exits of containers %s", container_ids)

    async def _rescan_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.seen(conmon.exited_ids(self.exits_dir))

    def _read_events(self, fd: int) -> None:
        container_ids: set[str] = set()
        overflow = False
        while True:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                break
            if not data:
                break
            for mask, name in parse_events(data):
                overflow = overflow or bool(mask & IN_Q_OVERFLOW)
                if name and not name.startswith("."):
                    container_ids.add(name)
        if overflow:
            logger.warning("Exit events were lost; listing %s again", self.exits_dir)
            container_ids |= conmon.exited_ids(self.exits_dir)
        if container_ids:
            self.seen(container_ids)


def parse_events(data: bytes) -> Iterator[tuple[int, str]]:
    """The (mask, name) of each `struct inotify_event` in one read."""
    offset = 0
    while offset + _EVENT.size <= len(data):
        _, mask, _, length = _EVENT.unpack_from(data, offset)
        start = offset + _EVENT.size
        name = data[start : start + length].rstrip(b"\0").decode("utf-8", "replace")
        yield mask, name
        offset = start + length


def _open_inotify(directory: Path) -> int | None:
    """A non-blocking inotify descriptor watching `directory`, or None (logged) if the
    kernel gives none."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = int(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
    if fd < 0:
        _warn_polling(directory, ctypes.get_errno())
        return None
    mask = ctypes.c_uint32(IN_CLOSE_WRITE | IN_MOVED_TO)
    if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
        _warn_polling(directory, ctypes.get_errno())
        os.close(fd)
        return None
    return fd


def _warn_polling(directory: Path, error: int) -> None:
    logger.warning(
        "Cannot watch %s with inotify (%s); polling it every %.1f s",
        directory,
        os.strerror(error),
        FALLBACK_POLL_S,
    )
