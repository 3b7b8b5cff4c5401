"""The device board reads the topic the session parsed; pure, no broker."""

from __future__ import annotations

import time

import pytest

from broker_config.messages import DeviceHealth, DeviceState, DeviceStatus, encode, utcnow
from broker_config.session import ReceivedMessage
from broker_config.topics import Topics
from rider_api.mqtt.devices import DeviceBoard


def _received(topics: Topics, topic: str, payload: bytes) -> ReceivedMessage:
    parsed = None if not topic.startswith(topics.root + "/") else topics.parse(topic)
    return ReceivedMessage(topic, payload, 1, True, parsed, time.monotonic())


async def test_status_and_health_land_on_the_device_the_topic_names(topics: Topics) -> None:
    board = DeviceBoard(topics)
    status = DeviceStatus(state=DeviceState.ONLINE, session=7, version="1", started_at=utcnow())
    await board.on_status(_received(topics, topics.vehicle_status("V1"), encode(status)))
    health = DeviceHealth(uptime_s=1.0, queue_depth=0, at=utcnow())
    await board.on_health(_received(topics, topics.vehicle_health("V1"), encode(health)))
    record = board.records[("vehicle", "V1")]
    assert (record.state, record.session, record.health) == (DeviceState.ONLINE, 7, health)


async def test_a_message_without_a_parsed_topic_is_logged_and_dropped(
    topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    board = DeviceBoard(topics)
    status = DeviceStatus(state=DeviceState.ONLINE, session=1, version="1", started_at=utcnow())
    await board.on_status(_received(topics, "elsewhere/stops/S1/status", encode(status)))
    health = DeviceHealth(uptime_s=1.0, queue_depth=0, at=utcnow())
    await board.on_health(_received(topics, "elsewhere/stops/S1/health", encode(health)))
    assert board.records == {}
    assert caplog.text.count("not a v1 topic") == 2
