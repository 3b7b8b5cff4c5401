"""The inbound queue's water marks and the hold for unclaimed messages, without a broker."""

from __future__ import annotations

import asyncio

import pytest

from broker_config.inbound import InboundCounters, InboundQueue, UnclaimedHold


def _queue(limit: int) -> tuple[InboundQueue[int], InboundCounters, list[str]]:
    events: list[str] = []
    counters = InboundCounters()
    return InboundQueue(limit, counters, lambda: events.append("room")), counters, events


async def test_the_queue_is_over_its_limit_until_drained_to_half() -> None:
    queue, counters, events = _queue(4)
    for i in range(3):
        queue.put(i)
    assert not queue.over_limit
    queue.put(3)
    assert queue.over_limit
    queue.put(4)  # put never refuses: paho has read it already
    assert (len(queue), counters.peak_depth, counters.pauses) == (5, 5, 1)

    got = [await queue.get() for _ in range(2)]
    assert (got, queue.over_limit, events) == ([0, 1], True, [])
    assert await queue.get() == 2  # down to half of the limit
    assert (queue.over_limit, events) == (False, ["room"])
    assert [await queue.get() for _ in range(2)] == [3, 4]
    assert events == ["room"]


async def test_get_waits_for_a_put_and_put_front_goes_first() -> None:
    queue, _counters, _events = _queue(10)
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    queue.put(1)
    assert await asyncio.wait_for(waiting, 1) == 1

    queue.put(5)
    queue.put_front([2, 3, 4])
    assert [await queue.get() for _ in range(4)] == [2, 3, 4, 5]

    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_front([9])
    assert await asyncio.wait_for(waiting, 1) == 9


def test_a_queue_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one"):
        InboundQueue[int](0, InboundCounters(), lambda: None)


def test_the_hold_gives_back_what_a_filter_claims_in_arrival_order() -> None:
    hold: UnclaimedHold[str] = UnclaimedHold(limit=4)
    assert hold.oldest() is None
    for topic, at in (("a/1", 1.0), ("b/1", 2.0), ("a/2", 3.0), ("b/2", 4.0)):
        assert hold.hold(topic, at, topic.upper())
    assert not hold.hold("a/3", 5.0, "A/3")  # full: the caller lets it go
    assert hold.oldest() == ("a/1", 1.0)

    assert hold.claim(lambda topic: topic.startswith("a/")) == ["A/1", "A/2"]
    assert (len(hold), hold.oldest()) == (2, ("b/1", 2.0))
    assert hold.discard(lambda item: item == "B/1") == 1
    assert hold.clear() == ["B/2"]
    assert len(hold) == 0
