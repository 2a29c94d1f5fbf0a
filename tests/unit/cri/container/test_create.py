"""CreateContainer on fakes: what it records, and its undo when each step fails in turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cri_api.v1 import api_pb2

from crio_py.backends import monitor_cgroup
from crio_py.cri.container import create, lifecycle
from crio_py.errors import (
    AlreadyExistsError,
    CrioPyError,
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
)
from tests.fakes.containers import PID, SANDBOX_ID, ContainerWorld, container_config


@pytest.fixture
def world(tmp_path: Path) -> ContainerWorld:
    return ContainerWorld(tmp_path)


async def created(world: ContainerWorld, name: str = "app") -> str:
    return await world.create(name)


async def test_create_records_a_created_container(world: ContainerWorld) -> None:
    container_id = await created(world)
    entry = world.ctx.get(container_id[:12])
    assert entry.metadata.sandbox_id == SANDBOX_ID
    assert entry.metadata.created_at == world.clock()
    assert entry.status.pid == PID
    assert world.runtime.states == {container_id: "created"}
    assert (world.layout.bundle(container_id) / "config.json").is_file()
    assert [o.container_id for o in world.conmon.created] == [container_id]
    assert world.images.calls == [
        ("mount_rootfs", container_id),
        ("release_volumes", container_id),
    ]


async def test_a_name_in_use_is_refused(world: ContainerWorld) -> None:
    await created(world)
    with pytest.raises(AlreadyExistsError):
        await created(world)


async def test_an_unknown_or_not_ready_sandbox_is_refused(world: ContainerWorld) -> None:
    request = api_pb2.CreateContainerRequest(pod_sandbox_id="9" * 64, config=container_config())
    with pytest.raises(NotFoundError):
        await create.create_container(world.ctx, request)
    world.add_sandbox("6" * 64, ready=False)
    request.pod_sandbox_id = "6" * 64
    with pytest.raises(FailedPreconditionError, match="not ready"):
        await create.create_container(world.ctx, request)
    assert list(world.leftovers()) == []


def _fail_rootfs(world: ContainerWorld, error: CrioPyError) -> None:
    world.images.fail["mount_rootfs"] = error


def _fail_bundle(world: ContainerWorld, error: CrioPyError) -> None:
    bundles = world.ctx.bundles

    class Failing:
        def container(self, *args: Any) -> Any:
            world.ctx.bundles = bundles  # once
            raise error

    world.ctx.bundles = Failing()  # type: ignore[assignment]


def _fail_record(world: ContainerWorld, error: CrioPyError) -> None:
    store = world.ctx.store

    def refuse(*args: Any) -> Any:
        del store.create  # once
        raise error

    store.create = refuse  # type: ignore[method-assign]


def _fail_conmon(world: ContainerWorld, error: CrioPyError) -> None:
    world.conmon.fail = error


def _fail_release(world: ContainerWorld, error: CrioPyError) -> None:
    world.images.fail["release_volumes"] = error


STEPS = {
    "rootfs": _fail_rootfs,
    "bundle": _fail_bundle,
    "record": _fail_record,
    "conmon": _fail_conmon,
    "release volumes": _fail_release,
}


@pytest.mark.parametrize("step", STEPS)
async def test_a_failed_step_undoes_every_earlier_one(world: ContainerWorld, step: str) -> None:
    STEPS[step](world, UnavailableError(f"{step} broke"))
    with pytest.raises(UnavailableError, match=f"{step} broke"):
        await created(world)
    assert list(world.leftovers()) == []
    assert list(world.ctx.store) == []
    unmounted = [c for c in world.images.calls if c[0] == "unmount_rootfs"]
    assert len(unmounted) == (0 if step == "rootfs" else 1)
    assert ("delete" in world.runtime.names()) == (step in ("conmon", "release volumes"))
    # The name is free again and nothing stale is in the way: the retry succeeds.
    world.images.fail.clear()
    world.conmon.fail = None
    container_id = await created(world)
    assert world.ctx.get(container_id).metadata.name.startswith("app_")


async def test_an_undo_that_fails_keeps_the_original_error(world: ContainerWorld) -> None:
    world.conmon.fail = UnavailableError("conmon broke")
    world.runtime.fail["delete"] = UnavailableError("delete broke too")
    with pytest.raises(UnavailableError, match="conmon broke"):
        await created(world)
    assert list(world.ctx.store) == []


async def test_conmon_goes_to_the_handlers_monitor_cgroup_and_it_is_removed(
    world: ContainerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers = {
        name: handler.model_copy(update={"monitor_cgroup": "pod"})
        for name, handler in world.settings.runtimes.items()
    }
    world.ctx.runtimes.settings = world.settings.model_copy(update={"runtimes": handlers})
    removed: list[str] = []

    async def remove(path: str) -> None:
        removed.append(path)

    monkeypatch.setattr(monitor_cgroup, "remove", remove)
    container_id = await created(world)
    (options,) = world.conmon.created
    assert options.monitor_cgroup == f"/k8s.io/crio-conmon-{container_id}"
    await lifecycle.remove_container(
        world.ctx, api_pb2.RemoveContainerRequest(container_id=container_id)
    )
    assert removed == [f"/k8s.io/crio-conmon-{container_id}"]
