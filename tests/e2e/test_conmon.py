"""conmon end to end: the real conmon and runc running a busybox container from a bundle built
here. Checks the handshake, the exit file, the CRI log format, ExecSync, and that conmon keeps
the container when the Python side that started it is gone. Nothing may be left behind: no
process, mount or cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from crio_py.backends import _exec, conmon, conmon_exec
from crio_py.backends.conmon import ConmonOptions, ConmonRelayedError
from tests.fixtures.procs import descendants, processes

pytestmark = pytest.mark.e2e

CONMON = shutil.which("conmon")
RUNC = shutil.which("runc")
BUSYBOX = Path("/bin/busybox")
if os.geteuid() != 0:
    pytest.skip("runc needs root to create containers", allow_module_level=True)
if CONMON is None or RUNC is None or not BUSYBOX.is_file():
    pytest.skip("needs conmon, runc and /bin/busybox (busybox-static)", allow_module_level=True)

CRI_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d) (stdout|stderr) (F|P) (.*)$"
)
APPLETS = ("sh", "echo", "sleep", "cat", "true")


@dataclass(frozen=True)
class Container:
    """One container's conmon options, and how runc finds it."""

    options: ConmonOptions
    runc_root: Path
    cgroup: str  # linux.cgroupsPath, below every v1 hierarchy's root

    @property
    def id(self) -> str:
        return self.options.container_id

    async def runc(self, *args: str, check: bool = True) -> _exec.CommandResult:
        assert RUNC is not None
        return await _exec.run([RUNC, "--root", str(self.runc_root), *args], timeout_s=30,
                               check=check)

    async def status(self) -> str:
        state = json.loads((await self.runc("state", self.id)).stdout)
        return str(state["status"])


def _bundle(bundle: Path, args: list[str], cgroup: str) -> None:
    """A busybox root filesystem and `runc spec`'s config, adjusted: no terminal, our args."""
    rootfs = bundle / "rootfs"
    for name in ("bin", "proc", "dev", "sys", "tmp"):
        (rootfs / name).mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    spec = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "HOME=/"],
            "cwd": "/",
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "conmon-e2e",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroup,
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
            "maskedPaths": ["/proc/kcore", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    (bundle / "config.json").write_text(json.dumps(spec, indent=1))


def _cgroup_dirs(cgroup: str) -> list[Path]:
    root = Path("/sys/fs/cgroup")
    return [d / cgroup.lstrip("/") for d in root.iterdir() if (d / cgroup.lstrip("/")).is_dir()]


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as stream:
        return {line.split()[4] for line in stream}


def _running(pid: int) -> bool:
    process = processes().get(pid)
    return process is not None and process.running


def _with_id(cid: str) -> list[str]:
    """Command lines of running processes that name the container (conmon, runc init)."""
    return [p.cmdline() for p in processes().values()
            if p.running and p.pid != os.getpid() and cid in p.cmdline()]


Make = Callable[[list[str]], Container]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    """Builds containers' bundles (`make(args)`); afterwards checks that each left nothing."""
    made: list[Container] = []
    mounts_before = _mounts()

    def build(args: list[str]) -> Container:
        cid = secrets.token_hex(32)
        root = tmp_path / cid[:8]
        cgroup = f"/crio-py-e2e-{cid[:16]}"
        _bundle(root / "bundle", args, cgroup)
        options = ConmonOptions(
            conmon_path=Path(str(CONMON)),
            container_id=cid,
            container_name=f"e2e-{cid[:8]}",
            bundle_dir=root / "bundle",
            runtime_path=Path(str(RUNC)),
            runtime_root=root / "runc",
            log_path=root / "logs" / "0.log",
            exits_dir=root / "exits",
            persist_dir=root / "persist",
            socket_dir=root / "sockets",
            container_pid_file=root / "bundle" / "pidfile",
            conmon_pid_file=root / "persist" / "conmon.pid",
            log_level="debug",
        )
        container = Container(options, root / "runc", cgroup)
        made.append(container)
        return container

    yield build
    problems = []
    for container in made:
        if (await container.runc("state", container.id, check=False)).returncode == 0:
            problems.append(f"container {container.id} was still there")
            await container.runc("delete", "--force", container.id, check=False)
        monitor = conmon.read_pid_file(container.options.conmon_pid_file)
        deadline = time.monotonic() + 5
        while monitor is not None and _running(monitor) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if monitor is not None and _running(monitor):
            os.kill(monitor, signal.SIGKILL)
            problems.append(f"conmon {monitor} still ran")
        if names := _with_id(container.id):
            problems.append(f"processes left: {names}")
        if dirs := _cgroup_dirs(container.cgroup):
            for d in dirs:
                with contextlib.suppress(OSError):
                    d.rmdir()
            problems.append(f"cgroups left: {dirs}")
    leaked = {m for m in _mounts() - mounts_before if m.startswith(str(tmp_path))}
    assert not leaked, f"mounts left: {leaked}"
    assert not problems, "\n".join(problems)


async def test_conmon_creates_logs_and_reports_the_exit_code(make: Make) -> None:
    container = make(["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    options = container.options
    pid = await conmon.create_container(options)
    assert pid == conmon.read_pid_file(options.container_pid_file)
    assert await container.status() == "created"
    monitor = conmon.read_pid_file(options.conmon_pid_file)
    assert monitor is not None and _running(monitor)
    assert monitor not in descendants(os.getpid())  # conmon forked away from us
    assert conmon.read_exit_file(options.exits_dir, container.id) is None
    assert _cgroup_dirs(container.cgroup), "runc made no cgroup"

    await container.runc("start", container.id)
    assert await conmon.wait_exit_file(options.exits_dir, container.id, timeout_s=10) == 3
    assert (options.persist_dir / "exit").read_text() == "3"
    lines = options.log_path.read_text().splitlines()
    parsed = [CRI_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert sorted(m.group(3, 4, 5) for m in parsed if m) == [
        ("stderr", "F", "oops"), ("stdout", "F", "hello"),
    ]  # fmt: skip
    assert await container.status() == "stopped"
    await container.runc("delete", container.id)
    assert not _cgroup_dirs(container.cgroup)


async def test_the_runtime_error_comes_back(make: Make) -> None:
    container = make(["/bin/no-such-binary"])
    # Global flags with separate values, as RuncRuntime.base_argv() gives them, reach runc.
    runtime_log = container.runc_root.parent / "runc.json"
    options = dataclasses.replace(
        container.options, runtime_args=("--log", str(runtime_log), "--log-format", "json")
    )
    with pytest.raises(ConmonRelayedError, match="no-such-binary") as caught:
        await conmon.create_container(options)
    assert caught.value.argv == conmon.runtime_create_argv(options)
    assert "no-such-binary" in runtime_log.read_text()
    await container.runc("delete", "--force", container.id)


async def test_conmon_keeps_the_container_when_its_starter_is_gone(make: Make) -> None:
    container = make(["sleep", "300"])
    options = container.options
    fields = {k: str(v) for k, v in vars(options).items() if isinstance(v, Path)}
    script = (
        "import asyncio, json, sys\n"
        "from pathlib import Path\n"
        "from crio_py.backends import conmon\n"
        "paths = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}\n"
        "options = conmon.ConmonOptions(container_id=sys.argv[2], **paths)\n"
        "print(asyncio.run(conmon.create_container(options)))\n"
    )
    starter = await _exec.run(
        [sys.executable, "-c", script, json.dumps(fields), container.id], timeout_s=60
    )
    pid = int(starter.stdout)
    monitor = conmon.read_pid_file(options.conmon_pid_file)
    assert monitor is not None and _running(monitor) and _running(pid)
    await container.runc("start", container.id)
    await asyncio.sleep(0.5)
    assert await container.status() == "running"
    assert _running(monitor)
    assert conmon.read_exit_file(options.exits_dir, container.id) is None

    await container.runc("kill", container.id, "KILL")
    assert await conmon.wait_exit_file(options.exits_dir, container.id, timeout_s=10) == 137
    await container.runc("delete", container.id)


async def test_exec_sync_in_a_running_container(make: Make, tmp_path: Path) -> None:
    container = make(["sleep", "300"])
    options = container.options
    init = await conmon.create_container(options)
    await container.runc("start", container.id)

    result = await conmon_exec.exec_sync(
        options, ["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=10,
        scratch_dir=tmp_path,
    )
    assert result == conmon_exec.ExecSyncResult(7, b"out\n", b"err\n")
    assert await conmon_exec.exec_sync(options, ["true"]) == conmon_exec.ExecSyncResult(0, b"", b"")

    started = time.monotonic()
    slow = await conmon_exec.exec_sync(options, ["sleep", "30"], timeout_s=1)
    assert slow == conmon_exec.ExecSyncResult(-1, b"", b"command timed out", timed_out=True)
    assert time.monotonic() - started < 10
    assert descendants(init) == {}  # the killed command is gone, not even a zombie

    with pytest.raises(ConmonRelayedError, match="no-such-binary"):
        await conmon_exec.exec_sync(options, ["/bin/no-such-binary"])

    assert await container.status() == "running"
    await container.runc("kill", container.id, "KILL")
    assert await conmon.wait_exit_file(options.exits_dir, container.id, timeout_s=10) == 137
    await container.runc("delete", container.id)
