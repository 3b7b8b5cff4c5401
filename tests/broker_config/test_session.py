"""The session layer against a real Mosquitto: persistence, birth/will, restarts, handlers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Literal

import pytest

from broker_config.broker import ManagedBroker
from broker_config.errors import MalformedPayloadError, OutgoingQueueFullError
from broker_config.messages import (
    DeviceState,
    DeviceStatus,
    Localized,
    ReservationStatus,
    StopCall,
    decode,
)
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import ParsedTopic, TopicKind, Topics
from tests.conftest import ConnectFn, Inbox
from tests.support.waiting import eventually


def _call(seq: int = 1, reservation_id: uuid.UUID | None = None) -> StopCall:
    return StopCall(
        reservation_id=reservation_id or uuid.uuid4(),
        seq=seq,
        status=ReservationStatus.ASSIGNED,
        route_id="307",
        route_name=Localized.same("307"),
        headsign=Localized.model_validate({"zh-TW": "市政府", "en": "City Hall"}),
        updated_at=datetime.now(UTC),
    )


async def _open(
    connect: ConnectFn, login: str, topic_filter: str, inbox: Inbox, **options: object
) -> MqttSession:
    """Connect with the handler registered before the first CONNACK (as devices do)."""
    session = await connect(login, wait=False, **options)
    await session.subscribe(topic_filter, inbox)
    await session.wait_connected(10)
    return session


def _went_down(session: MqttSession) -> asyncio.Event:
    down = asyncio.Event()
    session.on_connection_change(lambda up: None if up else down.set())
    return down


async def _status(inbox: Inbox) -> DeviceStatus:
    return decode(DeviceStatus, (await inbox.get()).payload)


async def test_qos1_published_while_offline_is_delivered_on_reconnect(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    calls = topics.stop_calls_filter("S1")
    device = await _open(connect, "stop.S1", calls, inbox, client_id="gw-S1")
    await device.close()
    server = await connect("server.api")
    call = _call()
    # Not retained: only the persistent session can bring it to the device.
    await server.publish(topics.stop_call("S1", call.reservation_id), call, qos=1, timeout=5)

    await _open(connect, "stop.S1", calls, inbox, client_id="gw-S1")
    msg = await inbox.get()
    assert decode(StopCall, msg.payload) == call
    assert not msg.retain
    await inbox.expect_nothing()


async def test_a_clean_start_device_does_not_get_what_it_missed(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    """The control for the test above: without a persistent session the call is lost."""
    calls = topics.stop_calls_filter("S1")
    device = await _open(connect, "stop.S1", calls, inbox, client_id="gw-S1", clean_start=True)
    await device.close()
    server = await connect("server.api")
    call = _call()
    await server.publish(topics.stop_call("S1", call.reservation_id), call, qos=1, timeout=5)
    await _open(connect, "stop.S1", calls, inbox, client_id="gw-S1", clean_start=True)
    # A barrier: a call published now arrives, and a queued one would have come before it.
    live = _call(seq=2)
    await server.publish(topics.stop_call("S1", live.reservation_id), live, qos=1, timeout=5)
    assert decode(StopCall, (await inbox.get()).payload) == live
    assert [decode(StopCall, m.payload) for m in inbox.all] == [live]


async def test_will_turns_status_offline_with_the_same_session(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    status_topic = topics.stop_status("S1")
    await _open(connect, "server.api", status_topic, inbox)
    device = await connect("stop.S1", client_id="gw-S1", status_topic=status_topic)
    online = await _status(inbox)
    assert (online.state, online.session) == (DeviceState.ONLINE, device.session_number)

    await device.abort()  # no DISCONNECT: the broker publishes the will
    offline = await _status(inbox)
    assert offline.state is DeviceState.OFFLINE
    assert offline.session == online.session
    assert offline.started_at == online.started_at

    again = await connect("stop.S1", client_id="gw-S1", status_topic=status_topic)
    back = await _status(inbox)
    assert back.state is DeviceState.ONLINE
    assert back.session == again.session_number > online.session

    # A late reader sees the retained latest status.
    late = Inbox()
    await _open(connect, "server.api-2", status_topic, late)
    assert await _status(late) == back


async def test_graceful_close_publishes_offline(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    status_topic = topics.vehicle_status("V1")
    await _open(connect, "server.api", status_topic, inbox)
    device = await connect("vehicle.V1", status_topic=status_topic)
    assert (await _status(inbox)).state is DeviceState.ONLINE
    await device.close()
    offline = await _status(inbox)
    assert (offline.state, offline.session) == (DeviceState.OFFLINE, device.session_number)


async def test_broker_restart_keeps_sessions_and_retained_messages(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    calls = topics.stop_calls_filter("S1")
    device = await _open(connect, "stop.S1", calls, inbox, client_id="gw-S1")
    await device.close()
    server = await connect("server.api-1")
    retained, queued = _call(seq=1), _call(seq=2)
    await server.publish(topics.stop_call("S2", retained.reservation_id), retained, retain=True)
    await server.publish(topics.stop_call("S1", queued.reservation_id), queued, qos=1)

    await broker.stop()
    await broker.start()

    # The offline device's session (subscription and queued message) survived ...
    await _open(connect, "stop.S1", calls, inbox, client_id="gw-S1")
    assert decode(StopCall, (await inbox.get()).payload) == queued
    # ... and so did the retained message.
    reader = Inbox()
    await _open(connect, "server.api", topics.stop_calls_filter("S2"), reader, clean_start=True)
    msg = await reader.get()
    assert msg.retain
    assert decode(StopCall, msg.payload) == retained


async def test_qos1_publish_while_broker_is_down_completes_after_it_returns(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    events = topics.stop_events("S1")
    await _open(connect, "server.api-1", events, inbox)
    device = await connect("stop.S1", reconnect_max_s=0.5)
    down = _went_down(device)
    await broker.stop()
    await asyncio.wait_for(down.wait(), 10)

    publish = asyncio.create_task(device.publish(events, b"while-down", qos=1))
    done, _ = await asyncio.wait({publish}, timeout=0.3)
    assert not done, "a QoS 1 publish must wait for the broker, not fail or pretend"
    assert device.pending_count == 1

    await broker.start()
    await asyncio.wait_for(publish, 15)  # returned on PUBACK
    msg = await inbox.get(timeout=15)
    assert msg.payload == b"while-down"
    assert device.pending_count == 0


async def test_reconnect_restores_subscriptions_of_a_clean_session(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    server = await _open(
        connect, "server.api", topics.all_of(TopicKind.STOP_EVENTS), inbox, clean_start=True
    )
    changes: asyncio.Queue[bool] = asyncio.Queue()
    server.on_connection_change(changes.put_nowait)
    await broker.stop()
    assert await asyncio.wait_for(changes.get(), 10) is False
    await broker.start()
    assert await asyncio.wait_for(changes.get(), 15) is True
    gateway = await connect("stop.S2")
    await gateway.publish(topics.stop_events("S2"), b"after restart", qos=1, timeout=5)
    assert (await inbox.get()).payload == b"after restart"


async def test_outgoing_queue_is_bounded(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics
) -> None:
    device = await connect("stop.S1", max_pending=2)
    down = _went_down(device)
    await broker.stop()
    await asyncio.wait_for(down.wait(), 10)
    waiting = [
        asyncio.create_task(device.publish(topics.stop_events("S1"), b"x", qos=1)) for _ in range(2)
    ]
    await asyncio.sleep(0)  # let both register
    with pytest.raises(OutgoingQueueFullError):
        await device.publish(topics.stop_events("S1"), b"x", qos=1)
    await broker.start()
    await asyncio.wait_for(asyncio.gather(*waiting), 15)


async def test_handlers_survive_malformed_payloads_and_errors(
    connect: ConnectFn, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    good: asyncio.Queue[StopCall] = asyncio.Queue()
    seen: list[str] = []

    async def on_call(msg: ReceivedMessage) -> None:
        seen.append(msg.topic)
        call = decode(StopCall, msg.payload)  # raises MalformedPayloadError on junk
        if call.seq == 13:
            raise RuntimeError("handler bug")
        await good.put(call)

    device = await connect("stop.S1", wait=False)
    await device.subscribe(topics.stop_calls_filter("S1"), on_call)
    await device.wait_connected(10)
    server = await connect("server.api")
    rid = str(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger="broker_config.delivery"):
        await server.publish(topics.stop_call("S1", rid), b"{not json", qos=1)
        await server.publish(topics.stop_call("S1", rid), b'{"v": 1, "seq": "x"}', qos=1)
        await server.publish(topics.stop_call("S1", rid), _call(seq=13), qos=1)
        after = _call(seq=14)
        await server.publish(topics.stop_call("S1", rid), after, qos=1)
        assert await asyncio.wait_for(good.get(), 5) == after
    assert len(seen) == 4
    # Both counted; the second from the same device within the minute is not logged.
    assert device.counters.malformed == 2
    assert sum("malformed" in r.getMessage() for r in caplog.records) == 1
    assert any(r.exc_info and "handler bug" in str(r.exc_info[1]) for r in caplog.records)
    assert device.connected


async def test_malformed_payload_error_is_the_one_error_type() -> None:
    with pytest.raises(MalformedPayloadError):
        decode(StopCall, b"")


async def test_a_received_message_carries_its_parsed_topic_and_receive_time(
    connect: ConnectFn, topics: Topics
) -> None:
    handled: asyncio.Queue[tuple[ReceivedMessage, float]] = asyncio.Queue()

    async def on_message(msg: ReceivedMessage) -> None:
        await handled.put((msg, time.monotonic()))

    device = await connect("stop.S1", wait=False)
    await device.subscribe(topics.stop_calls_filter("S1"), on_message)
    await device.wait_connected(10)
    server = await connect("server.api", wait=False)
    await server.subscribe(topics.all_of(TopicKind.STOP_EVENTS), on_message)
    await server.wait_connected(10)

    call = _call()
    before = time.monotonic()
    await server.publish(topics.stop_call("S1", call.reservation_id), call, qos=1, timeout=5)
    msg, handled_at = await asyncio.wait_for(handled.get(), 5)
    rid = str(call.reservation_id)
    assert msg.parsed == ParsedTopic(TopicKind.STOP_CALL, "S1", rid)
    assert before <= msg.received_at <= handled_at

    before = time.monotonic()
    await device.publish(topics.stop_events("S1"), b"{}", qos=1, timeout=5)
    msg, handled_at = await asyncio.wait_for(handled.get(), 5)
    assert msg.parsed == ParsedTopic(TopicKind.STOP_EVENTS, "S1")
    assert before <= msg.received_at <= handled_at
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.parsed = None  # type: ignore[misc]


async def test_a_topic_outside_the_table_is_delivered_unparsed(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    server = await _open(connect, "server.api", topics.everything(), inbox)
    # Written by hand on purpose: no builder makes these.
    await server.publish(f"{topics.root}/tests/free-form", b"a", qos=1, timeout=5)
    await server.publish(f"{topics.root}/stops/S1/calls/not-a-uuid", b"b", qos=1, timeout=5)
    await server.publish(topics.stop_announce("S1"), b"c", qos=1, timeout=5)
    got = [await inbox.get() for _ in range(3)]
    assert [(m.payload, m.parsed) for m in got] == [
        (b"a", None),
        (b"b", None),
        (b"c", ParsedTopic(TopicKind.STOP_ANNOUNCE, "S1")),
    ]
    assert server.connected


async def test_topics_are_parsed_under_the_session_root(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    other = await _open(connect, "server.api", topics.everything(), inbox, root="elsewhere/v1")
    assert other.topics.root == "elsewhere/v1"
    await other.publish(topics.stop_announce("S1"), b"x", qos=1, timeout=5)
    assert (await inbox.get()).parsed is None  # a v1 topic, but not under this root


class _StalledBirth(MqttSession):
    """A session whose birth message never gets its PUBACK, as behind a stalled broker."""

    async def _publish_status(self, state: DeviceState) -> None:
        if state is DeviceState.ONLINE:
            await asyncio.Event().wait()
        await super()._publish_status(state)


@pytest.mark.parametrize("ending", ["close", "abort"])
async def test_no_task_is_left_behind_when_the_session_ends(
    broker: ManagedBroker, topics: Topics, ending: Literal["close", "abort"]
) -> None:
    before = asyncio.all_tasks()
    options = SessionOptions(status_topic=topics.stop_status("S1"), clean_start=True)
    async with _StalledBirth(broker.endpoint("stop.S1"), options) as session:
        await session.wait_connected(10)
        births = [t for t in asyncio.all_tasks() if t.get_name().startswith("mqtt-birth-")]
        assert len(births) == 1
        assert not births[0].done()
        if ending == "abort":
            await session.abort()
    assert births[0].cancelled()
    assert asyncio.all_tasks() - before == set()


async def test_an_abandoned_publish_is_forgotten_once_acknowledged(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    """Nobody awaits ``sent``: it still counts as in flight until its PUBACK, then the
    session forgets it (before, it stayed until its packet id came round again)."""
    events = topics.stop_events("S1")
    await _open(connect, "server.api-1", events, inbox)
    device = await connect("stop.S1", reconnect_max_s=0.5)
    acked = device.send(events, b"acked first", qos=1)
    assert acked is not None
    await acked.ack
    device.abandon(acked)
    assert device.pending_count == 0
    down = _went_down(device)
    await broker.stop()
    await asyncio.wait_for(down.wait(), 10)
    sent = device.send(events, b"while down", qos=1)
    assert sent is not None
    device.abandon(sent)
    assert device.pending_count == 1, "in flight until the broker has it"
    await broker.start()
    assert (await inbox.get(timeout=15)).payload == b"acked first"
    assert (await inbox.get(timeout=15)).payload == b"while down"
    await eventually(lambda: device.pending_count, lambda n: n == 0, what="forgotten")
