"""Container recovery at start-up on fakes: every record state by runtime state by exit file."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.cri.container import exits, recover
from crio_py.cri.container.context import ContainerContext
from crio_py.errors import AlreadyExistsError
from crio_py.store.records import ContainerState
from tests.fakes.containers import PID, ContainerWorld

RECORDS = ("created", "running", "exited")
RUNTIMES = ("created", "running", "stopped", "missing")
EXIT_CODE = 7


async def recorded(world: ContainerWorld, state: str) -> str:
    container_id = await world.create()
    if state != "created":
        await world.start(container_id)
    if state == "exited":
        world.runtime.exit(container_id, 3)
        assert (await world.status(container_id)).state == api_pb2.CONTAINER_EXITED
    return container_id


def expected(record: str, runtime: str, exit_file: bool) -> tuple[ContainerState, int, str]:
    """(state, exit code, reason or message) after recovery."""
    if record == "exited":
        return ContainerState.EXITED, 3, exits.REASON_ERROR
    if exit_file:
        return ContainerState.EXITED, EXIT_CODE, exits.REASON_ERROR
    if runtime == "missing":
        return ContainerState.EXITED, exits.EXIT_CODE_UNKNOWN, "container vanished"
    if runtime == "stopped":
        return ContainerState.EXITED, exits.EXIT_CODE_UNKNOWN, "exited without an exit file"
    if runtime == "running":  # a start the crash cut short had already started the process
        return ContainerState.RUNNING, 0, ""
    return ContainerState[record.upper()], 0, ""


async def restart(world: ContainerWorld) -> ContainerContext:
    world.ctx = world.restarted()
    await recover.load(world.ctx)
    return world.ctx


@pytest.mark.parametrize(
    ("record", "runtime", "exit_file"), list(itertools.product(RECORDS, RUNTIMES, (True, False)))
)
async def test_recovery(tmp_path: Path, record: str, runtime: str, exit_file: bool) -> None:
    world = ContainerWorld(tmp_path)
    container_id = await recorded(world, record)
    exit_path = world.layout.exits_dir / container_id
    if record != "exited":
        if runtime == "missing":
            world.runtime.states.pop(container_id, None)
        else:
            world.runtime.states[container_id] = runtime  # type: ignore[assignment]
        if exit_file:
            world.runtime.exit(container_id, EXIT_CODE)
            world.runtime.states[container_id] = "stopped"
        else:
            exit_path.unlink(missing_ok=True)
    world.clock.advance(60)
    ctx = await restart(world)
    entry = ctx.get(container_id[:8])  # the short id index is rebuilt
    state, code, why = expected(record, runtime, exit_file)
    assert entry.status.state(entry.metadata.created_at) == state
    assert entry.status.exit_code == code
    if state == ContainerState.EXITED:
        assert why in (entry.status.reason, entry.status.message)
        assert entry.status.pid == 0
    else:
        assert entry.status.pid == PID
    if record == "created" and runtime == "running" and not exit_file:
        assert entry.status.started_at == world.clock()
    with pytest.raises(AlreadyExistsError, match="is reserved"):
        ctx.names.reserve(entry.metadata.name, "other")  # the name stays taken


async def test_a_record_whose_creation_did_not_finish_is_undone(tmp_path: Path) -> None:
    world = ContainerWorld(tmp_path)
    container_id = await world.create()
    entry = world.ctx.store.get(container_id)
    async with entry.lock:
        await world.ctx.store.update_locked(
            container_id, lambda s: s.model_copy(update={"pid": 0})
        )
    ctx = await restart(world)
    assert ctx.find(container_id) is None
    assert list(world.leftovers()) == []
    assert "delete" in world.runtime.names()


async def test_half_made_leftovers_without_a_record_are_swept(tmp_path: Path) -> None:
    world = ContainerWorld(tmp_path)
    stray = "e" * 64
    world.layout.bundle(stray).mkdir(parents=True)
    world.images.mounted.add(stray)
    world.runtime.states[stray] = "created"
    await restart(world)
    assert list(world.leftovers()) == []


async def test_an_unreadable_record_is_left_alone(tmp_path: Path) -> None:
    world = ContainerWorld(tmp_path)
    container_id = await world.create()
    status_file = world.layout.records_dir / container_id / "status.json"
    status_file.write_text("{not json")
    await restart(world)
    assert status_file.read_text() == "{not json"  # kept for a person to look at
    assert world.layout.bundle(container_id).is_dir()
