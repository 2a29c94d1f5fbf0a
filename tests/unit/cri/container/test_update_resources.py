"""UpdateContainerResources for created and running containers: applied through the
runtime, kept in the record over a restart, reported by ContainerStatus, refused for an
exited one; and UpdatePodSandboxResources' validation and record."""

from __future__ import annotations

from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.cri.container import recover, update_resources
from crio_py.errors import FailedPreconditionError, InvalidArgumentError
from tests.fakes.containers import ContainerWorld


@pytest.fixture
def world(tmp_path: Path) -> ContainerWorld:
    return ContainerWorld(tmp_path)


def update(container_id: str, **fields: object) -> api_pb2.UpdateContainerResourcesRequest:
    return api_pb2.UpdateContainerResourcesRequest(
        container_id=container_id,
        linux=api_pb2.LinuxContainerResources(**fields),  # type: ignore[arg-type]
    )


async def test_a_created_container_is_updated_and_reports_the_new_limits(
    world: ContainerWorld,
) -> None:
    container_id = await world.create()
    request = update(container_id, memory_limit_in_bytes=64 << 20, cpuset_cpus="0")
    await update_resources.update_container_resources(world.ctx, request)
    assert world.runtime.calls[-1][:2] == ("update", container_id)
    reported = (await world.status(container_id)).resources.linux
    assert (reported.memory_limit_in_bytes, reported.cpuset_cpus) == (64 << 20, "0")


async def test_updates_merge_and_survive_a_restart(world: ContainerWorld) -> None:
    container_id = await world.run()
    ctx = world.ctx
    await update_resources.update_container_resources(
        ctx, update(container_id, cpu_shares=512, memory_limit_in_bytes=64 << 20)
    )
    await update_resources.update_container_resources(
        ctx, update(container_id, cpu_quota=50000, cpu_period=100000, unified={"a.b": "1"})
    )
    world.ctx = world.restarted()
    await recover.load(world.ctx)
    reported = (await world.status(container_id)).resources.linux
    assert (reported.cpu_shares, reported.memory_limit_in_bytes) == (512, 64 << 20)
    assert (reported.cpu_quota, reported.cpu_period) == (50000, 100000)
    assert dict(reported.unified) == {"a.b": "1"}


async def test_an_exited_container_is_not_updated(world: ContainerWorld) -> None:
    container_id = await world.run()
    await world.ctx.store.update(container_id, lambda s: s.model_copy(update={"finished_at": 9}))
    with pytest.raises(FailedPreconditionError, match="exited, not created or running"):
        await update_resources.update_container_resources(
            world.ctx, update(container_id, cpu_shares=2)
        )
    assert world.ctx.store.get(container_id).status.resources is None


async def test_bad_values_change_nothing(world: ContainerWorld) -> None:
    container_id = await world.create()
    with pytest.raises(InvalidArgumentError, match="cpu_shares"):
        await update_resources.update_container_resources(
            world.ctx, update(container_id, cpu_shares=10**7)
        )
    assert world.ctx.store.get(container_id).status.resources is None


def test_merged_keeps_what_the_update_leaves_zero() -> None:
    base = api_pb2.LinuxContainerResources(
        cpu_shares=2,
        oom_score_adj=5,
        hugepage_limits=[api_pb2.HugepageLimit(page_size="2MB", limit=1)],
        unified={"x.y": "1"},
    )
    change = api_pb2.LinuxContainerResources(
        cpu_shares=4,
        hugepage_limits=[api_pb2.HugepageLimit(page_size="1GB", limit=2)],
        unified={"z.w": "2"},
    )
    result = update_resources.merged(base, change)
    assert (result.cpu_shares, result.oom_score_adj) == (4, 5)
    assert [h.page_size for h in result.hugepage_limits] == ["1GB"]
    assert dict(result.unified) == {"x.y": "1", "z.w": "2"}
