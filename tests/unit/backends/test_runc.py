"""RuncRuntime: the exact argv of every operation for runc, crun, runsc and a
nvidia-container-runtime path, error translation, idempotent kill/delete, state parsing,
`runtime_for` refusing shim v2 handlers, and one lifecycle on the real runc (e2e).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from crio_py.backends.oci import ContainerState, runtime_for
from crio_py.backends.runc import RuncRuntime, takes_prepared_mounts
from crio_py.config.model import RuntimeHandler
from crio_py.errors import (
    AlreadyExistsError,
    CommandError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnimplementedError,
)

CID = "c" * 64
NVIDIA = "/usr/local/nvidia/toolkit/nvidia-container-runtime"


def _handler(name: str, binary: str, **fields: Any) -> RuntimeHandler:
    defaults: dict[str, Any] = {
        "kind": "oci",
        "runtime_type": "io.containerd.runc.v2",
        "cgroup_driver": "cgroupfs",
    }
    return RuntimeHandler(name=name, binary=binary, **{**defaults, **fields})


HANDLERS = {
    "runc": _handler("runc", "runc"),
    "runc-systemd": _handler("runc", "runc", cgroup_driver="systemd", root=Path("/run/runc")),
    "crun": _handler("crun", "/usr/bin/crun", runtime_type="oci"),
    "runsc": _handler(
        "runsc",
        "runsc",
        runtime_type="io.containerd.runsc.v1",
        flavour="runsc",
        extra_flags=("--network=none", "--platform=ptrace"),
    ),
    "nvidia": _handler("nvidia", NVIDIA, root=Path("/run/nvidia-runc")),
}


def _expected_base(key: str, state_dir: Path) -> list[str]:
    """The global flags each handler must produce, written out by hand."""
    log = ["--log", str(state_dir / "runtime-logs" / f"{HANDLERS[key].name}.json")]
    log += ["--log-format", "json"]
    return {
        "runc": ["runc", "--root", str(state_dir / "runtimes" / "runc"), *log],
        "runc-systemd": ["runc", "--root", "/run/runc", "--systemd-cgroup", *log],
        "crun": ["/usr/bin/crun", "--root", str(state_dir / "runtimes" / "crun"), *log],
        "runsc": [
            "runsc",
            "--root",
            str(state_dir / "runtimes" / "runsc"),
            *log,
            "--network=none",
            "--platform=ptrace",
        ],
        "nvidia": [NVIDIA, "--root", "/run/nvidia-runc", *log],
    }[key]


def _runtime(key: str, state_dir: Path, **kwargs: Any) -> RuncRuntime:
    return RuncRuntime(HANDLERS[key], state_dir=state_dir, **kwargs)


def _state_json(status: str = "running", pid: int = 4242, **extra: Any) -> str:
    return json.dumps(
        {
            "ociVersion": "1.0.2-dev",
            "id": CID,
            "pid": pid,
            "status": status,
            "bundle": "/var/lib/crio-py/bundles/" + CID,
            **extra,
        }
    )


# --- global flags -------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(HANDLERS))
def test_base_argv_carries_root_cgroup_driver_log_and_extra_flags(key: str, tmp_path: Path) -> None:
    runtime = _runtime(key, tmp_path)
    assert runtime.base_argv() == _expected_base(key, tmp_path)
    assert (tmp_path / "runtime-logs").is_dir()


def test_the_handler_flavour_not_the_binary_name_picks_the_command_line(tmp_path: Path) -> None:
    # Settings decide the flavour when they are loaded; the runtime never guesses from names.
    gvisor = _handler("gvisor", "/opt/gvisor/bin/gvisor-runsc", flavour="runsc")
    named_runsc = _handler("wrapped", "/usr/local/bin/runsc")
    assert not takes_prepared_mounts(gvisor)
    assert takes_prepared_mounts(named_runsc)


# --- the argv of every operation ----------------------------------------------------------

Operation = Callable[[RuncRuntime], Awaitable[object]]

OPERATIONS: dict[str, tuple[list[str], Operation, str]] = {
    # name: (argv after the global flags, the call, stdout to fake)
    "start": (["start", CID], lambda r: r.start(CID), ""),
    "state": (["state", CID], lambda r: r.state(CID), _state_json()),
    "kill": (["kill", CID, "15"], lambda r: r.kill(CID, signal.SIGTERM), ""),
    "kill-all": (
        ["kill", "--all", CID, "9"],
        lambda r: r.kill(CID, signal.SIGKILL, all_processes=True),
        "",
    ),
    "delete": (["delete", CID], lambda r: r.delete(CID), ""),
    "delete-force": (["delete", "--force", CID], lambda r: r.delete(CID, force=True), ""),
    "pause": (["pause", CID], lambda r: r.pause(CID), ""),
    "resume": (["resume", CID], lambda r: r.resume(CID), ""),
    "ps": (["ps", "--format", "json", CID], lambda r: r.ps(CID), "[4242, 4243]\n"),
    "update": (
        ["update", "--resources", "/run/crio-py/res.json", CID],
        lambda r: r.update(CID, Path("/run/crio-py/res.json")),
        "",
    ),
    "create": (
        ["create", "--bundle", "/b", "--pid-file", "/b/pid", CID],
        lambda r: r.create(CID, Path("/b"), pid_file=Path("/b/pid")),
        "",
    ),
    "create-console": (
        ["create", "--bundle", "/b", "--pid-file", "/b/pid", "--console-socket", "/b/cs", CID],
        lambda r: r.create(CID, Path("/b"), pid_file=Path("/b/pid"), console_socket=Path("/b/cs")),
        "",
    ),
}


# runsc has no update command: test_runsc_refuses_update covers it.
ARGV_CASES = [
    (key, operation)
    for key in sorted(HANDLERS)
    for operation in sorted(OPERATIONS)
    if (key, operation) != ("runsc", "update")
]


@pytest.mark.parametrize(("key", "operation"), ARGV_CASES)
async def test_each_operation_runs_the_exact_argv(
    key: str, operation: str, fp: FakeProcess, tmp_path: Path
) -> None:
    tail, call, stdout = OPERATIONS[operation]
    argv = [*_expected_base(key, tmp_path), *tail]
    fp.register(argv, stdout=stdout)
    await call(_runtime(key, tmp_path))
    assert fp.call_count(argv) == 1
    assert len(fp.calls) == 1


@pytest.mark.parametrize(
    ("key", "flag"), [("runc", ["--no-pivot"]), ("crun", ["--no-pivot"]), ("runsc", [])]
)
async def test_create_without_pivot_root_where_the_runtime_can(
    key: str, flag: list[str], fp: FakeProcess, tmp_path: Path
) -> None:
    handler = HANDLERS[key].model_copy(update={"no_pivot": True})
    argv = [*_expected_base(key, tmp_path), "create", "--bundle", "/b", "--pid-file", "/b/pid"]
    fp.register([*argv, *flag, CID])
    await RuncRuntime(handler, state_dir=tmp_path).create(CID, Path("/b"), pid_file=Path("/b/pid"))
    assert len(fp.calls) == 1


@pytest.mark.parametrize(
    ("key", "tty", "detach", "flags"),
    [
        ("runc", False, True, ["--detach"]),
        ("runc", True, True, ["--detach", "--tty"]),
        ("runc-systemd", False, False, []),
        ("crun", True, False, ["--tty"]),
        ("nvidia", False, True, ["--detach"]),
        ("runsc", True, True, ["--detach"]),  # runsc exec has no --tty: process.json decides
    ],
)
def test_exec_argv(key: str, tty: bool, detach: bool, flags: list[str], tmp_path: Path) -> None:
    argv = _runtime(key, tmp_path).exec_argv(
        CID, Path("/run/p.json"), pid_file=Path("/run/exec.pid"), tty=tty, detach=detach
    )
    assert argv == [
        *_expected_base(key, tmp_path),
        "exec",
        "--process",
        "/run/p.json",
        "--pid-file",
        "/run/exec.pid",
        *flags,
        CID,
    ]


async def test_runsc_refuses_update(fp: FakeProcess, tmp_path: Path) -> None:
    with pytest.raises(UnimplementedError, match="runsc"):
        await _runtime("runsc", tmp_path).update(CID, Path("/r.json"))
    assert len(fp.calls) == 0


# --- error translation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "operation", "stderr", "error"),
    [
        ("runc", "state", 'level=error msg="container does not exist"', NotFoundError),
        ("runc", "start", "container does not exist\n", NotFoundError),
        ("runsc", "state", "loading container: file does not exist\n", NotFoundError),
        ("runsc", "pause", f'loading container "{CID}": not found\n', NotFoundError),
        (
            "runc",
            "create",
            "runc create failed: container with given ID already exists\n",
            AlreadyExistsError,
        ),
        ("crun", "create", f"container `{CID}` already exists\n", AlreadyExistsError),
        (
            "runsc",
            "create",
            "creating container: cannot lock container metadata file: container already exists\n",
            AlreadyExistsError,
        ),
        ("runc", "start", "cannot start an already running container\n", FailedPreconditionError),
        ("runc", "start", "cannot start a container that has stopped\n", FailedPreconditionError),
        ("runc", "pause", "container not running\n", FailedPreconditionError),
        ("runc", "resume", "container not paused\n", FailedPreconditionError),
        ("runc", "update", "container not running\n", FailedPreconditionError),
        # The kernel refused a value: the request's fault, not the runtime's.
        (
            "runc",
            "update",
            'failed to write "0-9999": write cpuset.cpus: invalid argument\n',
            InvalidArgumentError,
        ),
        ("runc", "ps", "container is not running\n", FailedPreconditionError),
        (
            "runc",
            "delete",
            f"cannot delete container {CID} that is not stopped: running\n",
            FailedPreconditionError,
        ),
        (
            "crun",
            "delete",
            f"the container `{CID}` is not in 'stopped' state\n",
            FailedPreconditionError,
        ),
        (
            "runsc",
            "start",
            f'starting container: cannot start container "{CID}" in state running',
            FailedPreconditionError,
        ),
        (
            "runsc",
            "ps",
            f'getting processes for container: cannot get processes of container "{CID}" in state '
            "stopped",
            FailedPreconditionError,
        ),
        ("runc", "start", "permission denied: something else\n", CommandError),
        # A missing bundle file on create is not a missing container.
        ("runc", "create", 'exec: "/app": executable file not found in $PATH\n', CommandError),
    ],
)
async def test_failures_become_domain_errors(
    key: str,
    operation: str,
    stderr: str,
    error: type[Exception],
    fp: FakeProcess,
    tmp_path: Path,
) -> None:
    tail, call, _ = OPERATIONS[operation]
    argv = [*_expected_base(key, tmp_path), *tail]
    if operation == "create":  # create runs on /dev/null: the error comes from --log
        fp.register(argv, returncode=1, callback=_logs(tmp_path / "runtime-logs", key, stderr))
        stderr = stderr.strip()
    else:
        fp.register(argv, returncode=1, stderr=stderr)
    with pytest.raises(error) as caught:
        await call(_runtime(key, tmp_path))
    assert type(caught.value) is error
    if error is CommandError:  # kept as the runner raised it: argv, exit code and stderr
        assert isinstance(caught.value, CommandError)
        assert (caught.value.argv, caught.value.returncode) == (argv, 1)
        assert caught.value.stderr == stderr
    else:
        assert CID in str(caught.value)
        assert isinstance(caught.value.__cause__, CommandError)


def _logs(log_dir: Path, key: str, *messages: str) -> Callable[[object], None]:
    """A fake runtime that appends error records to its --log file, as runsc does (no
    newlines) or as runc and crun do (one per line)."""

    def callback(process: object) -> None:
        records = [
            json.dumps({"msg": m.strip(), "level": "error", "time": "2026-11-28T11:44:36Z"})
            for m in messages
        ]
        with open(log_dir / f"{HANDLERS[key].name}.json", "a") as log:
            log.write("".join(records) if key == "runsc" else "".join(r + "\n" for r in records))

    return callback


@pytest.mark.parametrize("key", ["runc", "runsc"])
async def test_create_reports_only_the_errors_it_logged(
    key: str, fp: FakeProcess, tmp_path: Path
) -> None:
    runtime = _runtime(key, tmp_path)
    _logs(tmp_path / "runtime-logs", key, "an older failure of another container")(None)
    with open(runtime.log_path, "a") as log:
        log.write('{"msg":"a warning","level":"warning"}\n')
    tail, call, _ = OPERATIONS["create"]
    fp.register(
        [*_expected_base(key, tmp_path), *tail],
        returncode=1,
        callback=_logs(tmp_path / "runtime-logs", key, "first error", "second error"),
    )
    with pytest.raises(CommandError) as caught:
        await call(runtime)
    assert caught.value.stderr == "first error\nsecond error"


async def test_create_gives_up_on_a_runtime_that_hangs(fp: FakeProcess, tmp_path: Path) -> None:
    tail, call, _ = OPERATIONS["create"]
    fp.register([*_expected_base("runc", tmp_path), *tail], wait=0.5)
    with pytest.raises(CommandError, match=r"no answer within 0\.1 s") as caught:
        await call(_runtime("runc", tmp_path, timeout_s=0.1))
    assert caught.value.returncode is None


async def test_crun_missing_state_file_is_not_found(fp: FakeProcess, tmp_path: Path) -> None:
    root = tmp_path / "runtimes" / "crun"
    argv = [*_expected_base("crun", tmp_path), "start", CID]
    fp.register(
        argv,
        returncode=1,
        stderr=f"error opening file `{root}/{CID}/status`: No such file or directory\n",
    )
    with pytest.raises(NotFoundError):
        await _runtime("crun", tmp_path).start(CID)


async def test_a_runtime_that_never_answers_is_a_command_error(
    fp: FakeProcess, tmp_path: Path
) -> None:
    argv = [*_expected_base("runc", tmp_path), "state", CID]
    fp.register(argv, wait=0.5)
    with pytest.raises(CommandError) as caught:
        await _runtime("runc", tmp_path, timeout_s=0.1).state(CID)
    assert type(caught.value) is CommandError
    assert caught.value.returncode is None


# --- idempotent kill and delete -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "stderr"),
    [
        ("runc", 'level=error msg="container not running"'),
        ("crun", "kill container: No such process\n"),
        ("nvidia", "os: process already finished\n"),
    ],
)
async def test_killing_a_stopped_container_is_fine(
    key: str, stderr: str, fp: FakeProcess, tmp_path: Path
) -> None:
    argv = [*_expected_base(key, tmp_path), "kill", CID, "9"]
    fp.register(argv, returncode=1, stderr=stderr)
    await _runtime(key, tmp_path).kill(CID, signal.SIGKILL)
    assert len(fp.calls) == 1


async def test_killing_a_stopped_runsc_sandbox_asks_its_state(
    fp: FakeProcess, tmp_path: Path
) -> None:
    base = _expected_base("runsc", tmp_path)
    fp.register(
        [*base, "kill", CID, "9"],
        returncode=128,
        stderr="connecting to control server at PID 4242: connection refused\n",
    )
    fp.register([*base, "state", CID], stdout=_state_json("stopped", pid=0))
    await _runtime("runsc", tmp_path).kill(CID, signal.SIGKILL)
    assert fp.call_count([*base, "state", CID]) == 1


async def test_a_kill_that_fails_on_a_running_container_is_raised(
    fp: FakeProcess, tmp_path: Path
) -> None:
    base = _expected_base("runsc", tmp_path)
    fp.register([*base, "kill", CID, "9"], returncode=128, stderr="connection refused\n")
    fp.register([*base, "state", CID], stdout=_state_json("running"))
    with pytest.raises(CommandError, match="connection refused"):
        await _runtime("runsc", tmp_path).kill(CID, signal.SIGKILL)


async def test_killing_a_missing_container_is_not_found(fp: FakeProcess, tmp_path: Path) -> None:
    argv = [*_expected_base("runc", tmp_path), "kill", CID, "9"]
    fp.register(argv, returncode=1, stderr="container does not exist\n")
    with pytest.raises(NotFoundError):
        await _runtime("runc", tmp_path).kill(CID, signal.SIGKILL)


@pytest.mark.parametrize(
    ("key", "stderr"),
    [
        ("runc", 'level=error msg="container does not exist"'),
        ("crun", "cannot open directory '{root}/" + CID + "': No such file or directory\n"),
        ("runsc", f'loading container "{CID}": file does not exist\n'),
    ],
)
async def test_deleting_a_missing_container_is_fine(
    key: str, stderr: str, fp: FakeProcess, tmp_path: Path
) -> None:
    runtime = _runtime(key, tmp_path)
    argv = [*_expected_base(key, tmp_path), "delete", CID]
    fp.register(argv, returncode=1, stderr=stderr.format(root=runtime.root))
    await runtime.delete(CID)
    assert len(fp.calls) == 1


# --- state and ps parsing -----------------------------------------------------------------


async def test_state_of_runc(fp: FakeProcess, tmp_path: Path) -> None:
    stdout = _state_json("created", created="2026-11-28T11:44:11.785146842Z", owner="")
    fp.register([*_expected_base("runc", tmp_path), "state", CID], stdout=stdout)
    assert await _runtime("runc", tmp_path).state(CID) == ContainerState(
        id=CID,
        status="created",
        pid=4242,
        bundle=Path("/var/lib/crio-py/bundles/" + CID),
        created=datetime(2026, 11, 28, 11, 44, 11, 785146, tzinfo=UTC),
    )


async def test_state_of_runsc_has_no_creation_time(fp: FakeProcess, tmp_path: Path) -> None:
    fp.register(
        [*_expected_base("runsc", tmp_path), "state", CID], stdout=_state_json("stopped", pid=0)
    )
    state = await _runtime("runsc", tmp_path).state(CID)
    assert (state.status, state.pid, state.created) == ("stopped", 0, None)


@pytest.mark.parametrize(
    ("reported", "status"), [("paused", "paused"), ("pausing", "paused"), ("creating", "created")]
)
async def test_transitional_states_are_folded(
    reported: str, status: str, fp: FakeProcess, tmp_path: Path
) -> None:
    fp.register([*_expected_base("runc", tmp_path), "state", CID], stdout=_state_json(reported))
    assert (await _runtime("runc", tmp_path).state(CID)).status == status


@pytest.mark.parametrize("stdout", ["not json", _state_json("exploded"), "[]", '{"pid": 1}'])
async def test_unreadable_state_is_a_command_error(
    stdout: str, fp: FakeProcess, tmp_path: Path
) -> None:
    fp.register([*_expected_base("runc", tmp_path), "state", CID], stdout=stdout)
    with pytest.raises(CommandError, match="unreadable state"):
        await _runtime("runc", tmp_path).state(CID)


@pytest.mark.parametrize(("stdout", "pids"), [("[1, 22]\n", [1, 22]), ("null\n", [])])
async def test_ps(stdout: str, pids: list[int], fp: FakeProcess, tmp_path: Path) -> None:
    fp.register([*_expected_base("runc", tmp_path), "ps", "--format", "json", CID], stdout=stdout)
    assert await _runtime("runc", tmp_path).ps(CID) == pids


async def test_unreadable_ps_is_a_command_error(fp: FakeProcess, tmp_path: Path) -> None:
    fp.register(
        [*_expected_base("runc", tmp_path), "ps", "--format", "json", CID], stdout="PID CMD\n"
    )
    with pytest.raises(CommandError, match="unreadable pid list"):
        await _runtime("runc", tmp_path).ps(CID)


# --- runtime_for --------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(HANDLERS))
def test_runtime_for_oci_handlers(key: str, tmp_path: Path) -> None:
    runtime = runtime_for(HANDLERS[key], state_dir=tmp_path)
    assert isinstance(runtime, RuncRuntime)
    assert runtime.base_argv() == _expected_base(key, tmp_path)


def test_runtime_for_refuses_a_shim_v2_handler(tmp_path: Path) -> None:
    kata = _handler(
        "kata", "containerd-shim-kata-v2", kind="vm", runtime_type="io.containerd.kata.v2"
    )
    with pytest.raises(UnimplementedError) as caught:
        runtime_for(kata, state_dir=tmp_path)
    assert str(caught.value) == (
        "runtime handler kata (io.containerd.kata.v2) is a shim v2 runtime, "
        "which crio-py cannot drive"
    )


def test_runtime_for_refuses_a_pod_handler(tmp_path: Path) -> None:
    pod = _handler("conmonrs", "crun", kind="pod", runtime_type="pod")
    with pytest.raises(UnimplementedError, match=r"runtime handler conmonrs \(pod\).*cannot drive"):
        runtime_for(pod, state_dir=tmp_path)


# --- the real runc ------------------------------------------------------------------------


def _bundle(tmp_path: Path) -> Path:
    """A bundle whose rootfs is the static busybox, running `sleep 30`."""
    bundle = tmp_path / "bundle"
    bin_dir = bundle / "rootfs" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2("/bin/busybox", bin_dir / "busybox")
    for applet in ("sh", "sleep"):
        (bin_dir / applet).symlink_to("busybox")
    subprocess.run(["runc", "spec", "--rootless=false"], cwd=bundle, check=True, timeout=30)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = ["/bin/sh", "-c", "sleep 30"]
    config["process"]["terminal"] = False
    config_path.write_text(json.dumps(config))
    return bundle


def _cgroup_dirs(pid: int, container_id: str) -> list[Path]:
    """The cgroup directories runc made for the container (v1, hybrid or v2)."""
    found = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if not path.endswith(container_id):
            continue
        names = [c.removeprefix("name=") for c in controllers.split(",") if c]
        mounts = [controllers.removeprefix("name="), *names] if names else ["unified", ""]
        for mount in mounts:
            directory = Path("/sys/fs/cgroup", mount, path.lstrip("/"))
            if directory.is_dir():
                found.append(directory)
                break
    return found


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _mounted(*needles: str) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line for line in lines if any(needle in line for needle in needles)]


@pytest.fixture
def real_runc(tmp_path: Path) -> Iterator[RuncRuntime]:
    if os.geteuid() != 0:
        pytest.skip("the real runc lifecycle needs root")
    if shutil.which("runc") is None or not Path("/bin/busybox").is_file():
        pytest.skip("the real runc lifecycle needs runc and /bin/busybox")
    yield RuncRuntime(_handler("runc", "runc"), state_dir=tmp_path / "state")


@pytest.mark.e2e
async def test_real_runc_lifecycle(real_runc: RuncRuntime, tmp_path: Path) -> None:
    runtime = real_runc
    bundle = _bundle(tmp_path)
    container_id = f"crio-py-test-{uuid.uuid4().hex}"
    pid_file = tmp_path / "init.pid"
    try:
        await runtime.create(container_id, bundle, pid_file=pid_file)
        with pytest.raises(AlreadyExistsError):
            await runtime.create(container_id, bundle, pid_file=tmp_path / "again.pid")
        created = await runtime.state(container_id)
        pid = int(pid_file.read_text())
        assert (created.id, created.status, created.pid, created.bundle) == (
            container_id,
            "created",
            pid,
            bundle,
        )
        assert created.created is not None

        await runtime.start(container_id)
        running = await runtime.state(container_id)
        assert (running.status, running.pid) == ("running", pid)
        assert pid in await runtime.ps(container_id)
        cgroups = _cgroup_dirs(pid, container_id)
        assert cgroups, f"no cgroup of {container_id} in /proc/{pid}/cgroup"

        await runtime.kill(container_id, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (await runtime.state(container_id)).status != "stopped":
            assert time.monotonic() < deadline, "the container did not stop after SIGKILL"
            await asyncio.sleep(0.05)
        await runtime.kill(container_id, signal.SIGKILL)  # idempotent on a stopped container

        await runtime.delete(container_id)
        await runtime.delete(container_id)  # idempotent on a missing container
        with pytest.raises(NotFoundError):
            await runtime.state(container_id)
        assert not _alive(pid)
        assert not (runtime.root / container_id).exists()
        assert _mounted(str(bundle), container_id) == []
        assert [c for c in cgroups if c.exists()] == []
    finally:
        subprocess.run(
            [*runtime.base_argv(), "delete", "--force", container_id],
            capture_output=True,
            check=False,
            timeout=60,
        )
