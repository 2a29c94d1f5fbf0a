"""StartContainer, StopContainer and RemoveContainer on fakes: signals and timeouts of stop,
idempotency of stop and remove, and what a sandbox's stop and removal do to its containers."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.cri.container import PodContainers, lifecycle
from crio_py.errors import DeadlineExceededError, FailedPreconditionError, UnavailableError
from tests.fakes.containers import SANDBOX_ID, ContainerWorld

TERM, KILL = int(signal.SIGTERM), int(signal.SIGKILL)


@pytest.fixture
def world(tmp_path: Path) -> ContainerWorld:
    return ContainerWorld(tmp_path)


async def stop(world: ContainerWorld, container_id: str, timeout_s: int) -> None:
    request = api_pb2.StopContainerRequest(container_id=container_id, timeout=timeout_s)
    await lifecycle.stop_container(world.ctx, request)


async def remove(world: ContainerWorld, container_id: str) -> None:
    request = api_pb2.RemoveContainerRequest(container_id=container_id)
    await lifecycle.remove_container(world.ctx, request)


async def test_start_runs_a_created_container(world: ContainerWorld) -> None:
    container_id = await world.create()
    world.clock.advance(2)
    await world.start(container_id)
    found = await world.status(container_id)
    assert found.state == api_pb2.CONTAINER_RUNNING
    assert found.started_at == world.clock()
    assert world.runtime.states[container_id] == "running"


async def test_start_twice_is_a_failed_precondition(world: ContainerWorld) -> None:
    container_id = await world.run()
    with pytest.raises(FailedPreconditionError, match="running, not created"):
        await world.start(container_id)


async def test_a_failed_start_is_exited_with_start_error(world: ContainerWorld) -> None:
    container_id = await world.create()
    world.runtime.fail["start"] = UnavailableError("exec format error")
    with pytest.raises(UnavailableError):
        await world.start(container_id)
    found = await world.status(container_id)
    assert found.state == api_pb2.CONTAINER_EXITED
    assert (found.exit_code, found.reason) == (128, "StartError")
    assert found.message == "exec format error"


async def test_stop_sends_the_stop_signal_first(world: ContainerWorld) -> None:
    container_id = await world.run()
    await stop(world, container_id, 10)
    assert [c for c in world.runtime.calls if c[0] == "kill"] == [("kill", container_id, TERM)]
    found = await world.status(container_id)
    assert found.state == api_pb2.CONTAINER_EXITED
    assert found.exit_code == 128 + TERM


async def test_stop_kills_once_the_timeout_passed(world: ContainerWorld) -> None:
    container_id = await world.run()
    world.runtime.ignored.add(TERM)
    began = time.monotonic()
    await stop(world, container_id, 1)
    assert time.monotonic() - began >= 1.0
    kills = [number for name, _, number in world.runtime.calls if name == "kill"]
    assert kills == [TERM, KILL]
    assert (await world.status(container_id)).exit_code == 128 + KILL


async def test_stop_with_no_timeout_kills_at_once(world: ContainerWorld) -> None:
    container_id = await world.run()
    await stop(world, container_id, 0)
    kills = [number for name, _, number in world.runtime.calls if name == "kill"]
    assert kills == [KILL]


async def test_a_container_that_survives_sigkill_is_a_deadline(
    world: ContainerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "KILL_WAIT_S", 0.1)
    container_id = await world.run()
    world.runtime.ignored |= {TERM, KILL}
    with pytest.raises(DeadlineExceededError, match="did not exit"):
        await stop(world, container_id, 0)
    assert (await world.status(container_id)).state == api_pb2.CONTAINER_RUNNING


async def test_stop_is_idempotent_and_ok_for_an_unknown_id(world: ContainerWorld) -> None:
    container_id = await world.run()
    await stop(world, container_id, 0)
    calls = len(world.runtime.calls)
    await stop(world, container_id, 0)
    assert len(world.runtime.calls) == calls  # nothing more to do
    await stop(world, "f" * 64, 0)
    await stop(world, "", 0)


async def test_stop_uses_the_image_stop_signal(world: ContainerWorld) -> None:
    world.images.image.config["config"] = {"Cmd": ["sh"], "StopSignal": "SIGINT"}
    container_id = await world.run()
    await stop(world, container_id, 5)
    assert world.runtime.calls[-1] == ("kill", container_id, int(signal.SIGINT))


async def test_remove_kills_a_running_container_and_leaves_nothing(
    world: ContainerWorld,
) -> None:
    container_id = await world.run()
    await remove(world, container_id)
    assert list(world.leftovers()) == []
    assert world.ctx.find(container_id) is None
    assert await world.create()  # the name is free again


async def test_remove_is_idempotent_and_ok_for_an_unknown_id(world: ContainerWorld) -> None:
    container_id = await world.create()
    await remove(world, container_id)
    await remove(world, container_id)
    await remove(world, "f" * 64)
    assert world.runtime.names().count("delete") == 1


async def test_a_failed_remove_can_be_retried(world: ContainerWorld) -> None:
    container_id = await world.run()
    world.runtime.fail["delete"] = UnavailableError("device busy")
    with pytest.raises(UnavailableError):
        await remove(world, container_id)
    assert world.ctx.find(container_id) is not None
    del world.runtime.fail["delete"]
    await remove(world, container_id)
    assert list(world.leftovers()) == []


async def test_a_sandbox_stop_and_removal_reach_every_container(world: ContainerWorld) -> None:
    first, second = await world.run("a"), await world.create("b")
    pod = PodContainers(world.ctx)
    await pod.stop_all(SANDBOX_ID)
    states = {(await world.status(i)).state for i in (first, second)}
    assert states == {api_pb2.CONTAINER_EXITED}
    await pod.remove_all(SANDBOX_ID)
    assert list(world.leftovers()) == []


@pytest.mark.parametrize(
    ("requested", "floor", "expected"),
    [(10, 0.0, 10), (10, 30.0, 30), (45, 30.0, 45), (0, 30.0, 30)],
)
def test_the_stop_timeout_is_the_grace_period_above_the_floor(
    requested: int, floor: float, expected: float
) -> None:
    assert lifecycle.stop_timeout_s(requested, floor) == expected


async def test_stop_waits_at_least_the_configured_floor(
    world: ContainerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.ctx.reload_settings(world.settings.model_copy(update={"stop_timeout_s": 30.0}))
    container_id = await world.run()
    waited: list[float] = []
    wait_exit = world.ctx.wait_exit_locked

    async def recording_wait(entry: object, timeout_s: float, *, required: bool = True) -> bool:
        waited.append(timeout_s)
        return await wait_exit(entry, 0.5, required=required)  # type: ignore[arg-type]

    monkeypatch.setattr(world.ctx, "wait_exit_locked", recording_wait)
    await stop(world, container_id, 2)
    assert waited == [30.0]
    assert [c for c in world.runtime.calls if c[0] == "kill"] == [("kill", container_id, TERM)]
