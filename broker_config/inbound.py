"""Where received messages wait: the inbound queue, and the hold for unclaimed ones.

Both are plain event-loop objects with no I/O, used by the session and its paho loop:

- ``InboundQueue``: messages from the socket to the dispatcher, in arrival order. It is
  bounded by back-pressure, not by dropping: once ``limit`` messages wait, the paho loop
  stops reading the socket (``over_limit``) and resumes when the dispatcher has brought
  the queue down to half (``on_room``). QoS 1 messages then wait at the broker, whose
  in-flight window stops sending more; QoS 0 ones are the broker's to queue or drop.
- ``UnclaimedHold``: messages that arrived before any handler matched them (a persistent
  session gets its queued messages right after CONNACK, before the application has
  subscribed). They wait, unacknowledged, until a matching handler is registered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["InboundCounters", "InboundQueue", "UnclaimedHold"]

T = TypeVar("T")


@dataclass(slots=True)
class InboundCounters:
    """What the session's inbound side has seen, for health pages and tests."""

    #: The most messages that waited in the inbound queue at once.
    peak_depth: int = 0
    #: How often reading the socket paused because the inbound queue was full.
    pauses: int = 0
    #: QoS 0 messages dropped because the queue stayed full for half a keepalive.
    qos0_shed: int = 0
    #: Messages dropped before decoding because their payload was over the limit.
    oversized: int = 0
    #: Messages a handler rejected as malformed (MalformedPayloadError).
    malformed: int = 0
    #: Unclaimed messages let go because the hold was full (QoS 1 ones come back later).
    unclaimed_overflow: int = 0


class InboundQueue(Generic[T]):
    """A FIFO from paho's callbacks to one consumer, with high and low water marks.

    ``put`` never refuses (paho has already read the message); the producer checks
    ``over_limit`` and stops reading. ``on_room`` is called once the consumer has brought
    the queue from the limit down to half of it.
    """

    def __init__(self, limit: int, counters: InboundCounters, on_room: Callable[[], None]) -> None:
        if limit < 1:
            raise ValueError("the inbound queue needs room for at least one message")
        self.limit = limit
        self._resume_at = limit // 2
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._counters = counters
        self._on_room = on_room
        #: True from reaching ``limit`` until drained to half of it.
        self.over_limit = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        self._items.append(item)
        self._added()

    def put_front(self, items: Iterable[T]) -> None:
        """Queue ``items`` (in their order) before everything waiting."""
        self._items.extendleft(reversed(list(items)))
        self._added()

    def _added(self) -> None:
        depth = len(self._items)
        counters = self._counters
        if depth > counters.peak_depth:
            counters.peak_depth = depth
        if depth >= self.limit and not self.over_limit:
            self.over_limit = True
            counters.pauses += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> T:
        """The oldest message; waits while there is none."""
        items = self._items
        while not items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        item = items.popleft()
        if self.over_limit and len(items) <= self._resume_at:
            self.over_limit = False
            self._on_room()
        return item


class UnclaimedHold(Generic[T]):
    """Messages no handler has claimed yet, in arrival order, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[tuple[str, float, T]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def hold(self, topic: str, at: float, item: T) -> bool:
        """Keep ``item`` (received on ``topic`` at ``at``); False if the hold is full."""
        if len(self._items) >= self.limit:
            return False
        self._items.append((topic, at, item))
        return True

    def claim(self, matches: Callable[[str], bool]) -> list[T]:
        """Take out, in arrival order, every item whose topic ``matches``."""
        taken: list[T] = []
        kept: deque[tuple[str, float, T]] = deque()
        for entry in self._items:
            if matches(entry[0]):
                taken.append(entry[2])
            else:
                kept.append(entry)
        self._items = kept
        return taken

    def discard(self, unwanted: Callable[[T], bool]) -> int:
        """Let go of every item that is ``unwanted``; return how many."""
        before = len(self._items)
        self._items = deque(entry for entry in self._items if not unwanted(entry[2]))
        return before - len(self._items)

    def oldest(self) -> tuple[str, float] | None:
        """Topic and time of the message held longest, None when empty."""
        if not self._items:
            return None
        topic, at, _item = self._items[0]
        return topic, at

    def clear(self) -> list[T]:
        """Let go of everything held; return it."""
        items = [entry[2] for entry in self._items]
        self._items.clear()
        return items
