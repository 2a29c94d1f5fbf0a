"""Start-up: load the container records and find out what happened while the daemon was
away (conmon kept the containers; exits are read from its exit files), then watch for exits
for the daemon's lifetime."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from crio_py.backends import conmon
from crio_py.cri.container import exits
from crio_py.cri.container.context import LIVE_STATES, ContainerContext, ContainerEntry
from crio_py.cri.undo import sweep_incomplete
from crio_py.errors import CrioPyError
from crio_py.store.objects import METADATA

logger = logging.getLogger(__name__)


async def load(ctx: ContainerContext) -> None:
    """Load the records, reserve names, and settle containers that changed meanwhile."""
    for broken in ctx.store.load():
        if (ctx.layout.records_dir / broken / METADATA).exists():
            logger.error("Container %s has an unreadable record; leaving it alone", broken)
    await _sweep(ctx)
    for container_id, entry in list(ctx.store):
        if entry.status.pid <= 0 and not entry.status.finished_at:
            await _forget_uncreated(ctx, entry)
            continue
        ctx.names.reserve(entry.metadata.name, container_id)
        ctx.index.add(container_id)
        async with entry.lock:
            await _recover_locked(ctx, entry)
    logger.info("Loaded %d containers", len(ctx.store))


async def _sweep(ctx: ContainerContext) -> None:
    """Undo what a CreateContainer that crashed half-way left: the runtime's container, the
    rootfs, the bundle and the record directory of a container without a metadata record."""
    known = {container_id for container_id, _ in ctx.store}
    found: set[str] = set()
    for directory in (ctx.layout.records_dir, ctx.layout.bundles_dir):
        found |= {path.name for path in _children(directory)}
    found |= {path.name for path in _links(ctx.layout.socket_dir)}
    found |= ctx.images.rootfs_ids()
    await sweep_incomplete(
        "container", found - known, ctx.layout.records_dir, lambda i: _forget_incomplete(ctx, i)
    )


async def _forget_uncreated(ctx: ContainerContext, entry: ContainerEntry) -> None:
    """A CreateContainer the crash cut short never answered: undo it as its failure would
    have, conmon included (it may have gone on to create the container)."""
    container_id = entry.metadata.id
    logger.warning("Cleaning up container %s, whose creation did not finish", container_id)
    conmon.kill_monitor(ctx.layout.bundle(container_id) / "conmon.pid", container_id)
    try:
        await _forget_incomplete(ctx, container_id, entry.metadata.runtime_handler)
        await asyncio.to_thread(ctx.store.delete, container_id)
        if entry.metadata.infra:
            await ctx.sandboxes.infra_exited(entry.metadata.sandbox_id)
    except CrioPyError as exc:  # kept, so that RemoveContainer can try again
        logger.error("Could not clean up container %s: %s", container_id, exc)
        ctx.names.reserve(entry.metadata.name, container_id)
        ctx.index.add(container_id)


async def _forget_incomplete(ctx: ContainerContext, container_id: str, handler: str = "") -> None:
    runtime = ctx.runtimes.runtime(handler or ctx.settings.default_runtime)
    await runtime.delete(container_id, force=True)
    await ctx.images.unmount_rootfs(container_id)
    conmon.remove_exit(ctx.layout.exits_dir, container_id)
    ctx.layout.attach_link(container_id).unlink(missing_ok=True)
    for directory in (ctx.layout.bundle(container_id), ctx.layout.records_dir / container_id):
        await asyncio.to_thread(shutil.rmtree, directory, True)


def _links(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if path.is_symlink()]
    except FileNotFoundError:
        return []


def _children(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if path.is_dir()]
    except FileNotFoundError:
        return []


async def _recover_locked(ctx: ContainerContext, entry: ContainerEntry) -> None:
    if entry.status.state(entry.metadata.created_at) not in LIVE_STATES:
        return
    if await ctx.refresh_locked(entry):
        return
    try:
        state = await ctx.runtime(entry).state(entry.metadata.id)
    except CrioPyError as exc:
        logger.warning("Container %s vanished while we were down: %s", entry.metadata.id, exc)
        await ctx.finish_locked(entry, exits.EXIT_CODE_UNKNOWN, "container vanished")
        return
    if state.status == "stopped":
        await ctx.finish_locked(entry, exits.EXIT_CODE_UNKNOWN, "exited without an exit file")
    elif state.status == "running" and not entry.status.started_at:
        # StartContainer was cut short after the runtime had started the process.
        await ctx.store.update_locked(
            entry.metadata.id, lambda s: s.model_copy(update={"started_at": ctx.clock()})
        )
        logger.info("Container %s was started while the daemon went down", entry.metadata.id)


async def watch_exits(ctx: ContainerContext) -> None:
    """Record exits as conmon reports them (a task for the daemon's lifetime)."""
    await ctx.exit_monitor.run(ctx.collect_exits)
