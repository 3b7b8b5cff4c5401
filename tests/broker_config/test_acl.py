"""The broker ACL, against a real Mosquitto with the project's rendered config.

The table-driven tests walk every topic kind of TOPIC_SPECS, so the ACL and the topic
builders cannot drift apart: a device may write exactly its own write topics and read
exactly its own read topics, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import pytest

from broker_config.broker import ManagedBroker
from broker_config.errors import ConnectRefusedError, MqttError, PublishRefusedError
from broker_config.session import BrokerEndpoint, MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import TOPIC_SPECS, Owner, TopicKind, Topics, login_for, monitor_login
from tests.conftest import ConnectFn, Inbox

NOT_AUTHORIZED = 135
RID = str(uuid.uuid4())


@dataclass(frozen=True)
class Device:
    owner: Owner
    device_id: str
    #: Another registered device of the same class.
    peer: str

    @property
    def login(self) -> str:
        return login_for(self.owner, self.device_id)


DEVICES = [Device(Owner.STOP, "S1", "S2"), Device(Owner.VEHICLE, "V1", "V2")]


def _probe_topics(topics: Topics, device: Device) -> list[tuple[str, bool, bool]]:
    """Every topic kind for the device's own id, a peer's id and foreign ids.

    Returns ``(topic, may_write, may_read)`` from the contract's device rights: its own
    topics, and reading the servers' status.
    """
    rows = []
    for kind, spec in TOPIC_SPECS.items():
        for target in sorted({device.device_id, device.peer, "S2", "V2", "api"}):
            topic = topics.build(kind, target, RID if spec.has_reservation else None)
            own = spec.owner is device.owner and target == device.device_id
            # Every device reads the servers' births (it re-sends pending events on one).
            readable = (own and not spec.device_writes) or kind is TopicKind.SERVER_STATUS
            rows.append((topic, own and spec.device_writes, readable))
    return rows


def _allowed_write(topics: Topics, device: Device) -> str:
    kind = TopicKind.STOP_EVENTS if device.owner is Owner.STOP else TopicKind.VEHICLE_EVENTS
    return topics.build(kind, device.device_id)


def _allowed_read(topics: Topics, device: Device) -> str:
    if device.owner is Owner.STOP:
        return topics.stop_announce(device.device_id)
    return topics.vehicle_alert(device.device_id, RID)


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.login)
async def test_device_writes_exactly_its_own_write_topics(
    connect: ConnectFn, topics: Topics, inbox: Inbox, device: Device
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.everything(), inbox)
    client = await connect(device.login)
    expected: list[str] = []
    for topic, may_write, _may_read in _probe_topics(topics, device):
        if may_write:
            await client.publish(topic, b"probe", qos=1, timeout=5)
            expected.append(topic)
        else:
            with pytest.raises(PublishRefusedError) as refused:
                await client.publish(topic, b"probe", qos=1, timeout=5)
            assert refused.value.code == NOT_AUTHORIZED, topic
            # QoS 0 has no PUBACK: the broker drops it silently, checked below.
            await client.publish(topic, b"probe-qos0", qos=0)
    sentinel = _allowed_write(topics, device)
    await client.publish(sentinel, b"sentinel", qos=1, timeout=5)
    received = []
    while (msg := await inbox.get()).payload != b"sentinel":
        received.append(msg.topic)
    assert received == expected
    assert set(expected) == {
        topics.build(k, device.device_id)
        for k, s in TOPIC_SPECS.items()
        if s.owner is device.owner and s.device_writes
    }


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.login)
async def test_device_reads_exactly_its_own_read_topics(
    connect: ConnectFn, topics: Topics, inbox: Inbox, device: Device
) -> None:
    client = await connect(device.login, clean_start=True)
    # Mosquitto grants any filter and checks read rights per message, so a device that
    # asks for everything must still get only its own read topics.
    await client.subscribe(topics.everything(), inbox)
    await client.subscribe("#", inbox)
    server = await connect("server.api")
    expected: list[str] = []
    for topic, _may_write, may_read in _probe_topics(topics, device):
        await server.publish(topic, b"probe", qos=1, timeout=5)
        if may_read:
            expected.append(topic)
    await server.publish(_allowed_read(topics, device), b"sentinel", qos=1, timeout=5)
    received = []
    while (msg := await inbox.get()).payload != b"sentinel":
        received.append(msg.topic)
    # Two matching filters may deliver a message twice (MQTT 5 overlapping subscriptions).
    assert sorted(set(received)) == sorted(expected)
    own_reads = sum(
        1 for s in TOPIC_SPECS.values() if s.owner is device.owner and not s.device_writes
    )
    server_statuses = len({t for t, _w, _r in _probe_topics(topics, device) if "/server/" in t})
    assert len(expected) == own_reads + server_statuses


async def test_stop_cannot_receive_another_stops_calls(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    gateway = await connect("stop.S1", clean_start=True)
    await gateway.subscribe(topics.stop_calls_filter("S2"), inbox)
    await gateway.subscribe(topics.stop_calls_filter("S1"), inbox)
    server = await connect("server.api")
    other, own = str(uuid.uuid4()), str(uuid.uuid4())
    await server.publish(topics.stop_call("S2", other), b"other", qos=1, retain=True)
    await server.publish(topics.stop_call("S1", own), b"own", qos=1, retain=True)
    assert (await inbox.get()).topic == topics.stop_call("S1", own)
    await inbox.expect_nothing()
    # Nor as a retained message when it subscribes later (one connection per login).
    await gateway.close()
    late = await connect("stop.S1", clean_start=True)
    late_inbox = Inbox()
    await late.subscribe(topics.stop_calls_filter("S2"), late_inbox)
    await late.subscribe(topics.stop_calls_filter("S1"), late_inbox)
    assert (await late_inbox.get()).payload == b"own"
    await late_inbox.expect_nothing()


async def test_vehicle_cannot_receive_another_vehicles_alerts(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    display = await connect("vehicle.V1", clean_start=True)
    await display.subscribe(topics.vehicle_alerts_filter("V2"), inbox)
    await display.subscribe(topics.vehicle_alerts_filter("V1"), inbox)
    server = await connect("server.api")
    rid = str(uuid.uuid4())
    await server.publish(topics.vehicle_alert("V2", rid), b"other", qos=1)
    await server.publish(topics.vehicle_alert("V1", rid), b"own", qos=1)
    assert (await inbox.get()).payload == b"own"
    await inbox.expect_nothing()


async def test_stop_cannot_forge_another_devices_status(connect: ConnectFn, topics: Topics) -> None:
    gateway = await connect("stop.S1")
    for topic in (
        topics.stop_status("S2"),
        topics.vehicle_status("V1"),
        topics.server_status("api"),
    ):
        with pytest.raises(PublishRefusedError) as refused:
            await gateway.publish(topic, b"{}", qos=1, retain=True, timeout=5)
        assert refused.value.code == NOT_AUTHORIZED


async def test_server_may_do_everything_under_the_root(
    connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    server = await connect("server.api", clean_start=True)
    await server.subscribe(topics.everything(), inbox)
    other = await connect("server.api-2")
    sent = []
    for kind, spec in TOPIC_SPECS.items():
        for target in ("S1", "V1", "api", "not-registered"):
            topic = topics.build(kind, target, RID if spec.has_reservation else None)
            await other.publish(topic, b"x", qos=1, timeout=5)
            sent.append(topic)
    got = [(await inbox.get()).topic for _ in sent]
    assert got == sent
    # ... but nothing outside it.
    with pytest.raises(PublishRefusedError) as refused:
        await other.publish("elsewhere/topic", b"x", qos=1, timeout=5)
    assert refused.value.code == NOT_AUTHORIZED


@pytest.mark.parametrize(
    ("username", "password"),
    [
        (None, None),
        ("stop.S1", "wrong-password"),
        ("stop.S1", ""),
        ("stop.NOT-REGISTERED", "whatever"),
        ("server.api", "guess"),
    ],
    ids=["anonymous", "wrong-password", "empty-password", "unknown-login", "server-guess"],
)
async def test_bad_logins_are_refused(
    broker: ManagedBroker, username: str | None, password: str | None
) -> None:
    endpoint = BrokerEndpoint(broker.settings.host, broker.port, username, password)
    async with MqttSession(endpoint, SessionOptions(reconnect_min_s=5)) as session:
        with pytest.raises(ConnectRefusedError) as refused:
            await session.wait_connected(10)
        assert refused.value.code in (134, 135)  # bad user name or password / not authorised
        assert not session.connected
        assert session.last_refusal is refused.value


async def test_a_device_cannot_use_another_devices_password(broker: ManagedBroker) -> None:
    stolen = broker.credentials().password("stop.S2")
    endpoint = BrokerEndpoint(broker.settings.host, broker.port, "stop.S1", stolen)
    async with MqttSession(endpoint, SessionOptions(reconnect_min_s=5)) as session:
        with pytest.raises(ConnectRefusedError):
            await session.wait_connected(10)


async def test_no_device_can_join_or_starve_the_servers_subscriptions(
    connect: ConnectFn, topics: Topics
) -> None:
    """Devices try every filter the server subscribes to, plain and in any ``$share``
    group: the server (its own, non-shared subscriptions) still hears every event."""
    server_filters = [topics.all_of(k) for k in (TopicKind.STOP_EVENTS, TopicKind.VEHICLE_EVENTS)]
    hostile_filters = [
        f"{prefix}{f}"
        for f in server_filters
        for prefix in ("", "$share/bushail-api/", "$share/g/", "$share/server/")
    ]
    server_box = Inbox()
    server = await connect("server.api-1")
    for f in server_filters:
        await server.subscribe(f, server_box)
    thieves = [await connect("stop.S2"), await connect("vehicle.V2")]
    for thief in thieves:
        for f in hostile_filters:
            with contextlib.suppress(MqttError):  # a refusal is as good as a grant here
                await thief.subscribe(f, Inbox())
    gateway, display = await connect("stop.S1"), await connect("vehicle.V1")
    sent = []
    for i in range(20):
        for session, topic in (
            (gateway, topics.stop_events("S1")),
            (display, topics.vehicle_events("V1")),
        ):
            payload = f"{topic}#{i}".encode()
            await session.publish(topic, payload, qos=1, timeout=5)
            sent.append(payload)
    got = [(await server_box.get()).payload for _ in sent]
    assert sorted(got) == sorted(sent)


async def _next(*boxes: Inbox) -> ReceivedMessage:
    """The next message from whichever inbox has one."""
    getters = [asyncio.ensure_future(box.queue.get()) for box in boxes]
    try:
        done, _ = await asyncio.wait(getters, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert done, "no message within 5 s"
        first = done.pop()
        for box, other in zip(boxes, getters, strict=True):
            if other is not first and other.done() and not other.cancelled():
                box.queue.put_nowait(other.result())  # both had one: put the spare back
        return first.result()
    finally:
        for getter in getters:
            getter.cancel()


@pytest.mark.parametrize("thief", ["stop.S2", "vehicle.V2", "server.api-1", "monitor.api"])
async def test_no_login_can_take_another_logins_session(
    connect: ConnectFn, topics: Topics, thief: str
) -> None:
    """The broker binds client ids to logins: a connection asking for the server's client
    id (clean start, which would end and wipe its session) gets one of its own instead,
    and the server stays connected, subscribed and persistent."""
    server_box = Inbox()
    server = await connect("server.api", client_id="server.api")
    drops: list[bool] = []
    server.on_connection_change(lambda up: None if up else drops.append(up))
    await server.subscribe(topics.stop_events("S1"), server_box)
    for _ in range(3):
        rogue = await connect(thief, client_id="server.api", clean_start=True, session_expiry_s=0)
        await rogue.close()
    gateway = await connect("stop.S1")
    await gateway.publish(topics.stop_events("S1"), b"still mine", qos=1, timeout=5)
    assert (await server_box.get()).payload == b"still mine"
    assert drops == []
    assert server.connect_count == 1


async def test_a_monitor_reads_everything_and_writes_only_its_own_space(
    connect: ConnectFn, topics: Topics
) -> None:
    """Each server instance's ``monitor.{instance}`` (its reconcile scan) reads every topic
    under the root; it may publish only under its own ``monitor/{name}/``."""
    box = Inbox()
    monitor = await connect(monitor_login("api"))
    await monitor.subscribe(topics.everything(), box)
    server = await connect("server.api")
    call = topics.stop_call("S1", RID)
    await server.publish(call, b"call", qos=1, retain=True, timeout=5)
    assert (await box.get()).topic == call
    for kind, spec in TOPIC_SPECS.items():
        topic = topics.build(kind, "S1" if spec.owner is Owner.STOP else "V1", RID)
        if spec.owner is Owner.SERVER:
            topic = topics.server_status("api")
        with pytest.raises(PublishRefusedError):
            await monitor.publish(topic, b"x", qos=1, timeout=5)
    with pytest.raises(PublishRefusedError):
        await monitor.publish(topics.monitor("other", "marker"), b"x", qos=1, timeout=5)
    own = topics.monitor("api", "marker")
    await monitor.publish(own, b"mine", qos=1, timeout=5)
    assert (await box.get()).topic == own
