"""Bounds of the session layer against a real Mosquitto: payload size, the inbound queue,
and how dropped messages are logged."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from broker_config.const import MAX_PAYLOAD_BYTES
from broker_config.errors import MalformedPayloadError, PublishRefusedError
from broker_config.messages import StopCall, StopEvent, decode
from broker_config.session import PayloadTooLargeError, ReceivedMessage
from broker_config.topics import TopicKind, Topics
from tests.conftest import ConnectFn, Inbox
from tests.support.waiting import eventually

DELIVERY_LOG = "broker_config.delivery"


async def test_a_payload_over_the_limit_is_refused_before_it_is_sent(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    server = await connect("server.api", wait=False)
    await server.subscribe(topics.everything(), inbox)
    await server.wait_connected(10)
    device = await connect("stop.S1")
    events = topics.stop_events("S1")
    for qos in (0, 1):
        with pytest.raises(PayloadTooLargeError) as refused:
            await device.publish(events, b"x" * (MAX_PAYLOAD_BYTES + 1), qos=qos)
        assert isinstance(refused.value, PublishRefusedError)  # a refusal, not worth a retry
        assert refused.value.code == 149
        assert str(MAX_PAYLOAD_BYTES) in str(refused.value)
    assert device.pending_count == 0

    # The largest payload allowed passes the broker's packet limit, on a long topic.
    longest = topics.stop_call("S" * 64, uuid.uuid4())
    await server.publish(longest, b"y" * MAX_PAYLOAD_BYTES, qos=1, timeout=5)
    msg = await inbox.get()
    assert (msg.topic, len(msg.payload)) == (longest, MAX_PAYLOAD_BYTES)
    assert server.connected
    assert device.connected


async def test_an_inbound_payload_over_the_limit_is_dropped_counted_and_acknowledged(
    connect: ConnectFn, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[bytes] = []
    got_good = asyncio.Event()

    async def on_event(msg: ReceivedMessage) -> None:
        handled.append(msg.payload)
        got_good.set()

    events = topics.stop_events("S1")
    server = await connect("server.api-1", wait=False, max_payload=1000)
    await server.subscribe(events, on_event)
    await server.wait_connected(10)
    device = await connect("stop.S1")
    with caplog.at_level(logging.WARNING, logger=DELIVERY_LOG):
        for _ in range(3):
            await device.publish(events, b"\x1b" * 2000, qos=1, timeout=5)
        await device.publish(events, b"good", qos=1, timeout=5)
        await asyncio.wait_for(got_good.wait(), 5)
    assert handled == [b"good"]
    assert server.counters.oversized == 3
    lines = [r.getMessage() for r in caplog.records if "oversized" in r.getMessage()]
    assert len(lines) == 1  # once per device and minute
    assert "stop S1" in lines[0]
    assert "2000 bytes" in lines[0]
    assert "\x1b" not in lines[0]

    # Acknowledged: a new connection of the persistent session does not get them again.
    await server.close()
    again = Inbox()
    server = await connect("server.api-1", wait=False, max_payload=1000)
    await server.subscribe(events, again)
    await server.wait_connected(10)
    await device.publish(events, b"after", qos=1, timeout=5)
    assert (await again.get()).payload == b"after"
    await again.expect_nothing()


async def test_malformed_payloads_are_logged_once_per_device_with_their_text_escaped(
    connect: ConnectFn, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    done = asyncio.Event()

    async def on_event(msg: ReceivedMessage) -> None:
        if msg.payload == b"barrier":
            done.set()
            return
        decode(StopEvent, msg.payload)  # raises MalformedPayloadError

    server = await connect("server.api", wait=False)
    await server.subscribe(topics.all_of(TopicKind.STOP_EVENTS), on_event)
    await server.wait_connected(10)
    s1 = await connect("stop.S1")
    s2 = await connect("stop.S2")
    junk = b"\x1b[2J\r\nWARNING forged line\x00\xff\xe2\x80\xae"
    with caplog.at_level(logging.WARNING, logger=DELIVERY_LOG):
        for _ in range(30):
            await s1.publish(topics.stop_events("S1"), junk, qos=1, timeout=5)
        await s2.publish(topics.stop_events("S2"), junk, qos=1, timeout=5)
        await s1.publish(topics.stop_events("S1"), b"barrier", qos=1, timeout=5)
        await asyncio.wait_for(done.wait(), 5)

    assert server.counters.malformed == 31
    assert server.drops.counts["malformed"] == 31
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) == 2  # the first of each device; the other 29 are counted
    assert ["stop S1" in lines[0], "stop S2" in lines[1]] == [True, True]
    for line in lines:
        assert not any(ch in line for ch in "\x1b\r\n\x00\u202e")
        assert "\\x1b[2J\\x0d\\x0aWARNING forged line\\x00\\xff\\u202e" in line


async def test_a_slow_handler_holds_reading_back_and_nothing_is_lost(
    connect: ConnectFn, topics: Topics
) -> None:
    received: list[bytes] = []
    depths: list[int] = []
    events = topics.stop_events("S1")
    count = 400

    async def slow(msg: ReceivedMessage) -> None:
        depths.append(server.incoming_count)
        received.append(msg.payload)
        await asyncio.sleep(0.001)

    server = await connect("server.api", wait=False, max_incoming=10)
    await server.subscribe(events, slow)
    await server.wait_connected(10)
    device = await connect("stop.S1")
    await asyncio.gather(*(device.publish(events, b"%d" % i, qos=1) for i in range(count)))
    await eventually(lambda: len(received), lambda n: n >= count, what="every message")
    await asyncio.sleep(0.2)  # a duplicate would arrive meanwhile

    assert received == [b"%d" % i for i in range(count)]  # all, once, in order
    assert server.counters.pauses >= 1
    # The broker's in-flight window (100) would have filled the queue far past 10.
    assert server.counters.peak_depth <= 12
    assert max(depths) <= 12


async def test_a_qos0_flood_does_not_grow_the_queue_past_its_bound(
    connect: ConnectFn, topics: Topics
) -> None:
    release = asyncio.Event()
    received = 0

    async def stalled(msg: ReceivedMessage) -> None:
        nonlocal received
        received += 1
        await release.wait()

    positions = topics.vehicle_position("V1")
    server = await connect("server.api", wait=False, max_incoming=10)
    await server.subscribe(positions, stalled, qos=0)
    await server.wait_connected(10)
    vehicle = await connect("vehicle.V1")
    for _ in range(2000):
        await vehicle.publish(positions, b"p" * 1000, qos=0)
    # Its PUBACK means the broker has passed on every position before it.
    await vehicle.publish(topics.vehicle_events("V1"), b"x", qos=1, timeout=5)
    await asyncio.sleep(0.3)  # time for a reader that did not pause to read them all
    assert server.counters.peak_depth <= 12
    assert server.incoming_count <= 12
    release.set()
    assert server.connected
    assert received >= 1


async def test_a_long_pause_keeps_the_link_and_every_qos1_message_and_sheds_qos0(
    connect: ConnectFn, topics: Topics
) -> None:
    release = asyncio.Event()
    events: list[bytes] = []
    positions = 0

    async def on_event(msg: ReceivedMessage) -> None:
        await release.wait()
        events.append(msg.payload)

    async def on_position(msg: ReceivedMessage) -> None:
        nonlocal positions
        await release.wait()
        positions += 1

    server = await connect("server.api", wait=False, max_incoming=2, keepalive_s=1)
    await server.subscribe(topics.stop_events("S1"), on_event)
    await server.subscribe(topics.vehicle_position("V1"), on_position, qos=0)
    await server.wait_connected(10)
    device = await connect("stop.S1")
    vehicle = await connect("vehicle.V1")
    await asyncio.gather(
        *(device.publish(topics.stop_events("S1"), b"%d" % i, qos=1) for i in range(20))
    )
    for _ in range(2000):
        await vehicle.publish(topics.vehicle_position("V1"), b"p" * 200, qos=0)
    # Four keepalive periods with the handlers stuck: paho would call the link dead after
    # two, and Mosquitto would keep every position for the stuck reader.
    await asyncio.sleep(4)
    assert server.connected
    assert server.connect_count == 1
    assert server.counters.qos0_shed > 0  # read off the socket and dropped, not kept
    assert server.incoming_count <= 2 + 20 + 1  # the limit, the QoS 1 window, one position

    release.set()
    await eventually(lambda: len(events), lambda n: n >= 20, what="every QoS 1 message")
    assert events == [b"%d" % i for i in range(20)]  # all, once, in order
    assert positions + server.counters.qos0_shed <= 2000


def test_decode_refuses_a_payload_over_the_limit_unparsed() -> None:
    with pytest.raises(MalformedPayloadError, match="over the limit"):
        decode(StopCall, b" " * (MAX_PAYLOAD_BYTES + 1))
