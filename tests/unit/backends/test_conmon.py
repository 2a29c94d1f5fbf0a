"""conmon: the exact argv, the sync/start pipe handshake (against tests/fakes/bin/fake-conmon),
relayed runtime errors, exit files and ExecSync."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crio_py.backends import conmon, conmon_exec
from crio_py.backends.conmon import ConmonOptions, ConmonRelayedError
from crio_py.errors import CommandError, DeadlineExceededError, InvalidArgumentError

FAKE_CONMON = Path(__file__).parents[2] / "fakes" / "bin" / "fake-conmon"
CID = "0123456789abcdef" * 4
RUNC_ERROR = (
    'time="2024-05-06T07:08:09Z" level=error msg="runc create failed: unable to start container'
    ' process: exec: \\"nope\\": executable file not found in $PATH"\n'
)


def _options(root: Path, **changes: object) -> ConmonOptions:
    options = ConmonOptions(
        conmon_path=Path("/usr/bin/conmon"),
        container_id=CID,
        bundle_dir=root / "bundle",
        runtime_path=Path("/usr/sbin/runc"),
        log_path=root / "logs" / "c.log",
        exits_dir=root / "exits",
        persist_dir=root / "persist",
        socket_dir=root / "sockets",
        container_pid_file=root / "bundle" / "pidfile",
        conmon_pid_file=root / "persist" / "conmon.pid",
    )
    return dataclasses.replace(options, **changes)  # type: ignore[arg-type]


@pytest.fixture
def fake(tmp_path: Path) -> ConmonOptions:
    """Options that run the fake conmon on a bundle in tmp_path (it records to record.json)."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    process = {
        "args": ["sleep", "1"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
    }
    (bundle / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "process": process}))
    env = (*conmon.DEFAULT_ENV, f"FAKE_CONMON_RECORD={tmp_path / 'record.json'}")
    return _options(tmp_path, conmon_path=FAKE_CONMON, env=env)


def _with_env(options: ConmonOptions, **env: str) -> ConmonOptions:
    extra = tuple(f"FAKE_CONMON_{key.upper()}={value}" for key, value in env.items())
    return dataclasses.replace(options, env=(*options.env, *extra))


def _record(options: ConmonOptions) -> dict[str, object]:
    record = json.loads((options.persist_dir.parent / "record.json").read_text())
    assert isinstance(record, dict)
    return record


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


async def _wait_gone(pid: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not _gone(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        await asyncio.sleep(0.02)


def _pipes() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the listing's own descriptor
            continue
        if target.startswith("pipe:"):
            found.add(f"{fd}->{target}")
    return found


@pytest.fixture(autouse=True)
def no_pipe_left_open() -> Iterator[None]:
    """Every test here must close both ends of both pipes, whatever went wrong."""
    before = _pipes()
    yield
    assert _pipes() - before == set()


# --- argv -------------------------------------------------------------------------------------


def test_argv_of_a_plain_container() -> None:
    root = Path("/run/crio-py")
    assert conmon.conmon_argv(_options(root)) == [
        "/usr/bin/conmon",
        "-b", "/run/crio-py/bundle",
        "-c", CID,
        "--exit-dir", "/run/crio-py/exits",
        "-l", "/run/crio-py/logs/c.log",
        "--log-level", "info",
        "-n", CID,
        "-P", "/run/crio-py/persist/conmon.pid",
        "-p", "/run/crio-py/bundle/pidfile",
        "--persist-dir", "/run/crio-py/persist",
        "-r", "/usr/sbin/runc",
        "--socket-dir-path", "/run/crio-py/sockets",
        "-u", CID,
    ]  # fmt: skip


def test_argv_with_every_option() -> None:
    options = _options(
        Path("/r"),
        container_name="k8s_web_pod_default_uid_0",
        runtime_root=Path("/run/runsc"),
        runtime_args=("--platform=ptrace", "--debug"),
        log_size_max=1048576,
        log_tag="web",
        log_level="debug",
        systemd_cgroup=True,
        no_pivot=True,
        no_sync_log=True,
        syslog=True,
        tty=True,
        stdin=True,
    )
    assert conmon.conmon_argv(options) == [
        "/usr/bin/conmon",
        "-b", "/r/bundle",
        "-c", CID,
        "--exit-dir", "/r/exits",
        "-l", "/r/logs/c.log",
        "--log-level", "debug",
        "-n", "k8s_web_pod_default_uid_0",
        "-P", "/r/persist/conmon.pid",
        "-p", "/r/bundle/pidfile",
        "--persist-dir", "/r/persist",
        "-r", "/usr/sbin/runc",
        "--runtime-arg", "--root=/run/runsc",
        "--runtime-arg", "--platform=ptrace",
        "--runtime-arg", "--debug",
        "--socket-dir-path", "/r/sockets",
        "--syslog",
        "-u", CID,
        "-s",
        "--log-size-max", "1048576",
        "--log-tag", "web",
        "--no-sync-log",
        "--no-pivot",
        "-t",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "tail"),
    [
        ({"stdin": True}, ["--leave-stdin-open", "-i"]),
        ({"stdin": True, "stdin_once": True}, ["-i"]),
        ({"tty": True, "stdin": True, "stdin_once": True}, ["-t"]),
        ({"log_size_max": 0}, ["--log-size-max", "0"]),
        ({"log_size_max": -1}, []),
        ({"runtime_root": Path("/run/runc")}, []),
    ],
)
def test_argv_stdin_tty_and_log_size(changes: dict[str, object], tail: list[str]) -> None:
    argv = conmon.conmon_argv(_options(Path("/r"), **changes))
    assert argv[argv.index("-u") + 2 :] == tail
    if "runtime_root" in changes:
        assert argv[argv.index("-r") + 2 : argv.index("-r") + 4] == [
            "--runtime-arg", "--root=/run/runc",
        ]  # fmt: skip


def test_runtime_create_argv_is_what_conmon_runs() -> None:
    options = _options(
        Path("/r"), runtime_root=Path("/run/runc"), systemd_cgroup=True, no_pivot=True
    )
    assert conmon.runtime_create_argv(options) == [
        "/usr/sbin/runc", "--systemd-cgroup", "--root=/run/runc", "create",
        "--bundle", "/r/bundle", "--pid-file", "/r/bundle/pidfile", "--no-pivot", CID,
    ]  # fmt: skip


def test_exec_sync_argv() -> None:
    options = _options(Path("/r"), runtime_root=Path("/run/runc"), systemd_cgroup=True, tty=True)
    argv = conmon_exec.exec_sync_argv(
        options,
        process_spec=Path("/t/p.json"),
        log_path=Path("/t/l"),
        pid_file=Path("/t/pid"),
    )
    assert argv == [
        "/usr/bin/conmon",
        "-c", CID,
        "-n", CID,
        "-r", "/usr/sbin/runc",
        "-p", "/t/pid",
        "-e",
        "-l", "/t/l",
        "--socket-dir-path", "/r/sockets",
        "--log-level", "info",
        "--sync",
        "--log-global-size-max", str(16 * 1024 * 1024),
        "-t",
        "-s",
        "--exec-process-spec", "/t/p.json",
        "--runtime-arg", "--root=/run/runc",
    ]  # fmt: skip
    plain = conmon_exec.exec_sync_argv(
        _options(Path("/r")),
        process_spec=Path("/p"),
        log_path=Path("/l"),
        pid_file=Path("/pid"),
    )
    assert "-T" not in plain and "-t" not in plain and "-s" not in plain


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"container_id": ""}, "cannot name an exit file"),
        ({"container_id": "../x"}, "cannot name an exit file"),
        ({"bundle_dir": Path("bundle")}, "bundle_dir must be absolute"),
        ({"runtime_path": Path("runc")}, "runtime_path must be absolute"),
        ({"runtime_root": Path("run/runc")}, "runtime root must be absolute"),
        ({"log_level": "verbose"}, "log level 'verbose'"),
        ({"env": ("PATH",)}, "KEY=VALUE"),
    ],
)
def test_options_are_checked(changes: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        _options(Path("/r"), **changes)


def test_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("HOME", "/root")
    options = _options(Path("/r"), env=("PATH=/bin", "A=b=c"))
    assert conmon.conmon_env(options, sync_fd=7, start_fd=9) == {
        "PATH": "/bin", "A": "b=c", "_OCI_SYNCPIPE": "7", "_OCI_STARTPIPE": "9",
    }  # fmt: skip
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert conmon.conmon_env(options, sync_fd=7, start_fd=9)["XDG_RUNTIME_DIR"] == "/run/user/1000"


# --- messages, logs, files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        (b'{"pid": 4242}\n', (4242, "")),
        (b'{"data": 17}\n', (17, "")),
        (b'{"data": -1, "message": "boom\\n"}\n', (-1, "boom\n")),
        (b'{"exit_code": 3}\n', (3, "")),
        (b'{"exit_code": -1, "message": "command timed out"}', (-1, "command timed out")),
    ],
)
def test_sync_messages(line: bytes, parsed: tuple[int, str]) -> None:
    assert conmon.parse_sync_message(line) == parsed


@pytest.mark.parametrize("line", [b"", b"nope", b"[1]", b'{"pid": "1"}', b'{"pid": true}'])
def test_garbled_sync_messages(line: bytes) -> None:
    with pytest.raises(ValueError):
        conmon.parse_sync_message(line)


def test_cri_log_is_split_by_stream() -> None:
    log = (
        b"2024-05-06T07:08:09.1Z stdout F hello\n"
        b"2024-05-06T07:08:09.2Z stderr P par\n"
        b"2024-05-06T07:08:09.3Z stderr F tial\n"
        b"garbage\n"
        b"2024-05-06T07:08:09.4Z stdout F \n"
        b"2024-05-06T07:08:09.5Z stdout P no newline\n"
    )
    assert conmon_exec.parse_cri_log(log) == (b"hello\n\nno newline", b"partial\n")


def test_exit_files(tmp_path: Path) -> None:
    assert conmon.read_exit_file(tmp_path, CID) is None
    (tmp_path / CID).write_text("137")
    assert conmon.read_exit_file(tmp_path, CID) == 137
    (tmp_path / CID).write_text("oops")
    with pytest.raises(CommandError, match="exit file holds 'oops'"):
        conmon.read_exit_file(tmp_path, CID)


async def test_waiting_for_an_exit_file_times_out(tmp_path: Path) -> None:
    with pytest.raises(DeadlineExceededError, match=f"container {CID} has not exited"):
        await conmon.wait_exit_file(tmp_path, CID, timeout_s=0.1)


def test_pid_files(tmp_path: Path) -> None:
    path = tmp_path / "pid"
    assert conmon.read_pid_file(path) is None
    for text, pid in (("123", 123), ("123\n", 123), ("", None), ("0", None), ("x", None)):
        path.write_text(text)
        assert conmon.read_pid_file(path) == pid


# --- the handshake, against fake-conmon -------------------------------------------------------


async def test_create_returns_the_pid_and_conmon_writes_logs_and_exit_file(
    fake: ConmonOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    options = _with_env(fake, exit="3", stdout="hello\n", stderr="oops\n")
    pid = await conmon.create_container(options)
    assert conmon.read_pid_file(options.container_pid_file) == pid
    assert await conmon.wait_exit_file(options.exits_dir, CID, timeout_s=5) == 3
    record = _record(options)
    assert record["argv"] == conmon.conmon_argv(options)[1:]
    assert record["cwd"] == str(options.bundle_dir)
    env = record["env"]
    assert isinstance(env, dict)
    assert set(env) - {"LC_CTYPE"} == {  # LC_CTYPE: python3 itself may set it on start
        "PATH", "_OCI_SYNCPIPE", "_OCI_STARTPIPE", "FAKE_CONMON_RECORD", "FAKE_CONMON_EXIT",
        "FAKE_CONMON_STDOUT", "FAKE_CONMON_STDERR",
    }  # fmt: skip
    fds = record["fds"]
    assert isinstance(fds, list)
    assert int(env["_OCI_SYNCPIPE"]) in fds and record["start_fd"] not in fds
    assert [line.split(" ", 1)[1] for line in options.log_path.read_text().splitlines()] == [
        "stdout F hello", "stderr F oops",
    ]  # fmt: skip
    # conmon's first process wrote the monitor's pid and exited (the fake monitor plays the
    # container too, so it reported its own pid): the monitor is not our child
    assert conmon.read_pid_file(options.conmon_pid_file) == pid != record["pid"]
    assert _gone(int(str(record["pid"])))
    await _wait_gone(pid)


async def test_create_reads_the_api_version_1_message(fake: ConmonOptions) -> None:
    pid = await conmon.create_container(_with_env(fake, mode="data"))
    assert pid == conmon.read_pid_file(fake.container_pid_file)
    await _wait_gone(pid)


async def test_create_makes_the_directories(tmp_path: Path, fake: ConmonOptions) -> None:
    options = dataclasses.replace(
        fake, exits_dir=tmp_path / "a" / "exits", log_path=tmp_path / "b" / "c" / "0.log"
    )
    pid = await conmon.create_container(options)
    assert await conmon.wait_exit_file(options.exits_dir, CID, timeout_s=5) == 0
    assert options.socket_dir.is_dir() and options.persist_dir.is_dir()
    await _wait_gone(pid)


async def test_the_runtime_error_is_relayed(fake: ConmonOptions) -> None:
    options = _with_env(fake, mode="fail", message=RUNC_ERROR)
    with pytest.raises(ConmonRelayedError) as caught:
        await conmon.create_container(options)
    error = caught.value
    assert isinstance(error, CommandError)
    assert error.argv == conmon.runtime_create_argv(options)
    assert error.returncode == -1
    assert error.stderr == RUNC_ERROR
    assert str(error).endswith(
        f"create --bundle {options.bundle_dir} --pid-file {options.container_pid_file} {CID}"
        ' failed: runc create failed: unable to start container process: exec: "nope":'
        " executable file not found in $PATH"
    )


async def test_a_plain_relayed_message_is_kept(fake: ConmonOptions) -> None:
    with pytest.raises(ConmonRelayedError, match=r"failed: no such bundle$"):
        await conmon.create_container(_with_env(fake, mode="fail", message="no such bundle\n"))
    with pytest.raises(ConmonRelayedError, match=r"failed: no message$"):
        await conmon.create_container(_with_env(fake, mode="fail", message=""))


async def test_conmon_that_says_nothing(fake: ConmonOptions) -> None:
    with pytest.raises(CommandError, match="conmon exited without an answer"):
        await conmon.create_container(_with_env(fake, mode="silent"))


async def test_conmon_that_says_garbage(fake: ConmonOptions) -> None:
    with pytest.raises(CommandError, match="unreadable answer b'this is not json"):
        await conmon.create_container(_with_env(fake, mode="garbled"))


async def test_conmon_that_fails_at_once(fake: ConmonOptions) -> None:
    with pytest.raises(CommandError) as caught:
        await conmon.create_container(_with_env(fake, mode="badopt"))
    assert caught.value.returncode == 1
    assert "option parsing failed: Unknown option --bogus" in caught.value.stderr
    assert caught.value.argv[0] == str(FAKE_CONMON)


async def test_a_missing_conmon(fake: ConmonOptions) -> None:
    with pytest.raises(CommandError, match="No such file"):
        await conmon.create_container(
            dataclasses.replace(fake, conmon_path=Path("/nonexistent/conmon"))
        )


async def test_a_hanging_create_times_out_and_conmon_is_killed(fake: ConmonOptions) -> None:
    options = _with_env(fake, mode="hang")
    with pytest.raises(DeadlineExceededError, match=r"gave no pid in 1.5 s"):
        await conmon.create_container(options, timeout_s=1.5)
    monitor = conmon.read_pid_file(options.conmon_pid_file)  # the daemonized fake, killed
    assert monitor is not None
    await _wait_gone(monitor)


async def test_before_start_runs_while_conmon_waits(fake: ConmonOptions) -> None:
    seen: list[tuple[int, bool]] = []

    async def place(pid: int) -> None:
        await asyncio.sleep(0.2)  # conmon must still be blocked on the start pipe
        seen.append((pid, (fake.persist_dir.parent / "record.json").exists()))

    pid = await conmon.create_container(fake, before_start=place)
    assert seen and seen[0][1] is False
    assert seen[0][0] != pid  # the pid of conmon's first process, not of the monitor
    await _wait_gone(pid)


async def test_a_failing_before_start_kills_conmon(fake: ConmonOptions) -> None:
    pids: list[int] = []

    async def place(pid: int) -> None:
        pids.append(pid)
        raise RuntimeError("no cgroup for you")

    with pytest.raises(RuntimeError, match="no cgroup for you"):
        await conmon.create_container(fake, before_start=place)
    await _wait_gone(pids[0])
    await asyncio.sleep(0.2)
    assert not (fake.persist_dir.parent / "record.json").exists()  # it never went on
    assert not fake.conmon_pid_file.exists()


# --- ExecSync ---------------------------------------------------------------------------------


async def test_exec_sync_returns_exit_code_and_output(fake: ConmonOptions, tmp_path: Path) -> None:
    options = _with_env(fake, exit="7", stdout="out\nmore", stderr="err\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = await conmon_exec.exec_sync(
        options, ["sh", "-c", "echo out"], timeout_s=2.5, scratch_dir=scratch
    )
    assert result == conmon_exec.ExecSyncResult(7, b"out\nmore", b"err\n")
    record = _record(options)
    assert record["process"] == {
        "args": ["sh", "-c", "echo out"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
    }
    argv = record["argv"]
    assert isinstance(argv, list)
    assert argv[:6] == ["-c", CID, "-n", CID, "-r", "/usr/sbin/runc"]
    assert "-T" not in argv  # the timeout is ours: conmon must stay to reap the command
    assert Path(str(record["cwd"])).parent == scratch
    assert list(scratch.iterdir()) == []  # the process spec and log are gone


async def test_exec_sync_without_output(fake: ConmonOptions) -> None:
    assert await conmon_exec.exec_sync(fake, ["true"]) == conmon_exec.ExecSyncResult(0, b"", b"")


async def test_exec_sync_timeout_kills_the_command(fake: ConmonOptions) -> None:
    """At the timeout the command is killed while conmon waits for it (so conmon reaps it),
    and the answer is CRI-O's "command timed out"."""
    started = time.monotonic()
    result = await conmon_exec.exec_sync(
        _with_env(fake, mode="slow"), ["sleep", "600"], timeout_s=0.5
    )
    assert result == conmon_exec.ExecSyncResult(-1, b"", b"command timed out", timed_out=True)
    assert time.monotonic() - started < 5


def test_a_killed_group_leader_counts_as_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """conmon may reap a session leader as soon as its group is killed: one signal is the
    kill, and no later lookup of the pid may turn it into "had finished"."""
    signalled: list[tuple[str, int]] = []
    monkeypatch.setattr(os, "getpgid", lambda pid: pid)
    monkeypatch.setattr(os, "killpg", lambda pid, sig: signalled.append(("group", pid)))

    def reaped(pid: int, sig: int) -> None:
        raise ProcessLookupError(pid)

    monkeypatch.setattr(os, "kill", reaped)
    assert conmon_exec._kill_command(4242) is True
    assert signalled == [("group", 4242)]


def test_a_finished_command_is_not_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(pid: int) -> int:
        raise ProcessLookupError(pid)

    monkeypatch.setattr(os, "getpgid", gone)
    assert conmon_exec._kill_command(4242) is False


async def test_exec_sync_relays_the_runtime_error(fake: ConmonOptions) -> None:
    options = _with_env(fake, mode="fail", message=RUNC_ERROR)
    with pytest.raises(ConmonRelayedError, match=r'exec nope failed: runc create failed: .*"nope"'):
        await conmon_exec.exec_sync(options, ["nope"])


async def test_exec_sync_gives_up_on_a_stuck_conmon(
    fake: ConmonOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conmon_exec, "_EXEC_GRACE_S", 0.3)
    with pytest.raises(DeadlineExceededError, match=r"did not finish exec in 1.3 s"):
        await conmon_exec.exec_sync(_with_env(fake, mode="hang"), ["sleep", "9"], timeout_s=1)
    record = _record(fake)
    assert isinstance(record["pid"], int)
    assert _gone(record["pid"])


async def test_exec_sync_needs_a_command_and_a_process(fake: ConmonOptions) -> None:
    with pytest.raises(InvalidArgumentError, match="needs a command"):
        await conmon_exec.exec_sync(fake, [])
    (fake.bundle_dir / "config.json").write_text("{}")
    with pytest.raises(InvalidArgumentError, match="has no process"):
        await conmon_exec.exec_sync(fake, ["true"])
    (fake.bundle_dir / "config.json").unlink()
    with pytest.raises(InvalidArgumentError, match="cannot read the process"):
        await conmon_exec.exec_sync(fake, ["true"])
