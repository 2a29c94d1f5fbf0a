"""GetContainerEvents: the hub's broadcast, held events, slow subscribers, and the stream
over a real grpc.aio server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from cri_api.v1 import api_pb2, api_pb2_grpc

from crio_py.cri import events
from crio_py.cri.events import EventHub, Subscription
from crio_py.cri.rpcs import merged
from crio_py.errors import UnavailableError
from tests.unit.cri.fakes import fake_table, serve_fake


def event(container_id: str) -> api_pb2.ContainerEventResponse:
    return api_pb2.ContainerEventResponse(
        container_id=container_id, container_event_type=api_pb2.CONTAINER_STARTED_EVENT
    )


async def next_id(stream: Subscription) -> str:
    return (await asyncio.wait_for(anext(stream), 1)).container_id


async def test_every_subscriber_gets_every_event_in_order() -> None:
    hub = EventHub()
    first, second = hub.subscribe(), hub.subscribe()
    for name in ("a", "b", "c"):
        hub.publish(event(name))
    assert [await next_id(first) for _ in range(3)] == ["a", "b", "c"]
    assert [await next_id(second) for _ in range(3)] == ["a", "b", "c"]


async def test_events_published_while_nobody_listens_go_to_the_first_subscriber() -> None:
    hub = EventHub(buffer=2)
    for name in ("a", "b", "c"):  # more than one subscriber's buffer: all are kept
        hub.publish(event(name))
    first = hub.subscribe()
    assert [await next_id(first) for _ in range(3)] == ["a", "b", "c"]
    second = hub.subscribe()
    hub.publish(event("d"))
    assert await next_id(first) == "d"
    assert await next_id(second) == "d"


async def test_held_events_expire() -> None:
    now = [0.0]
    hub = EventHub(hold_s=10, clock=lambda: now[0])
    hub.publish(event("old"))
    now[0] = 5
    hub.publish(event("new"))
    now[0] = 12
    stream = hub.subscribe()
    assert await next_id(stream) == "new"


async def test_a_slow_subscriber_is_closed_and_the_others_keep_receiving() -> None:
    hub = EventHub(buffer=2)
    slow, fast = hub.subscribe(), hub.subscribe()
    for name in ("a", "b", "c"):
        hub.publish(event(name))
        assert await next_id(fast) == name
    assert hub.subscribers == 1
    with pytest.raises(UnavailableError, match="fell 2 events behind"):
        await next_id(slow)
    hub.publish(event("d"))
    assert await next_id(fast) == "d"


async def test_closing_the_hub_ends_the_streams_and_later_ones() -> None:
    hub = EventHub()
    stream = hub.subscribe()
    waiting = asyncio.ensure_future(next_id(stream))
    await asyncio.sleep(0)
    hub.close()
    with pytest.raises(UnavailableError, match="closed by server"):
        await waiting
    with pytest.raises(UnavailableError):
        await next_id(hub.subscribe())


async def test_a_closed_reader_is_unsubscribed() -> None:
    hub = EventHub()
    stream = hub.subscribe()
    await stream.aclose()
    assert hub.subscribers == 0
    hub.publish(event("a"))  # held again, for the next subscriber
    assert await next_id(hub.subscribe()) == "a"


@pytest.fixture
async def hub_stub() -> AsyncIterator[tuple[EventHub, api_pb2_grpc.RuntimeServiceStub]]:
    hub = EventHub(buffer=3)
    async with serve_fake() as server:
        table = merged(
            fake_table(server.images),
            {"GetContainerEvents": lambda r: events.get_container_events(hub, r)},
        )
        server.routes.serve(table)
        async with grpc.aio.insecure_channel(server.endpoint) as channel:
            yield hub, api_pb2_grpc.RuntimeServiceStub(channel)


async def subscribed(
    hub: EventHub, stub: api_pb2_grpc.RuntimeServiceStub
) -> grpc.aio.UnaryStreamCall:
    call = stub.GetContainerEvents(api_pb2.GetEventsRequest())
    await until_subscribed(hub, 1)
    return call


async def until_subscribed(hub: EventHub, count: int) -> None:
    for _ in range(200):
        if hub.subscribers == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{hub.subscribers} subscribers, not {count}")


async def test_the_stream_carries_events_and_ends_unavailable_at_shutdown(
    hub_stub: tuple[EventHub, api_pb2_grpc.RuntimeServiceStub],
) -> None:
    call = await subscribed(*hub_stub)
    hub = hub_stub[0]
    hub.publish(event("a"))
    assert (await call.read()).container_id == "a"
    hub.close()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "closed by server" in (raised.value.details() or "")


async def test_a_client_that_goes_away_is_unsubscribed(
    hub_stub: tuple[EventHub, api_pb2_grpc.RuntimeServiceStub],
) -> None:
    call = await subscribed(*hub_stub)
    hub = hub_stub[0]
    call.cancel()
    await until_subscribed(hub, 0)
