"""End to end in "agency feed" mode: the buses send no position of their own; the
simulator serves them as a GTFS-Realtime VehiclePositions feed on 127.0.0.1, the API
polls it, and a booking still alerts the driver display of the right bus and the stop
still announces its arrival (real Mosquitto, real API, real gateway and display code)."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google.transit import gtfs_realtime_pb2
from pydantic import SecretStr

from broker_config.broker import ManagedBroker
from broker_config.messages import ReservationStatus as RS
from rider_api.app import create_app
from rider_api.db.migrate import upgrade
from rider_api.network.importer import import_feed
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from simulators.city import City, CityConfig
from simulators.devices import DriverPolicy
from simulators.gtfs_rt import FeedServer, FeedVehicle, PositionBoard
from simulators.motion import MotionSettings
from simulators.network import load_network
from simulators.riders import RideRequest
from tests.simulators.conftest import OPERATOR_TOKEN, RunningApi, write_feed
from tests.support.limits import GENEROUS_LIMITS
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

SPEED = 20.0
#: 09:59:50: trip T0596 has just left S2, T0600 waits at S1, T0604 comes 4 min later.
START_S = 10 * 3600 - 10


@pytest.fixture
async def agency_feed() -> AsyncIterator[tuple[PositionBoard, FeedServer]]:
    board = PositionBoard()
    async with FeedServer(board) as server:
        yield board, server


@pytest.fixture
async def feed_api(
    tmp_path: Path, broker: ManagedBroker, agency_feed: tuple[PositionBoard, FeedServer]
) -> AsyncIterator[RunningApi]:
    """The real API on SQLite, polling the simulator's feed (its only source of positions)."""
    feed = write_feed(tmp_path / "feed")
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    import_feed(url, feed)
    settings = ApiSettings(
        state_dir=tmp_path / "api",
        database_url=url,
        mqtt_port=broker.port,
        mqtt_credentials_file=broker.state_dir / "credentials.json",
        operator_tokens=[SecretStr(OPERATOR_TOKEN)],
        ack_timeout_s=600,
        gtfs_rt_vehicle_positions_urls=[agency_feed[1].url],
        # 4 simulated seconds at SPEED: an INCOMING_AT of 30 s is seen several times.
        gtfs_rt_poll_s=0.2,
        **GENEROUS_LIMITS,
    )
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Taipei")).date()
    async with InProcessServer(create_app(settings)) as server:
        state = server.state
        assert state.mqtt is not None
        await state.mqtt.wait_connected(10)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield RunningApi(server.url, state, client, feed, today)


async def test_a_bus_known_only_from_the_agency_feed_gets_the_alert_and_the_stop_announces_it(
    feed_api: RunningApi, broker: ManagedBroker, agency_feed: tuple[PositionBoard, FeedServer]
) -> None:
    board, _server = agency_feed
    config = CityConfig(
        date=feed_api.today,
        start_s=START_S,
        speed=SPEED,
        vehicles=["V1", "V2", "V3"],
        riders_per_hour=0,
        motion=MotionSettings(dwell_s=20, incoming_s=30),
        policy=DriverPolicy(ack_delay_s=(1, 3), no_show_wait_s=600),
        stops={"S1", "S2", "S3", "S4"},
        rider_poll_s=0.2,
        make_vehicle=functools.partial(FeedVehicle, board=board),
    )
    network = load_network(feed_api.feed)
    state = feed_api.state
    async with City(
        network, config, endpoint_for=broker.endpoint, api_url=feed_api.base_url
    ) as city:
        for gateway in city.gateways.values():
            await gateway.wait_connected(10)
        for vehicle in city.vehicles.values():
            await vehicle.display.runtime.mqtt.wait_connected(10)
        # The server knows the buses from the feed before anyone books.
        await eventually(
            lambda: {"V1", "V2"} <= set(state.dispatcher.fleet.vehicles),
            timeout=15,
            what="the feed's buses in the fleet view",
        )
        rider = city.book(RideRequest("S2", "R1", 0, None, "en"))
        await eventually(
            lambda: rider.status is not None and rider.status.is_final,
            timeout=60,
            what="the ride ended",
        )
        rid = rider.reservation_id
        assert rid is not None
        assert rider.status is RS.COMPLETED
        r = await feed_api.client.get("/v1/ops/reservations", headers=feed_api.ops)
        (res,) = [x for x in r.json() if x["id"] == str(rid)]
        seen = [h["status"] for h in res["history"]]
        # The next bus (T0600 waiting at S1), not the one that had just left S2.
        assert res["vehicle_id"] == "V2"
        assert "assigned" in seen
        assert "arriving" in seen or "at_stop" in seen, seen
        # The DriverAlert reached V2's display, a bus that never published a position.
        assert rid in city.stats.alerted_at
        bus = city.vehicles["V2"]
        assert isinstance(bus, FeedVehicle)
        assert bus.mqtt_published == 0
        # The stop heard the call turn to arriving / at the stop, and said so.
        assert rid in city.stats.announced, "the stop did not announce the arriving bus"
        said = " ".join(text for _lang, text in city.gateways["S2"].sink.lines)
        assert "three oh seven" in said
        # And BusHail publishes the bus for every other app.
        published = await feed_api.client.get("/gtfs-rt/vehicle-positions.pb")
        feed = gtfs_realtime_pb2.FeedMessage()
        feed.ParseFromString(published.content)
        assert "V2" in {e.vehicle.vehicle.id for e in feed.entity}
    sources = state.feeds.metrics.sources
    assert sources.labels(source="onboard", outcome="applied")._value.get() == 0
    assert sources.labels(source="feed", outcome="applied")._value.get() > 0
    (status,) = state.feeds.status()
    assert status.last_success_at is not None
    assert status.entities >= 2
