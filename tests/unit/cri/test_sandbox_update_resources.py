"""UpdatePodSandboxResources (containerd 2.x: checked, recorded, no cgroup change) and the
events the sandbox RPCs announce."""

from __future__ import annotations

from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from crio_py.cri.sandbox import lifecycle, update_resources
from crio_py.errors import InvalidArgumentError, NotFoundError
from crio_py.store.records import SandboxStatus
from tests.fakes.sandboxes import World
from tests.unit.cri.test_sandbox import run


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def request(sandbox_id: str, **fields: object) -> api_pb2.UpdatePodSandboxResourcesRequest:
    return api_pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=sandbox_id, **fields)  # type: ignore[arg-type]


async def test_the_resources_are_recorded(world: World) -> None:
    sandbox_id = await run(world.service)
    resources = api_pb2.LinuxContainerResources(cpu_shares=1024, memory_limit_in_bytes=1 << 30)
    overhead = api_pb2.LinuxContainerResources(cpu_shares=10)
    await update_resources.update_pod_sandbox_resources(
        world.service, request(sandbox_id[:8], resources=resources, overhead=overhead)
    )
    on_disk = world.service.records.records_dir / sandbox_id / "status.json"
    kept = SandboxStatus.model_validate_json(on_disk.read_text())
    assert kept.resources == {"cpuShares": "1024", "memoryLimitInBytes": "1073741824"}
    assert kept.overhead == {"cpuShares": "10"}
    assert kept.ready


async def test_bad_values_and_unknown_sandboxes_are_refused(world: World) -> None:
    sandbox_id = await run(world.service)
    bad = api_pb2.LinuxContainerResources(oom_score_adj=5000)
    with pytest.raises(InvalidArgumentError, match="oom_score_adj"):
        await update_resources.update_pod_sandbox_resources(
            world.service, request(sandbox_id, overhead=bad)
        )
    assert world.service.records.get(sandbox_id).status.resources is None
    with pytest.raises(NotFoundError):
        await update_resources.update_pod_sandbox_resources(world.service, request("f" * 64))


async def test_the_sandbox_rpcs_announce_each_transition(world: World) -> None:
    sandbox_id = await run(world.service)
    stop = api_pb2.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)
    await lifecycle.stop_pod_sandbox(world.service, stop)
    await lifecycle.stop_pod_sandbox(world.service, stop)  # already stopped: no new event
    remove = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
    await lifecycle.remove_pod_sandbox(world.service, remove)
    assert world.members.announced == [
        (sandbox_id, api_pb2.CONTAINER_CREATED_EVENT),
        (sandbox_id, api_pb2.CONTAINER_STARTED_EVENT),
        (sandbox_id, api_pb2.CONTAINER_STOPPED_EVENT),
        (sandbox_id, api_pb2.CONTAINER_DELETED_EVENT),
    ]
