"""The container events each transition publishes, with the snapshot they carry."""

from __future__ import annotations

from pathlib import Path

from cri_api.v1 import api_pb2

from crio_py.cri.container import lifecycle, recover
from tests.fakes.containers import SANDBOX_ID, ContainerWorld


async def test_each_transition_is_published_with_the_pods_statuses(tmp_path: Path) -> None:
    world = ContainerWorld(tmp_path)
    stream = world.ctx.events.subscribe()
    container_id = await world.run()
    await lifecycle.stop_container(
        world.ctx, api_pb2.StopContainerRequest(container_id=container_id, timeout=1)
    )
    await lifecycle.remove_container(
        world.ctx, api_pb2.RemoveContainerRequest(container_id=container_id)
    )
    events = [await anext(stream) for _ in range(4)]
    assert [e.container_event_type for e in events] == [
        api_pb2.CONTAINER_CREATED_EVENT,
        api_pb2.CONTAINER_STARTED_EVENT,
        api_pb2.CONTAINER_STOPPED_EVENT,
        api_pb2.CONTAINER_DELETED_EVENT,
    ]
    assert {e.container_id for e in events} == {container_id}
    assert {e.pod_sandbox_status.id for e in events} == {SANDBOX_ID}
    states = [[s.state for s in e.containers_statuses] for e in events]
    assert states == [
        [api_pb2.CONTAINER_CREATED],
        [api_pb2.CONTAINER_RUNNING],
        [api_pb2.CONTAINER_EXITED],
        [],
    ]


async def test_an_exit_found_at_recovery_is_held_for_the_first_subscriber(
    tmp_path: Path,
) -> None:
    world = ContainerWorld(tmp_path)
    container_id = await world.run()
    world.runtime.exit(container_id, 3)  # while the daemon is down
    world.ctx = world.restarted()
    await recover.load(world.ctx)
    event = await anext(world.ctx.events.subscribe())
    assert (event.container_id, event.container_event_type) == (
        container_id,
        api_pb2.CONTAINER_STOPPED_EVENT,
    )
    assert event.containers_statuses[0].exit_code == 3
