"""Undo steps of a multi-step RPC (RunPodSandbox, CreateContainer): a step that fails while
undoing is logged, so the error that caused the undo is the one the caller sees (containerd's
`cleanupErr`, ARCHITECTURE.md §5)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def best_effort(rpc: str, what: str, undo: Callable[[], Awaitable[None]]) -> None:
    """Run one undo step of `rpc`; log a failure instead of raising it."""
    try:
        await undo()
    except Exception:
        logger.exception("Could not %s while undoing a failed %s", what, rpc)
