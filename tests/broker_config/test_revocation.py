"""Rotating and revoking device logins on a running Mosquitto: the old password is
refused, a revoked device's live connection is closed at once, restore brings it back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from broker_config.admin import DeviceAdmin, NotRevocableError, UnknownLoginError
from broker_config.broker import BrokerSettings, ManagedBroker, render
from broker_config.cli import main
from broker_config.device.speech import TextSpeaker
from broker_config.errors import ConnectRefusedError
from broker_config.messages import (
    DeviceState,
    DeviceStatus,
    Localized,
    ReservationStatus,
    StopCall,
    decode,
    utcnow,
)
from broker_config.registry import Credentials, DeviceRegistry
from broker_config.session import BrokerEndpoint, MqttSession, SessionOptions
from broker_config.topics import Topics
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings
from tests.conftest import ConnectFn, Inbox
from tests.stop_gateway.test_gateway import HeardSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

StartGateway = Callable[[str], Awaitable[StopGateway]]


def _call(seq: int = 1) -> StopCall:
    return StopCall(
        reservation_id=uuid.uuid4(),
        seq=seq,
        status=ReservationStatus.ASSIGNED,
        route_id="R1",
        route_name=Localized.model_validate({"zh-TW": "307", "en": "307"}),
        headsign=Localized.model_validate({"zh-TW": "板橋", "en": "Banqiao"}),
        vehicle_id="V1",
        eta_s=120,
        updated_at=utcnow(),
    )


@pytest.fixture
async def start_gateway(broker: ManagedBroker) -> AsyncIterator[StartGateway]:
    """A real stop gateway on the test broker; its password read from credentials.json
    when it starts, as a deployed one reads its configuration."""
    async with AsyncExitStack() as stack:

        async def _start(stop_id: str) -> StopGateway:
            settings = GatewaySettings(
                stop_id=stop_id,
                broker_host=broker.host,
                broker_port=broker.port,
                credentials_file=broker.state_dir / "credentials.json",
                resync_settle_s=0.1,
                health_interval_s=60,
            )
            gateway = StopGateway(settings, speaker=TextSpeaker(HeardSink()))
            await stack.enter_async_context(gateway)
            await gateway.wait_connected(10)
            return gateway

        yield _start


def _went_offline(session: MqttSession) -> asyncio.Event:
    """Set when ``session`` loses its connection."""
    lost = asyncio.Event()
    session.on_connection_change(lambda up: None if up else lost.set())
    return lost


async def _refused(endpoint: BrokerEndpoint) -> ConnectRefusedError:
    """Connect as ``endpoint`` once and return the broker's refusal."""
    options = SessionOptions(client_id=endpoint.username or "x", clean_start=True)
    async with MqttSession(endpoint, options) as session:
        with pytest.raises(ConnectRefusedError) as refused:
            await session.wait_connected(10)
    return refused.value


async def test_rotate_refuses_the_old_password_and_the_new_one_works(
    broker: ManagedBroker,
    connect: ConnectFn,
    topics: Topics,
    start_gateway: StartGateway,
) -> None:
    old = broker.endpoint("stop.S1")
    device = await connect("stop.S1", client_id="stop.S1", reconnect_max_s=0.5)
    lost = _went_offline(device)

    change = await broker.devices.rotate("stop.S1")

    assert change.reloaded
    assert change.old_password_refused is True
    new = broker.endpoint("stop.S1")
    assert new.password != old.password
    # The connection that used the old password is closed by the reload ...
    await asyncio.wait_for(lost.wait(), 5)
    # ... and it cannot come back with it.
    await eventually(lambda: device.last_refusal, what="the old password refused")
    refusal = await _refused(old)
    assert refusal.code in (134, 135)  # bad user name or password / not authorised
    # A gateway given the new password works: it connects and hears its stop's calls.
    server = await connect("server.api")
    call = _call()
    await server.publish(topics.stop_call("S1", call.reservation_id), call, retain=True)
    gateway = await start_gateway("S1")
    assert gateway.runtime.mqtt.endpoint.password == new.password
    await eventually(lambda: gateway.tracker.get(call.reservation_id), what="the call heard")
    # Other logins are untouched.
    assert server.connected


async def test_revoke_closes_the_live_connection_and_restore_brings_it_back(
    broker: ManagedBroker,
    connect: ConnectFn,
    topics: Topics,
    start_gateway: StartGateway,
) -> None:
    statuses = Inbox()
    server = await connect("server.api")
    await server.subscribe(topics.stop_status("S2"), statuses)
    gateway = await start_gateway("S2")
    assert decode(DeviceStatus, (await statuses.get()).payload).state is DeviceState.ONLINE
    lost = _went_offline(gateway.runtime.mqtt)
    endpoint = broker.endpoint("stop.S2")

    loop = asyncio.get_running_loop()
    began = loop.time()
    change = await broker.devices.revoke("stop.S2")

    assert change.reloaded
    assert change.old_password_refused is True
    # The stolen gateway's live connection is closed within a bounded wait ...
    await asyncio.wait_for(lost.wait(), 5)
    assert loop.time() - began < 5
    # ... the server sees it go offline (Mosquitto sends no will for a connection its
    # reload closes: the revocation publishes the status in the device's name) ...
    offline = decode(DeviceStatus, (await statuses.get()).payload)
    assert offline.state is DeviceState.OFFLINE
    assert offline.version == "revoked"
    # ... and it cannot reconnect: the gateway's own retries are refused, as is anyone
    # else holding its password.
    refusal = await eventually(lambda: gateway.runtime.mqtt.last_refusal, what="a refusal")
    assert refusal is not None
    assert refusal.code in (134, 135)
    await _refused(endpoint)
    state = broker.state_dir
    assert "stop.S2:" not in (state / "passwd").read_text()
    assert "user stop.S2\n" not in (state / "acl").read_text()
    assert json.loads((state / "registry.json").read_text())["revoked"] == ["stop.S2"]

    # Registering the stop again (a new feed, a restart) does not bring the login back.
    await broker.reload(DeviceRegistry(stops={"S2"}, servers={"api"}))
    assert "stop.S2:" not in (state / "passwd").read_text()
    await _refused(endpoint)

    restored = await broker.devices.restore("stop.S2")
    assert restored.reloaded
    # The gateway, still retrying with its password, is back by itself, with its rights.
    await gateway.runtime.mqtt.wait_connected(30, raise_on_refusal=False)
    back = decode(DeviceStatus, (await statuses.get()).payload)
    assert back.state is DeviceState.ONLINE
    assert back.session > offline.session
    call = _call()
    await server.publish(topics.stop_call("S2", call.reservation_id), call, retain=True)
    await eventually(lambda: gateway.tracker.get(call.reservation_id), what="the call heard")
    assert "revoked" not in json.loads((state / "registry.json").read_text())


async def test_restore_with_a_new_password_after_a_theft(
    broker: ManagedBroker, connect: ConnectFn
) -> None:
    stolen = broker.endpoint("vehicle.V2")
    await broker.devices.revoke("vehicle.V2")
    change = await broker.devices.restore("vehicle.V2", new_password=True)
    assert change.old_password_refused is True
    await _refused(stolen)
    device = await connect("vehicle.V2", client_id="vehicle.V2")
    assert device.connected


async def test_only_device_logins_are_revoked(broker: ManagedBroker) -> None:
    for login in ("server.api", "monitor.api"):
        with pytest.raises(NotRevocableError, match="rotated"):
            await broker.devices.revoke(login)
    with pytest.raises(UnknownLoginError, match="not registered"):
        await broker.devices.revoke("stop.NOPE")
    with pytest.raises(UnknownLoginError):
        await broker.devices.rotate("vehicle.NOPE")


async def test_cli_revokes_on_the_running_broker(
    broker: ManagedBroker, connect: ConnectFn, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bushail-broker device revoke`` in another process's shoes: it finds the running
    broker through the state dir, and the device's connection is closed."""
    device = await connect("stop.S3", client_id="stop.S3", reconnect_max_s=0.5)
    lost = _went_offline(device)
    state = ["--state-dir", str(broker.state_dir)]

    code = await asyncio.to_thread(main, ["device", "revoke", "stop.S3", *state])

    assert code == 0
    assert "refuses the old password" in capsys.readouterr().out
    await asyncio.wait_for(lost.wait(), 5)
    assert await asyncio.to_thread(main, ["device", "list", *state]) == 0
    assert "stop.S3  revoked" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["device", "restore", "stop.S3", *state]) == 0
    await device.wait_connected(10, raise_on_refusal=False)


async def test_a_revocation_made_while_the_broker_is_stopped_holds_at_its_start(
    tmp_path: Path,
) -> None:
    settings = BrokerSettings(state_dir=tmp_path / "broker", port=0)
    registry = DeviceRegistry(stops={"S1"}, servers={"api"})
    render(settings, registry, 18830)
    change = await DeviceAdmin(settings.state_dir).revoke("stop.S1")
    assert not change.reloaded
    assert change.old_password_refused is None
    async with ManagedBroker(settings, registry) as broker:
        refusal = await _refused(
            BrokerEndpoint(
                broker.host,
                broker.port,
                "stop.S1",
                Credentials(broker.state_dir / "credentials.json").password("stop.S1"),
            )
        )
        assert refusal.code in (134, 135)
    # No broker runs from the dir any more: nothing is signalled.
    assert not (settings.state_dir / "running.json").exists()
