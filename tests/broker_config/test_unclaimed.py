"""Messages that arrive before their handler: held unacknowledged, never acknowledged and lost.

A persistent session gets what was queued for it right after CONNACK, before the
application had a chance to register its handlers. Against a real Mosquitto.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest

from broker_config.messages import Localized, ReservationStatus, StopCall, decode
from broker_config.session import MqttSession
from broker_config.topics import Topics
from tests.conftest import ConnectFn, Inbox
from tests.support.waiting import eventually

GATEWAY = "gw-S1"


def _call(seq: int) -> StopCall:
    return StopCall(
        reservation_id=uuid.uuid4(),
        seq=seq,
        status=ReservationStatus.ASSIGNED,
        route_id="307",
        route_name=Localized.same("307"),
        headsign=Localized.same("City Hall"),
        updated_at=datetime.now(UTC),
    )


async def _offline_with_queued(connect: ConnectFn, topics: Topics, count: int) -> list[StopCall]:
    """Give the gateway a persistent session with a subscription, then queue ``count`` calls."""
    first = await connect("stop.S1", wait=False, client_id=GATEWAY)
    await first.subscribe(topics.stop_calls_filter("S1"), Inbox())
    await first.wait_connected(10)
    await first.close()
    server = await connect("server.api")
    calls = [_call(seq) for seq in range(1, count + 1)]
    for call in calls:
        await server.publish(topics.stop_call("S1", call.reservation_id), call, qos=1, timeout=5)
    return calls


async def _held(session: MqttSession, count: int) -> None:
    await eventually(
        lambda: session.unclaimed_count,
        lambda n: n == count,
        what=f"{count} messages held for a handler",
    )


async def _only_live_messages_arrive(
    connect: ConnectFn, topics: Topics, inbox: Inbox, expected: list[StopCall]
) -> None:
    """Reconnect with the handler registered first: exactly ``expected``, then a live call.

    The live call is the barrier: anything still queued for the session arrives before it.
    """
    device = await connect("stop.S1", wait=False, client_id=GATEWAY)
    await device.subscribe(topics.stop_calls_filter("S1"), inbox)
    await device.wait_connected(10)
    server = await connect("server.api")
    live = _call(seq=1000)
    await server.publish(topics.stop_call("S1", live.reservation_id), live, qos=1, timeout=5)
    got = [decode(StopCall, (await inbox.get()).payload) for _ in range(len(expected) + 1)]
    assert got == [*expected, live]
    await inbox.expect_nothing()


async def test_queued_messages_wait_for_a_handler_registered_after_connect(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    calls = await _offline_with_queued(connect, topics, 5)

    device = await connect("stop.S1", client_id=GATEWAY)  # no handler yet
    await _held(device, 5)
    await device.subscribe(topics.stop_calls_filter("S1"), inbox)

    got = [decode(StopCall, (await inbox.get()).payload) for _ in calls]
    assert got == calls  # all of them, in order
    await inbox.expect_nothing()  # once each
    assert device.unclaimed_count == 0
    # Acknowledged once handled: the next connection brings none of them back.
    await device.close()
    await _only_live_messages_arrive(connect, topics, Inbox(), [])


async def test_a_message_no_handler_claims_comes_back_on_the_next_connection(
    connect: ConnectFn, topics: Topics, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    [call] = await _offline_with_queued(connect, topics, 1)
    device = await connect("stop.S1", client_id=GATEWAY)
    await _held(device, 1)
    with caplog.at_level(logging.INFO, logger="broker_config.delivery"):
        await device.close()
    assert any("left unacknowledged" in r.getMessage() for r in caplog.records)

    await _only_live_messages_arrive(connect, topics, inbox, [call])


async def test_a_full_hold_lets_the_rest_go_unacknowledged_for_the_next_connection(
    connect: ConnectFn, topics: Topics, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    calls = await _offline_with_queued(connect, topics, 5)
    with caplog.at_level(logging.WARNING, logger="broker_config.delivery"):
        device = await connect("stop.S1", client_id=GATEWAY, max_unclaimed=2)
        await eventually(lambda: device.counters.unclaimed_overflow, lambda n: n == 3)
    assert device.unclaimed_count == 2
    overflow_lines = [r for r in caplog.records if "already wait for a handler" in r.getMessage()]
    assert len(overflow_lines) == 1  # once per connection, not once per message

    first = Inbox()
    await device.subscribe(topics.stop_calls_filter("S1"), first)
    assert [decode(StopCall, (await first.get()).payload) for _ in range(2)] == calls[:2]
    await first.expect_nothing()
    await device.close()

    # The three let go were never acknowledged: the broker sends them again, and only them.
    await _only_live_messages_arrive(connect, topics, inbox, calls[2:])


async def test_a_handler_gets_only_the_held_messages_its_filter_matches(
    connect: ConnectFn, topics: Topics
) -> None:
    first = await connect("stop.S1", wait=False, client_id=GATEWAY)
    await first.subscribe(topics.stop_calls_filter("S1"), Inbox())
    await first.subscribe(topics.stop_announce("S1"), Inbox())
    await first.wait_connected(10)
    await first.close()
    server = await connect("server.api")
    call = _call(seq=1)
    await server.publish(topics.stop_call("S1", call.reservation_id), call, qos=1, timeout=5)
    await server.publish(topics.stop_announce("S1"), b"announce", qos=1, timeout=5)

    device = await connect("stop.S1", client_id=GATEWAY)
    await _held(device, 2)
    announcements = Inbox()
    await device.subscribe(topics.stop_announce("S1"), announcements)
    assert (await announcements.get()).payload == b"announce"
    assert device.unclaimed_count == 1  # the call still waits for its own handler
    calls = Inbox()
    await device.subscribe(topics.stop_calls_filter("S1"), calls)
    assert decode(StopCall, (await calls.get()).payload) == call
    await announcements.expect_nothing()
