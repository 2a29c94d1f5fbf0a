"""Undo steps of a multi-step RPC (RunPodSandbox, CreateContainer): a step that fails while
undoing is logged, so the error that caused the undo is the one the caller sees (containerd's
`cleanupErr`, ARCHITECTURE.md §5)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from crio_py.store.objects import METADATA

logger = logging.getLogger(__name__)


async def best_effort(rpc: str, what: str, undo: Callable[[], Awaitable[None]]) -> None:
    """Run one undo step of `rpc`; log a failure instead of raising it."""
    try:
        await undo()
    except Exception:
        logger.exception("Could not %s while undoing a failed %s", what, rpc)


async def sweep_incomplete(
    kind: str, leftovers: Iterable[str], records_dir: Path, forget: Callable[[str], Awaitable[None]]
) -> None:
    """Forget each object a crash left half-made: one that has no metadata record (an
    unreadable record is kept for the operator). A failure is logged, never raised."""
    for object_id in sorted(leftovers):
        if (records_dir / object_id / METADATA).exists():
            continue
        logger.warning("Cleaning up %s %s, which was never completely created", kind, object_id)
        try:
            await forget(object_id)
        except Exception:
            logger.exception("Could not clean up %s %s", kind, object_id)
