"""Sandbox recovery at start-up on fakes: record state by namespace pins, and what a
RunPodSandbox cut short leaves behind without a record."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.backends.netns import PIN_DIRS
from crio_py.cri.sandbox import lifecycle, run
from crio_py.errors import AlreadyExistsError
from tests.fakes.sandboxes import World

WEB = api_pb2.PodSandboxConfig(
    metadata=api_pb2.PodSandboxMetadata(name="web", namespace="ns", uid="uid-1"),
    hostname="web",
    linux=api_pb2.LinuxPodSandboxConfig(
        security_context=api_pb2.LinuxSandboxSecurityContext(
            namespace_options=api_pb2.NamespaceOption(pid=api_pb2.CONTAINER)
        )
    ),
)


async def ran(world: World) -> str:
    request = api_pb2.RunPodSandboxRequest(config=WEB)
    return (await run.run_pod_sandbox(world.service, request)).pod_sandbox_id


@pytest.mark.parametrize(("ready", "pinned"), list(itertools.product((True, False), repeat=2)))
async def test_recovery(tmp_path: Path, ready: bool, pinned: bool) -> None:
    world = World(tmp_path)
    sandbox_id = await ran(world)
    if not ready:
        stop = api_pb2.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)
        await lifecycle.stop_pod_sandbox(world.service, stop)
    if not pinned:
        world.ns.pinned.clear()  # the host rebooted: the bind mounts are gone
    detached = len(world.network.deleted)
    service = world.restarted()
    await service.load()
    assert len(world.network.deleted) == detached  # loading marks; StopPodSandbox detaches
    entry = service.records.get(sandbox_id[:10])  # the short id index is rebuilt
    assert entry.status.ready is (ready and pinned)
    with pytest.raises(AlreadyExistsError):
        service.records.names.reserve(entry.metadata.name, "other")


async def test_leftovers_of_a_run_cut_short_are_undone(tmp_path: Path) -> None:
    world = World(tmp_path)
    records = world.service.records
    stray = "d" * 64
    pins = {kind: records.pin_dir / name / stray for kind, name in PIN_DIRS.items()}
    for path in pins.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    world.ns.pinned |= set(pins.values())
    (records.shm_dir / stray).mkdir(parents=True)
    world.ns.shm.add(records.shm_dir / stray)
    (records.records_dir / stray).mkdir(parents=True)
    (records.records_dir / stray / "hosts").write_text("127.0.0.1 localhost\n")
    service = world.restarted()
    await service.load()
    assert not (records.records_dir / stray).exists()
    assert world.ns.pinned == set()
    assert world.ns.shm == set()
    assert {s.container_id for s in world.network.deleted} == {stray}
    assert service.records.all() == []


async def test_an_unreadable_record_is_left_alone(tmp_path: Path) -> None:
    world = World(tmp_path)
    sandbox_id = await ran(world)
    status_file = world.service.records.records_dir / sandbox_id / "status.json"
    status_file.write_text("{not json")
    await world.restarted().load()
    assert status_file.read_text() == "{not json"
