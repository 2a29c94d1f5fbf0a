"""How exits reach container records: the exit monitor records them as conmon writes them,
StopContainer's wait wakes on the exit file, and the `*_locked` contract is held."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from crio_py.backends import conmon
from crio_py.config.load import load_settings
from crio_py.cri.container import recover
from crio_py.cri.container.context import ContainerContext, ContainerEntry
from crio_py.cri.container.layout import Layout
from crio_py.cri.container.seams import ContainerOps
from crio_py.ocispec import HostFeatures
from crio_py.store.objects import ObjectStore
from crio_py.store.records import ContainerMetadata, ContainerState, ContainerStatus

CID = "c" * 64
SANDBOX_ID = "s" * 64


class FakeSandboxes:
    """What the exit path asks of the sandbox service."""

    def __init__(self) -> None:
        self.infra_gone: list[str] = []

    async def infra_exited(self, sandbox_id: str) -> bool:
        self.infra_gone.append(sandbox_id)
        return True

    def find(self, sandbox_id: str) -> None:
        return None


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ContainerContext]:
    default, _ = load_settings(None)
    settings = default.model_copy(
        update={"root_dir": tmp_path / "root", "state_dir": tmp_path / "state"}
    )
    sandboxes: Any = FakeSandboxes()
    layout = Layout(settings.state_dir, settings.root_dir)
    context = ContainerContext(
        settings,
        sandboxes,
        cast(Any, None),
        host_features=HostFeatures(),
        layout=layout,
        store=ObjectStore(layout.records_dir, ContainerMetadata, ContainerStatus),
        ops=ContainerOps(),
    )
    context.layout.exits_dir.mkdir(parents=True)
    yield context


@pytest.fixture
async def watching(ctx: ContainerContext) -> AsyncIterator[ContainerContext]:
    task = asyncio.create_task(recover.watch_exits(ctx))
    await asyncio.sleep(0.05)
    yield ctx
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _running(ctx: ContainerContext, *, infra: bool = False) -> ContainerEntry:
    metadata = ContainerMetadata(
        id=CID,
        name="app",
        sandbox_id=SANDBOX_ID,
        config={},
        image_ref="busybox",
        image_id="sha256:" + "a" * 64,
        runtime_handler="runc",
        created_at=1,
        infra=infra,
    )
    return await ctx.store.create(CID, metadata, ContainerStatus(pid=42, started_at=2))


def _exit(ctx: ContainerContext, code: int) -> None:
    temporary = ctx.layout.exits_dir / f"{CID}.tmp"
    temporary.write_text(str(code))
    os.rename(temporary, ctx.layout.exits_dir / CID)


def _state(entry: ContainerEntry) -> ContainerState:
    return entry.status.state(entry.metadata.created_at)


async def test_an_exit_is_recorded_as_soon_as_conmon_writes_it(
    watching: ContainerContext,
) -> None:
    entry = await _running(watching, infra=True)
    _exit(watching, 137)
    async with asyncio.timeout(0.5):  # far less than the safety re-scan
        while _state(entry) != ContainerState.EXITED:
            await asyncio.sleep(0.01)
    assert (entry.status.exit_code, entry.status.pid) == (137, 0)
    assert cast(FakeSandboxes, watching.sandboxes).infra_gone == [SANDBOX_ID]


async def test_a_busy_container_is_left_to_the_holder_of_its_lock(
    watching: ContainerContext,
) -> None:
    entry = await _running(watching)
    async with entry.lock:
        _exit(watching, 0)
        await asyncio.sleep(0.2)
        assert _state(entry) == ContainerState.RUNNING
        assert await watching.refresh_locked(entry)
    assert _state(entry) == ContainerState.EXITED


async def test_the_stop_wait_wakes_when_the_exit_file_appears(
    watching: ContainerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Woken by the event, not by polling the file."""
    reads: list[str] = []
    real = conmon.read_exit

    def counted(exits_dir: Path, container_id: str, oom_dirs: Sequence[Path] = ()) -> object:
        reads.append(container_id)
        return real(exits_dir, container_id, oom_dirs)

    monkeypatch.setattr(conmon, "read_exit", counted)
    entry = await _running(watching)
    asyncio.get_running_loop().call_later(0.4, _exit, watching, 143)
    start = time.monotonic()
    async with entry.lock:
        assert await watching.wait_exit_locked(entry, 10)
    assert 0.35 < time.monotonic() - start < 0.8
    assert entry.status.exit_code == 143
    assert len(reads) <= 3  # before the wait, after the event (a 20 ms poll would be ~20)


async def test_the_stop_wait_times_out(ctx: ContainerContext) -> None:
    entry = await _running(ctx)
    async with entry.lock:
        assert not await ctx.wait_exit_locked(entry, 0.1, required=False)


async def test_refresh_locked_without_the_lock_is_refused(ctx: ContainerContext) -> None:
    entry = await _running(ctx)
    with pytest.raises(RuntimeError, match="without its lock"):
        await ctx.refresh_locked(entry)
    _exit(ctx, 0)
    await ctx.refresh(entry)  # takes the lock itself
    assert _state(entry) == ContainerState.EXITED
