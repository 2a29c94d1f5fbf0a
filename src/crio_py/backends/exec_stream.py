"""Interactive exec for the streaming server: `<runtime> exec` in the foreground, with pipes
for stdin, stdout and stderr, or with a terminal.

For a terminal the runtime gets the slave end of a pseudo-terminal of ours as its stdio and
relays it to the terminal it creates in the container (in raw mode). The master end is
ours: input and output both ways, and the window size, which the runtime copies into the
container when it gets SIGWINCH. The runtime stays in the foreground until the command exits
and returns its exit code (128+N after signal N).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import tempfile
import termios
from collections.abc import Sequence
from pathlib import Path

from crio_py.backends import _exec
from crio_py.backends.conmon_exec import exec_process_spec
from crio_py.backends.oci import OciRuntime

READ_SIZE = 64 * 1024


class ExecProcess:
    """A running streaming exec: write stdin, read output, resize, wait for the exit code."""

    def __init__(
        self, process: asyncio.subprocess.Process, master_fd: int, scratch: Path, argv: list[str]
    ) -> None:
        self.process = process
        self.master_fd = master_fd  # -1 without a terminal
        self.scratch = scratch
        self.argv = argv

    @property
    def tty(self) -> bool:
        return self.master_fd >= 0

    async def write_stdin(self, data: bytes) -> None:
        if self.tty:
            await _write_fd(self.master_fd, data)
            return
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def close_stdin(self) -> None:
        """End of input: the pipe closes; on a terminal an EOF character is sent instead."""
        if self.tty:
            await _write_fd(self.master_fd, b"\x04")
            return
        assert self.process.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.process.stdin.close()

    async def read_stdout(self) -> bytes:
        """The next output (b"" at the end); with a terminal, stdout and stderr together."""
        if self.tty:
            return await _read_fd(self.master_fd)
        assert self.process.stdout is not None
        return await self.process.stdout.read(READ_SIZE)

    async def read_stderr(self) -> bytes:
        if self.tty:
            return b""
        assert self.process.stderr is not None
        return await self.process.stderr.read(READ_SIZE)

    def resize(self, width: int, height: int) -> None:
        """Size our terminal, then tell the runtime, which copies it into the container."""
        if self.tty and width > 0 and height > 0:
            size = struct.pack("HHHH", height, width, 0, 0)
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, size)
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGWINCH)

    async def wait(self) -> int:
        """The command's exit code, once the runtime returns."""
        return await self.process.wait()

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    def close(self) -> None:
        """Release the terminal and the scratch directory (after `wait` or `kill`)."""
        if self.master_fd >= 0:
            os.close(self.master_fd)
            self.master_fd = -1
        for name in ("process.json", "exec.pid"):
            with contextlib.suppress(FileNotFoundError):
                (self.scratch / name).unlink()
        with contextlib.suppress(OSError):
            self.scratch.rmdir()


async def start_exec(
    runtime: OciRuntime,
    container_id: str,
    bundle_dir: Path,
    command: Sequence[str],
    *,
    tty: bool,
    scratch_dir: Path,
) -> ExecProcess:
    """Start `command` in the running container; the caller must `wait` (or `kill`) and
    `close` the result."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="exec-", dir=scratch_dir))
    spec = scratch / "process.json"
    spec.write_text(json.dumps(exec_process_spec(bundle_dir, command, tty=tty)), encoding="utf-8")
    argv = runtime.exec_argv(
        container_id, spec, pid_file=scratch / "exec.pid", tty=tty, detach=False
    )
    if not tty:
        process = await _exec.spawn(
            argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return ExecProcess(process, -1, scratch, argv)
    master, slave = os.openpty()
    try:
        process = await _exec.spawn(argv, stdin=slave, stdout=slave, stderr=slave)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return ExecProcess(process, master, scratch, argv)


async def _ready(fd: int, *, write: bool) -> None:
    """Wait until a non-blocking descriptor can be read (or written)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if write else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


async def _read_fd(fd: int) -> bytes:
    while True:
        await _ready(fd, write=False)
        try:
            return os.read(fd, READ_SIZE)
        except BlockingIOError:
            continue
        except OSError:  # EIO once the command and the terminal are gone
            return b""


async def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        await _ready(fd, write=True)
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
