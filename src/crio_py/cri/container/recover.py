"""Start-up: load the container records and find out what happened while the daemon was
away (conmon kept the containers; exits are read from its exit files), then watch for exits
for the daemon's lifetime."""

from __future__ import annotations

import asyncio
import logging

from crio_py.cri.container import exits
from crio_py.cri.container.context import LIVE_STATES, ContainerContext, ContainerEntry
from crio_py.errors import CrioPyError

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.1


async def load(ctx: ContainerContext) -> None:
    """Load the records, reserve names, and settle containers that changed meanwhile."""
    for broken in ctx.store.load():
        logger.error("Container %s has an unreadable record; ignoring it", broken)
    for container_id, entry in ctx.store:
        ctx.names.reserve(entry.metadata.name, container_id)
        ctx.index.add(container_id)
        async with entry.lock:
            await _recover_locked(ctx, entry)
    logger.info("Loaded %d containers", len(ctx.store))


async def _recover_locked(ctx: ContainerContext, entry: ContainerEntry) -> None:
    if entry.status.state(entry.metadata.created_at) not in LIVE_STATES:
        return
    if ctx.refresh_locked(entry):
        return
    try:
        state = await ctx.runtime(entry).state(entry.metadata.id)
    except CrioPyError as exc:
        logger.warning("Container %s vanished while we were down: %s", entry.metadata.id, exc)
        ctx.finish_locked(entry, exits.EXIT_CODE_UNKNOWN, "container vanished")
        return
    if state.status == "stopped":
        ctx.finish_locked(entry, exits.EXIT_CODE_UNKNOWN, "exited without an exit file")


async def watch_exits(ctx: ContainerContext) -> None:
    """Record exits as conmon reports them (a task for the daemon's lifetime)."""
    while True:
        await asyncio.sleep(WATCH_INTERVAL_S)
        try:
            ctx.collect_exits()
        except Exception:
            logger.exception("Could not record container exits")
