"""The one subprocess runner: exact argv, redaction, CommandError."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from crio_py.backends import _exec
from crio_py.errors import CommandError, CommandStartError, CommandTooLongError


async def test_run_returns_output(fp: FakeProcess) -> None:
    fp.register(["runc", "--version"], stdout="runc version 1.1.5\n")
    result = await _exec.run(["runc", "--version"])
    assert (result.returncode, result.stdout) == (0, "runc version 1.1.5\n")


async def test_failure_raises_with_argv_exit_code_and_redacted_stderr(fp: FakeProcess) -> None:
    fp.register(
        ["skopeo", "copy", "--creds", "user:s3cret", "docker://x"],
        returncode=1,
        stderr="auth for user:s3cret refused\n",
    )
    with pytest.raises(CommandError) as caught:
        await _exec.run(
            ["skopeo", "copy", "--creds", "user:s3cret", "docker://x"], secrets=["user:s3cret"]
        )
    error = caught.value
    assert error.argv == ["skopeo", "copy", "--creds", "<redacted>", "docker://x"]
    assert error.returncode == 1
    assert "s3cret" not in str(error)
    assert "auth for <redacted> refused" in str(error)


async def test_unchecked_failure_is_returned(fp: FakeProcess) -> None:
    fp.register(["false"], returncode=1)
    assert (await _exec.run(["false"], check=False)).returncode == 1


async def test_missing_binary_says_it_cannot_run_not_that_it_timed_out() -> None:
    with pytest.raises(CommandStartError) as caught:
        await _exec.run(["/nonexistent/binary-of-crio-py", "--version"])
    assert caught.value.returncode is None
    assert str(caught.value) == (
        "cannot run /nonexistent/binary-of-crio-py: No such file or directory"
    )


async def test_a_binary_that_is_not_executable_is_permission_denied(tmp_path: Path) -> None:
    script = tmp_path / "runtime"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    with pytest.raises(CommandStartError, match=r"^cannot run .*/runtime: Permission denied$"):
        await _exec.run([str(script)])


async def test_arguments_too_long_for_the_kernel_say_so() -> None:
    """One argument above MAX_ARG_STRLEN (128 KiB) is refused with E2BIG."""
    with pytest.raises(CommandTooLongError) as caught:
        await _exec.run(["true", "x" * 200_000])
    assert str(caught.value) == "cannot run true: Argument list too long"
    assert not caught.value.timed_out


async def test_spawn_of_a_missing_binary_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(CommandStartError, match=r"^cannot run /nonexistent/conmon: No such file"):
        await _exec.spawn(["/nonexistent/conmon"])


async def test_a_missing_working_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(CommandStartError) as caught:
        await _exec.spawn(["true"], cwd=tmp_path / "gone")
    assert str(caught.value) == f"cannot run true: No such file or directory: {tmp_path / 'gone'}"


async def test_timeout_kills_the_child() -> None:
    with pytest.raises(CommandError, match=r"sleep 5 timed out: no answer within 0\.2 s") as caught:
        await _exec.run(["sleep", "5"], timeout_s=0.2)
    assert caught.value.timed_out


async def test_cancelling_kills_and_reaps_the_child(tmp_path: Path) -> None:
    """An RPC that is cancelled (its caller went away) leaves no command running behind it."""
    pid_file = tmp_path / "pid"
    running = asyncio.create_task(
        _exec.run(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"])
    )
    async with asyncio.timeout(5):
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.01)
    pid = int(pid_file.read_text())
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    with pytest.raises(ProcessLookupError):  # killed and reaped: not even a zombie is left
        os.kill(pid, 0)


async def test_a_child_dies_with_the_daemon(
    monkeypatch: pytest.MonkeyPatch, fp: FakeProcess, tmp_path: Path
) -> None:
    """setpriv gives every `run` child the parent-death signal SIGKILL, the binary resolved
    first so that a missing one is still the OSError exec would raise."""
    monkeypatch.setattr(_exec, "DIE_WITH_DAEMON", ("/usr/bin/setpriv", "--pdeathsig", "KILL", "--"))
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    fp.register(["/usr/bin/setpriv", "--pdeathsig", "KILL", "--", str(tool), "a"], stdout="ok")
    assert (await _exec.run([str(tool), "a"])).stdout == "ok"
    tool.chmod(0o644)
    with pytest.raises(CommandError, match="Permission denied"):
        await _exec.run([str(tool), "a"])
    with pytest.raises(CommandError, match="No such file"):
        await _exec.run([str(tmp_path / "absent")])


async def test_setpriv_sets_the_death_signal() -> None:
    """The real setpriv: the child's parent-death signal is 9 (/proc/self/status has no
    field for it, so ask prctl through Python)."""
    assert _exec.DIE_WITH_DAEMON_DEFAULT, "setpriv (util-linux) is not installed"
    probe = "import ctypes; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); "
    probe += "print(s.value)"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_exec, "DIE_WITH_DAEMON", _exec.DIE_WITH_DAEMON_DEFAULT)
        result = await _exec.run([sys.executable, "-c", probe])
    assert result.stdout.strip() == "9"
