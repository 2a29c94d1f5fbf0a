"""The container RPC table on fakes: every RPC is in it once, an unknown id is NOT_FOUND (OK
for the idempotent ones), and the RPCs on a running container reach their seam."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cri_api.v1 import api_pb2

from crio_py.backends.conmon_exec import ExecSyncResult
from crio_py.config.model import StreamSettings
from crio_py.cri.container import rpc_table
from crio_py.cri.rpcs import Handler
from crio_py.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from crio_py.streaming.server import StreamServer
from tests.fakes.containers import SANDBOX_ID, ContainerWorld

UNKNOWN = "f" * 64
SERVICE = api_pb2.DESCRIPTOR.services_by_name["RuntimeService"]


@pytest.fixture
def world(tmp_path: Path) -> ContainerWorld:
    return ContainerWorld(tmp_path)


def table(world: ContainerWorld) -> dict[str, Handler]:
    return rpc_table(world.ctx, StreamServer(StreamSettings()))


def request_for(name: str, **fields: Any) -> Any:
    return getattr(api_pb2, SERVICE.methods_by_name[name].input_type.name)(**fields)


def test_every_name_is_a_runtime_rpc(world: ContainerWorld) -> None:
    names = set(table(world))
    assert names <= set(SERVICE.methods_by_name)
    assert {"CreateContainer", "ExecSync", "PodSandboxStats", "ListPodSandboxMetrics"} <= names


ID_RPCS = (
    "StartContainer",
    "ContainerStatus",
    "ExecSync",
    "ReopenContainerLog",
    "UpdateContainerResources",
    "Exec",
    "Attach",
    "ContainerStats",
)
IDEMPOTENT = ("StopContainer", "RemoveContainer")


@pytest.mark.parametrize("name", ID_RPCS)
async def test_an_unknown_container_is_not_found(world: ContainerWorld, name: str) -> None:
    fields: dict[str, Any] = {"container_id": UNKNOWN}
    if name in ("ExecSync", "Exec"):
        fields["cmd"] = ["true"]
    if name in ("Exec", "Attach"):
        fields["stdout"] = True
    with pytest.raises(NotFoundError, match="not found"):
        await table(world)[name](request_for(name, **fields))


@pytest.mark.parametrize("name", IDEMPOTENT)
async def test_stop_and_remove_of_an_unknown_container_are_ok(
    world: ContainerWorld, name: str
) -> None:
    await table(world)[name](request_for(name, container_id=UNKNOWN))


async def test_an_unknown_sandbox_is_not_found(world: ContainerWorld) -> None:
    with pytest.raises(NotFoundError):
        await table(world)["PodSandboxStats"](
            request_for("PodSandboxStats", pod_sandbox_id=UNKNOWN)
        )
    with pytest.raises(NotFoundError):
        await table(world)["PortForward"](request_for("PortForward", pod_sandbox_id=UNKNOWN))


async def test_list_containers_filters_by_id_state_and_sandbox(world: ContainerWorld) -> None:
    running, created = await world.run("a"), await world.create("b")
    rpcs = table(world)

    async def listed(**fields: Any) -> list[str]:
        request = api_pb2.ListContainersRequest(filter=api_pb2.ContainerFilter(**fields))
        return sorted(c.id for c in (await rpcs["ListContainers"](request)).containers)

    assert await listed() == sorted([running, created])
    assert await listed(id=running[:6]) == [running]
    state = api_pb2.ContainerStateValue(state=api_pb2.CONTAINER_CREATED)
    assert await listed(state=state) == [created]
    assert await listed(pod_sandbox_id=SANDBOX_ID[:6]) == sorted([running, created])
    assert await listed(pod_sandbox_id=UNKNOWN) == []


async def test_list_containers_shows_each_change_of_state(world: ContainerWorld) -> None:
    """Items are kept per status record: a start (a new record) is seen at once."""
    container_id = await world.create("c")
    rpcs = table(world)

    async def state() -> int:
        listed = await rpcs["ListContainers"](api_pb2.ListContainersRequest())
        return next(c.state for c in listed.containers if c.id == container_id)

    assert await state() == api_pb2.CONTAINER_CREATED
    assert await state() == api_pb2.CONTAINER_CREATED  # the kept item
    await world.start(container_id)
    assert await state() == api_pb2.CONTAINER_RUNNING


async def test_exec_sync_runs_in_a_running_container_only(world: ContainerWorld) -> None:
    container_id = await world.create()
    rpcs = table(world)
    request = api_pb2.ExecSyncRequest(container_id=container_id, cmd=["id", "-u"], timeout=3)
    with pytest.raises(FailedPreconditionError, match="created, not running"):
        await rpcs["ExecSync"](request)
    await world.start(container_id)
    world.execs.result = ExecSyncResult(2, b"0\n", b"warn\n")
    response = await rpcs["ExecSync"](request)
    assert (response.exit_code, response.stdout, response.stderr) == (2, b"0\n", b"warn\n")
    assert world.execs.calls == [(container_id, ["id", "-u"], 3)]


async def test_exec_sync_needs_a_command(world: ContainerWorld) -> None:
    container_id = await world.run()
    with pytest.raises(InvalidArgumentError, match="needs a command"):
        await table(world)["ExecSync"](api_pb2.ExecSyncRequest(container_id=container_id))
    assert world.execs.calls == []


async def test_update_resources_hands_the_runtime_the_new_limits(world: ContainerWorld) -> None:
    container_id = await world.run()
    linux = api_pb2.LinuxContainerResources(cpu_shares=512, memory_limit_in_bytes=64 << 20)
    request = api_pb2.UpdateContainerResourcesRequest(container_id=container_id, linux=linux)
    await table(world)["UpdateContainerResources"](request)
    assert world.runtime.calls[-1] == ("update", container_id, 0)
    written = json.loads((world.layout.bundle(container_id) / "resources.json").read_text())
    assert written["memory"]["limit"] == 64 << 20
    assert written["cpu"]["shares"] == 512


async def test_reopen_log_without_conmon_is_a_failed_precondition(
    world: ContainerWorld,
) -> None:
    container_id = await world.run()
    request = api_pb2.ReopenContainerLogRequest(container_id=container_id)
    with pytest.raises(FailedPreconditionError, match=r"conmon of .* is gone"):
        await table(world)["ReopenContainerLog"](request)


async def test_container_stats_of_a_created_container(world: ContainerWorld) -> None:
    container_id = await world.create()
    rpcs = table(world)
    response = await rpcs["ContainerStats"](
        request_for("ContainerStats", container_id=container_id)
    )
    assert response.stats.attributes.id == container_id
    listed = await rpcs["ListContainerStats"](request_for("ListContainerStats"))
    assert [s.attributes.id for s in listed.stats] == [container_id]
    pods = await rpcs["ListPodSandboxStats"](request_for("ListPodSandboxStats"))
    assert [p.attributes.id for p in pods.stats] == [SANDBOX_ID]
    assert [c.attributes.id for c in pods.stats[0].linux.containers] == [container_id]
