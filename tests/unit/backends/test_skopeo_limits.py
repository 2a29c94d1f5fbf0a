"""skopeo copy under a progress timeout, and with a signature policy."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from crio_py.backends import skopeo
from crio_py.backends.skopeo import PullSpec, SkopeoPuller, Source
from crio_py.config.model import Endpoint
from crio_py.errors import DeadlineExceededError, FailedPreconditionError
from crio_py.reference import parse_reference
from crio_py.store.content import ContentStore
from tests.unit.backends.test_skopeo import (
    CONFIG,
    LAYER,
    MANIFEST,
    _copy_argv,
    _deliver,
    _digest,
    _inspect_argv,
)


def _spec(policy: Path | None = None) -> PullSpec:
    return PullSpec(
        parse_reference("reg.example.com/app:1"),
        (Source(Endpoint(host="reg.example.com")),),
        policy,
    )


async def _trickle(work_dir: Path, blobs: dict[str, bytes], steps: int) -> None:
    """Play a slow skopeo: the blobs appear in the staging layout a byte at a time, the last
    byte after `steps` ticks of 0.1 s."""
    while not (staging := next(work_dir.glob("pull-*"), None)):
        await asyncio.sleep(0.01)
    directory = staging / "blobs" / "sha256"
    for step in range(steps):
        await asyncio.sleep(0.1)
        (staging / "partial").write_bytes(b"x" * (step + 1))
    for digest, data in blobs.items():
        (directory / digest[7:]).write_bytes(data)
    (staging / "partial").unlink()


def _puller(tmp_path: Path, timeout_s: float = 0.0) -> SkopeoPuller:
    puller = SkopeoPuller(ContentStore(tmp_path / "content"), tmp_path / "tmp")
    puller.progress_timeout_s = timeout_s
    return puller


async def test_a_copy_that_writes_nothing_is_killed_after_the_timeout(
    fp: FakeProcess, tmp_path: Path
) -> None:
    fp.register(_inspect_argv("docker://reg.example.com/app:1"), stdout=MANIFEST)
    fp.register(_copy_argv("reg.example.com"), wait=3)
    puller = _puller(tmp_path, timeout_s=0.3)
    with pytest.raises(DeadlineExceededError, match=r"no progress for 0\.3 s"):
        await puller.pull(_spec())
    assert list(puller.content.digests()) == []
    assert list((tmp_path / "tmp").iterdir()) == []  # the staging layout is gone


async def test_a_copy_that_keeps_writing_outlives_the_timeout(
    fp: FakeProcess, tmp_path: Path
) -> None:
    """Growth resets the clock: a slow pull that writes is no stalled pull."""
    fp.register(_inspect_argv("docker://reg.example.com/app:1"), stdout=MANIFEST)
    blobs = {_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}
    fp.register(_copy_argv("reg.example.com"), wait=1.2)
    puller = _puller(tmp_path, timeout_s=0.3)
    writer = asyncio.create_task(_trickle(tmp_path / "tmp", blobs, steps=10))
    pulled = await puller.pull(_spec())
    await writer
    assert pulled.config.digest == _digest(CONFIG)


async def test_progress_is_logged_at_debug(
    fp: FakeProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setattr(skopeo, "PROGRESS_LOG_S", 0.0)
    fp.register(_inspect_argv("docker://reg.example.com/app:1"), stdout=MANIFEST)
    blobs = {_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}
    fp.register(_copy_argv("reg.example.com"), wait=1.2)
    writer = asyncio.create_task(_trickle(tmp_path / "tmp", blobs, steps=5))
    with caplog.at_level(logging.DEBUG, logger="crio_py.backends.skopeo"):
        await _puller(tmp_path).pull(_spec())
    await writer
    progress = [r for r in caplog.records if "written so far" in r.getMessage()]
    assert progress and all(r.levelno == logging.DEBUG for r in progress)


def _register_policy_copy(fp: FakeProcess, policy: Path, **outcome: Any) -> None:
    """The inspect, then a copy whose argv carries `--policy` before the subcommand."""
    fp.register(_inspect_argv("docker://reg.example.com/app:1"), stdout=MANIFEST)
    argv = _copy_argv("reg.example.com")
    fp.register([argv[0], f"--policy={policy}", *argv[1:]], **outcome)


async def test_the_policy_goes_to_skopeo(fp: FakeProcess, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    blobs = {_digest(CONFIG): CONFIG, _digest(LAYER): LAYER}
    _register_policy_copy(fp, policy, callback=_deliver(blobs))
    await _puller(tmp_path).pull(_spec(policy))


async def test_a_rejecting_policy_is_a_failed_precondition(fp: FakeProcess, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    rejected = "Error: Source image rejected: Running image docker://reg.example.com/app is "
    _register_policy_copy(fp, policy, returncode=1, stderr=rejected + "rejected by policy.\n")
    with pytest.raises(FailedPreconditionError, match="signature policy refuses"):
        await _puller(tmp_path).pull(_spec(policy))
