"""GetContainerEvents: the broadcast of container lifecycle events to every subscriber.

Modelled on containerd's `internal/eventq` and `GetContainerEvents`
(`internal/cri/server/container_events.go`): each subscriber has its own bounded buffer; an
event published while nobody listens is held (for `HOLD_S`, at most `HELD_LIMIT` of them)
and handed to the first subscriber, so the exits that recovery found while the daemon was
down reach the kubelet once it reconnects. Unlike containerd, a subscriber whose buffer is
full is not waited for: its stream is closed with UNAVAILABLE, and the kubelet falls back to
relisting, so one slow client never stalls the RPC that published the event.

Nothing here builds an event (`cri/container/announce.py` does) or speaks gRPC.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from cri_api.v1 import api_pb2

from crio_py.errors import UnavailableError

logger = logging.getLogger(__name__)

Event = api_pb2.ContainerEventResponse

SUBSCRIBER_BUFFER = 100
"""Events a subscriber may fall behind by before its stream is closed (containerd's 100)."""
HELD_LIMIT = 1000
"""Events kept while nobody subscribes; the oldest go first beyond this."""
HOLD_S = 300.0
"""How long an event published while nobody subscribes waits for one."""
CLOSED_MESSAGE = "container events subscription closed by server"


class Subscription:
    """One GetContainerEvents stream: an async iterator of its events that ends with
    UnavailableError when the subscriber fell behind or the daemon is stopping."""

    def __init__(self, hub: EventHub, limit: int) -> None:
        self._hub = hub
        self._limit = limit
        self._pending: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self._closed_because = ""

    def offer(self, event: Event) -> bool:
        """Queue `event`; False (and the stream closed) when the buffer is full."""
        if self._closed_because:
            return False
        if len(self._pending) >= self._limit:
            self.close(f"container events subscriber fell {self._limit} events behind")
            return False
        self._pending.append(event)
        self._wake.set()
        return True

    def preload(self, events: list[Event]) -> None:
        """Queue the events held for the first subscriber (beyond the buffer's limit: the
        limit is on how far it falls behind from now on)."""
        self._limit += len(events)
        self._pending.extend(events)
        self._wake.set()

    def close(self, reason: str) -> None:
        """End the stream: the reader gets UnavailableError(`reason`) next."""
        if not self._closed_because:
            self._closed_because = reason
            self._pending.clear()
            self._wake.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._pending:
            if self._closed_because:
                raise UnavailableError(self._closed_because)
            self._wake.clear()
            await self._wake.wait()
        return self._pending.popleft()

    async def aclose(self) -> None:
        """The reader is gone: stop delivering to it."""
        self._hub.unsubscribe(self)
        self.close(CLOSED_MESSAGE)


class EventHub:
    """Every subscriber, and the events held while there is none."""

    def __init__(
        self,
        *,
        buffer: int = SUBSCRIBER_BUFFER,
        held_limit: int = HELD_LIMIT,
        hold_s: float = HOLD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._buffer = buffer
        self._hold_s = hold_s
        self._clock = clock
        self._subscribers: list[Subscription] = []
        self._held: collections.deque[tuple[float, Event]] = collections.deque(maxlen=held_limit)
        self._closed = False

    def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber, or hold it when there is none. Never waits."""
        for subscriber in list(self._subscribers):
            if not subscriber.offer(event):
                self.unsubscribe(subscriber)
                logger.warning("Closed a container events stream that fell behind")
        if not self._subscribers and not self._closed:
            self._held.append((self._clock() + self._hold_s, event))

    def subscribe(self) -> Subscription:
        """A new stream; the first one after a quiet spell gets the events held meanwhile."""
        subscriber = Subscription(self, self._buffer)
        if self._closed:
            subscriber.close(CLOSED_MESSAGE)
            return subscriber
        now = self._clock()
        held = [event for expires, event in self._held if expires > now]
        self._held.clear()
        subscriber.preload(held)
        self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscription) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    def close(self) -> None:
        """The daemon is stopping: end every stream (UNAVAILABLE, as containerd answers)."""
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.close(CLOSED_MESSAGE)
        self._subscribers.clear()


async def get_container_events(hub: EventHub, request: api_pb2.GetEventsRequest) -> Subscription:
    """GetContainerEvents: the stream the servicer writes to its client until it ends."""
    return hub.subscribe()
