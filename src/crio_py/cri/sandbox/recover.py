"""Start-up for sandboxes: load the records, reserve their names, mark NOTREADY a sandbox whose
namespace pins are gone (the host rebooted), and undo what a RunPodSandbox that crashed
half-way left behind (pins, /dev/shm, CNI attachment, files without a metadata record)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from crio_py.backends.netns import PIN_DIRS
from crio_py.cri.undo import sweep_incomplete
from crio_py.store.objects import METADATA
from crio_py.store.records import SandboxStatus

if TYPE_CHECKING:
    from crio_py.cri.sandbox.service import SandboxService

logger = logging.getLogger(__name__)


def stopped(status: SandboxStatus) -> SandboxStatus:
    """The status of a sandbox that is not ready any more."""
    return status.model_copy(update={"ready": False, "stopped_at": time.time_ns()})


async def load(service: SandboxService) -> None:
    """Load the records, reserve their names again, and settle each sandbox."""
    if not service.records.records_dir.is_dir():
        return
    for broken in service.records.store.load():
        if (service.records.records_dir / broken / METADATA).exists():
            logger.error("Sandbox %s has an unreadable record; leaving it alone", broken)
    await _sweep(service)
    for sandbox_id, entry in service.records.store:
        service.records.names.reserve(entry.metadata.name, sandbox_id)
        service.records.index.add(sandbox_id)
        pins = [Path(p) for p in entry.metadata.namespaces.values()]
        if entry.status.ready and not all(service.namespaces.is_pinned(p) for p in pins):
            logger.warning("Sandbox %s lost its namespaces; marking it not ready", sandbox_id)
            await service.records.store.update(sandbox_id, stopped)
    logger.info("Loaded %d sandboxes", len(service.records.store))


async def _sweep(service: SandboxService) -> None:
    known = {sandbox_id for sandbox_id, _ in service.records.store}
    found = {path.name for path in _children(service.records.records_dir)}
    for kind in PIN_DIRS.values():
        found |= {p.name for p in _children(service.records.pin_dir / kind)}
    found |= {p.name for p in _children(service.records.shm_dir)}
    await sweep_incomplete(
        "sandbox",
        found - known,
        service.records.records_dir,
        lambda i: _forget_incomplete(service, i),
    )


async def _forget_incomplete(service: SandboxService, sandbox_id: str) -> None:
    paths = {kind: service.records.pin_dir / name / sandbox_id for kind, name in PIN_DIRS.items()}
    net = paths["net"]
    netns = str(net) if service.namespaces.is_pinned(net) else ""
    await service.pod_network.detach_unrecorded(sandbox_id, netns)
    await service.namespaces.remove(paths)
    await service.namespaces.unmount_shm(service.records.shm_dir / sandbox_id)
    await asyncio.to_thread(shutil.rmtree, service.records.records_dir / sandbox_id, True)


def _children(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if path.is_dir() or path.is_file()]
    except FileNotFoundError:
        return []
