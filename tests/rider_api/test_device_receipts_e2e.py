"""A device's event is done when the server has applied it: the real display, the real stop
gateway, the real API and the real Mosquitto, across broker and API outages.

The broker outages here are the worst kind: Mosquitto killed and its database deleted,
so it comes back without the API's session. A copy the broker acknowledges before the
API has subscribed again goes to nobody; only the device's resend (until the receipt)
gets the event applied. Each event must be applied exactly once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from broker_config.broker import ManagedBroker
from broker_config.device.speech import TextSpeaker
from broker_config.messages import ButtonAction, DriverEventType, VehiclePosition, VehicleStopStatus
from driver_display.deliveries import Delivery
from driver_display.display import DriverDisplay
from rider_api.app import create_app
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings
from tests.driver_display.factories import running_display, until
from tests.rider_api.conftest import COORDS, OPERATOR_TOKEN, ApiServer, seed_network
from tests.rider_api.test_dispatch_scenarios import book, wait_status
from tests.stop_gateway.test_gateway import HeardSink
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
#: Short back-offs so a lost copy is sent again within a second in these tests.
RESEND: dict[str, Any] = {"resend_first_s": 0.3, "resend_max_s": 1.0}


@pytest.fixture
def settings(tmp_path: Path, broker: ManagedBroker, database_url: str) -> ApiSettings:
    seed_network(database_url)
    return ApiSettings(
        state_dir=tmp_path / "api",
        database_url=database_url,
        mqtt_port=broker.port,
        mqtt_credentials_file=broker.state_dir / "credentials.json",
        operator_tokens=[SecretStr(OPERATOR_TOKEN)],
        stop_help_window_s=0,  # every applied help press opens its own incident
    )


@asynccontextmanager
async def serving(settings: ApiSettings) -> AsyncIterator[ApiServer]:
    """The API for the length of the block (a restart is leaving and entering again)."""
    async with (
        InProcessServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        mqtt = server.state.mqtt
        assert mqtt is not None
        await mqtt.wait_connected(20)
        yield ApiServer(server.url, server.state, client)


async def crash_broker(broker: ManagedBroker) -> None:
    """Kill Mosquitto and delete its database: it comes back knowing no session."""
    await broker.stop(kill=True)
    for saved in Path(broker.state_dir).rglob("*.db"):
        saved.unlink()


async def assigned_to_the_display(
    api: ApiServer, display: DriverDisplay
) -> tuple[dict[str, Any], uuid.UUID]:
    """A rider's booking at S3, assigned to the display's bus (at S1), on its screen."""
    lat, lon = COORDS["S1"]
    await display.publish_position(
        VehiclePosition(
            route_id="R1",
            direction_id=0,
            trip_id="T0",
            lat=lat,
            lon=lon,
            stop_id="S1",
            current_stop_sequence=1,
            current_status=VehicleStopStatus.STOPPED_AT,
            timestamp=time.time(),
        )
    )
    rider = await api.rider()
    rid = await book(api, rider)
    await wait_status(api, rider, rid, "assigned")
    reservation_id = uuid.UUID(rid)
    await until(display, lambda: display.store.get(reservation_id) is not None)
    return rider, reservation_id


async def history_of(api: ApiServer, rider: dict[str, Any], rid: uuid.UUID) -> list[str]:
    r = await api.client.get(f"/v1/reservations/{rid}", headers=rider["headers"])
    assert r.status_code == 200, r.text
    return [h["status"] for h in r.json()["history"]]


async def acknowledged_once(api: ApiServer, rider: dict[str, Any], rid: uuid.UUID) -> None:
    history = await eventually(
        lambda: history_of(api, rider, rid),
        lambda statuses: "acknowledged" in statuses,
        what="the tap in the reservation's history",
    )
    assert history.count("acknowledged") == 1, history


async def settled(display: DriverDisplay, rid: uuid.UUID) -> None:
    await until(display, lambda: display.unsent == 0, timeout=30)
    assert display.delivery(rid, DriverEventType.ACKNOWLEDGED) == Delivery("recorded")


async def test_a_tap_made_while_the_broker_is_down_api_back_first_then_the_display(
    settings: ApiSettings, broker: ManagedBroker, tmp_path: Path
) -> None:
    state_dir = tmp_path / "display"
    async with serving(settings) as api:
        async with running_display(broker, state_dir, "V1", **RESEND) as display:
            rider, rid = await assigned_to_the_display(api, display)
            await crash_broker(broker)
            await until(display, lambda: not display.connected)
            await display.answer(rid, DriverEventType.ACKNOWLEDGED)
            assert display.unsent == 1
        # The bus's unit is switched off with the tap in its outbox; the broker and the
        # API come back first.
        await broker.start()
        mqtt = api.state.mqtt
        assert mqtt is not None
        await mqtt.wait_connected(30)
        async with running_display(broker, state_dir, "V1", **RESEND) as display:
            await settled(display, rid)
            await acknowledged_once(api, rider, rid)
        assert (await history_of(api, rider, rid)).count("acknowledged") == 1


async def test_a_tap_the_broker_took_while_the_api_was_away_is_applied_once_it_is_back(
    settings: ApiSettings, broker: ManagedBroker, tmp_path: Path
) -> None:
    """The issue's case: the display re-sends on reconnect and gets PUBACK before the API
    has subscribed again; the broker gives that copy to nobody."""
    async with running_display(broker, tmp_path / "display", "V1", **RESEND) as display:
        async with serving(settings) as api:
            rider, rid = await assigned_to_the_display(api, display)
        await crash_broker(broker)
        await until(display, lambda: not display.connected)
        await display.answer(rid, DriverEventType.ACKNOWLEDGED)
        await broker.start()
        # The display is back and a copy is acknowledged by the broker, given to nobody.
        await eventually(lambda: display.sender.copies_sent >= 1, timeout=30, what="a PUBACK")
        assert display.unsent == 1
        async with serving(settings) as api:
            await settled(display, rid)
            await acknowledged_once(api, rider, rid)
            data = await wait_status(api, rider, str(rid), "acknowledged")
            assert data["status"] == "acknowledged"


async def test_a_tap_made_while_the_api_is_down_is_applied_once_when_it_returns(
    settings: ApiSettings, broker: ManagedBroker, tmp_path: Path
) -> None:
    async with running_display(broker, tmp_path / "display", "V1", **RESEND) as display:
        async with serving(settings) as api:
            rider, rid = await assigned_to_the_display(api, display)
        await display.answer(rid, DriverEventType.ACKNOWLEDGED)
        # Several copies wait for the API's persistent session at the broker.
        await eventually(lambda: display.sender.copies_sent >= 3, what="three copies sent")
        assert display.unsent == 1
        async with serving(settings) as api:
            await settled(display, rid)
            await acknowledged_once(api, rider, rid)
            # Every copy the broker kept has been answered by now; still one entry.
            await until(display, lambda: display.unsent == 0)
            assert (await history_of(api, rider, rid)).count("acknowledged") == 1


async def _incidents(api: ApiServer) -> list[dict[str, Any]]:
    r = await api.client.get("/v1/ops/incidents", headers=OPS)
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()
    return data


async def _hear(sink: HeardSink, text: str) -> None:
    while (await sink.next(30))[1] != text:
        pass


def _gateway_settings(broker: ManagedBroker, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        stop_id="S2",
        broker_host=broker.settings.host,
        broker_port=broker.port,
        credentials_file=broker.state_dir / "credentials.json",
        resync_settle_s=0.2,
        health_interval_s=60,
        **RESEND,
        **overrides,
    )


async def test_a_help_press_during_a_broker_outage_is_applied_once(
    settings: ApiSettings, broker: ManagedBroker
) -> None:
    sink = HeardSink()
    async with (
        serving(settings) as api,
        StopGateway(_gateway_settings(broker), speaker=TextSpeaker(sink)) as gateway,
    ):
        await gateway.wait_connected(10)
        await crash_broker(broker)
        await eventually(lambda: not gateway.runtime.mqtt.connected, what="the stop offline")
        await gateway.press(ButtonAction.HELP)
        await _hear(sink, "No connection right now; staff will be notified as soon as it is back")
        assert gateway.sender.pending_count == 1
        await broker.start()
        await _hear(sink, "Staff have been notified; please wait")
        assert gateway.sender.pending_count == 0
        incidents = await eventually(lambda: _incidents(api), what="a help incident")
        assert [(i["kind"], i["stop_id"]) for i in incidents] == [("help", "S2")]
        # Copies still on their way are answered "duplicate": no second incident.
        await gateway.runtime.mqtt.wait_connected(10)
        assert len(await _incidents(api)) == 1


async def test_a_help_press_at_a_gateway_killed_during_the_outage_is_applied_once(
    settings: ApiSettings, broker: ManagedBroker, tmp_path: Path
) -> None:
    """The stop promised to pass the press on; a kill -9 of the gateway must not break it."""
    kept = _gateway_settings(broker, state_dir=tmp_path / "gateway")
    async with serving(settings) as api:
        sink = HeardSink()
        async with StopGateway(kept, speaker=TextSpeaker(sink)) as gateway:
            await gateway.wait_connected(10)
            await crash_broker(broker)
            await eventually(lambda: not gateway.runtime.mqtt.connected, what="the stop offline")
            await gateway.press(ButtonAction.HELP)
            await _hear(
                sink, "No connection right now; staff will be notified as soon as it is back"
            )
            await gateway.abort()
        await broker.start()
        heard = HeardSink()
        async with StopGateway(kept, speaker=TextSpeaker(heard)) as again:
            await _hear(heard, "Staff have been notified; please wait")
            assert again.sender.pending_count == 0
            incidents = await eventually(lambda: _incidents(api), what="a help incident")
            assert [(i["kind"], i["stop_id"]) for i in incidents] == [("help", "S2")]
