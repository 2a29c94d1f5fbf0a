"""The one subprocess runner: exact argv, redaction, CommandError."""

from __future__ import annotations

import pytest
from pytest_subprocess import FakeProcess

from crio_py.backends import _exec
from crio_py.errors import CommandError


async def test_run_returns_output(fp: FakeProcess) -> None:
    fp.register(["runc", "--version"], stdout="runc version 1.1.5\n")
    result = await _exec.run(["runc", "--version"])
    assert (result.returncode, result.stdout) == (0, "runc version 1.1.5\n")


async def test_failure_raises_with_argv_exit_code_and_redacted_stderr(fp: FakeProcess) -> None:
    fp.register(["skopeo", "copy", "--creds", "user:s3cret", "docker://x"], returncode=1,
                stderr="auth for user:s3cret refused\n")
    with pytest.raises(CommandError) as caught:
        await _exec.run(["skopeo", "copy", "--creds", "user:s3cret", "docker://x"],
                        secrets=["user:s3cret"])
    error = caught.value
    assert error.argv == ["skopeo", "copy", "--creds", "<redacted>", "docker://x"]
    assert error.returncode == 1
    assert "s3cret" not in str(error)
    assert "auth for <redacted> refused" in str(error)


async def test_unchecked_failure_is_returned(fp: FakeProcess) -> None:
    fp.register(["false"], returncode=1)
    assert (await _exec.run(["false"], check=False)).returncode == 1


async def test_missing_binary_is_a_command_error() -> None:
    with pytest.raises(CommandError) as caught:
        await _exec.run(["/nonexistent/binary-of-crio-py"])
    assert caught.value.returncode is None


async def test_timeout_kills_the_child() -> None:
    with pytest.raises(CommandError, match=r"no answer within 0\.2 s"):
        await _exec.run(["sleep", "5"], timeout_s=0.2)
