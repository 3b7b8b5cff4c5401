"""The managed broker's bounds and persistence, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker_config.broker import BrokerSettings, ManagedBroker, render
from broker_config.const import MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES
from broker_config.registry import DeviceRegistry
from broker_config.session import MqttSession, SessionOptions
from broker_config.topics import Topics
from tests.conftest import ConnectFn, Inbox
from tests.support.waiting import eventually

REGISTRY = DeviceRegistry(stops={"S1"}, servers={"api", "api-1"})


def test_config_bounds_packets_and_queued_bytes_and_saves_on_changes(tmp_path: Path) -> None:
    settings = BrokerSettings(state_dir=tmp_path / "state", autosave_changes=7)
    lines = render(settings, REGISTRY, 18830).read_text().splitlines()
    assert f"max_packet_size {MAX_PACKET_BYTES}" in lines
    assert MAX_PACKET_BYTES > MAX_PAYLOAD_BYTES
    assert f"max_queued_bytes {32 * 1024 * 1024}" in lines
    assert "autosave_on_changes true" in lines
    assert "autosave_interval 7" in lines


def _rss_peak_kb(pid: int | None) -> int:
    status = Path(f"/proc/{pid}/status")
    if pid is None or not status.exists():
        pytest.skip("needs /proc")
    line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])


async def test_a_packet_over_the_limit_disconnects_its_sender_unread(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    reader = await connect("server.api", wait=False, clean_start=True)
    await reader.subscribe(topics.stop_announce("S1"), inbox)
    await reader.wait_connected(10)
    # A client that does not hold back (the session would refuse: raise its own limit).
    sender = await connect("server.api-1", max_payload=64 * 1024 * 1024, reconnect_min_s=5)
    down = asyncio.Event()
    sender.on_connection_change(lambda up: None if up else down.set())
    peak_before = _rss_peak_kb(broker.pid)

    await sender.publish(topics.stop_announce("S1"), b"x" * (16 * 1024 * 1024), qos=0)
    await asyncio.wait_for(down.wait(), 10)
    await eventually(
        lambda: any("oversize packet" in line for line in broker.log_lines),
        what="the broker's log of the refusal",
    )
    # Refused from its header: the 16 MB were never read into the broker's memory.
    assert _rss_peak_kb(broker.pid) - peak_before < 4 * 1024
    await reader.publish(topics.stop_announce("S1"), b"after", qos=1, timeout=5)
    assert (await inbox.get()).payload == b"after"  # the big one never arrived
    assert reader.connected


@pytest.fixture
async def quiet_broker(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[ManagedBroker]:
    """A broker that saves after 5 changes, and every ``request.param`` seconds (0: never)."""
    settings = BrokerSettings(
        state_dir=tmp_path / "broker", port=0, autosave_changes=5, save_interval_s=request.param
    )
    async with ManagedBroker(settings, REGISTRY) as managed:
        yield managed


async def _publish_retained(broker: ManagedBroker, count: int) -> list[str]:
    topics = Topics()
    options = SessionOptions(clean_start=True, session_expiry_s=0)
    sent = [topics.stop_call("S1", uuid.uuid4()) for _ in range(count)]
    async with MqttSession(broker.endpoint("server.api"), options) as server:
        await server.wait_connected(10)
        for topic in sent:
            await server.publish(topic, b"{}", qos=1, retain=True, timeout=5)
    return sent


async def _retained_after_kill(broker: ManagedBroker) -> set[str]:
    """Kill Mosquitto (no save at exit), start it again, and read its retained calls."""
    await broker.stop(kill=True)
    await broker.start()
    seen = Inbox()
    options = SessionOptions(clean_start=True, session_expiry_s=0)
    async with MqttSession(broker.endpoint("server.api"), options) as reader:
        await reader.subscribe(Topics().stop_calls_filter("S1"), seen)
        await reader.wait_connected(10)
        # A barrier: retained messages come before anything published after the SUBACK.
        marker = Topics().stop_call("S1", uuid.uuid4())
        await reader.publish(marker, b"{}", qos=1, timeout=5)
        topics: set[str] = set()
        while (msg := await seen.get()).topic != marker:
            topics.add(msg.topic)
    return topics


def _saved(broker: ManagedBroker, topic: str) -> bool:
    db = broker.state_dir / "data" / "mosquitto.db"
    return db.exists() and topic.encode() in db.read_bytes()


@pytest.mark.parametrize("quiet_broker", [0], indirect=True)
async def test_retained_messages_survive_a_kill_once_enough_changed(
    quiet_broker: ManagedBroker,
) -> None:
    sent = await _publish_retained(quiet_broker, 5)
    await eventually(lambda: _saved(quiet_broker, sent[-1]), what="a save after 5 changes")
    assert await _retained_after_kill(quiet_broker) == set(sent)


@pytest.mark.parametrize(
    ("quiet_broker", "kept"), [(0.3, True), (0, False)], indirect=["quiet_broker"]
)
async def test_the_managed_broker_saves_a_quiet_change_within_its_interval(
    quiet_broker: ManagedBroker, kept: bool
) -> None:
    [topic] = await _publish_retained(quiet_broker, 1)  # one change: no autosave
    if kept:
        await eventually(lambda: _saved(quiet_broker, topic), what="the periodic save")
    else:
        await asyncio.sleep(0.6)  # two intervals of the other case: nothing saves it
    assert await _retained_after_kill(quiet_broker) == ({topic} if kept else set())
