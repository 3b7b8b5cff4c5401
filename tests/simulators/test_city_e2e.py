"""End to end through a real Mosquitto and the real API, with simulated devices running
the real stop gateway and driver display code (one login each)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from broker_config.broker import ManagedBroker
from broker_config.messages import ReservationStatus as RS
from broker_config.topics import TopicKind, Topics
from simulators.city import City, CityConfig
from simulators.devices import DriverPolicy, make_gateway
from simulators.motion import MotionSettings
from simulators.network import load_network
from simulators.riders import RideRequest, SimRider
from tests.conftest import ConnectFn, Inbox
from tests.simulators.conftest import RunningApi
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

SPEED = 20.0
#: 09:59:50: trip T0596 has just left S2, T0600 waits at S1, T0604 comes 4 min later.
START_S = 10 * 3600 - 10


@asynccontextmanager
async def running_city(
    api: RunningApi, broker: ManagedBroker, **overrides: Any
) -> AsyncIterator[City]:
    network = load_network(api.feed)
    config = CityConfig(
        date=api.today,
        start_s=START_S,
        speed=SPEED,
        vehicles=["V1", "V2", "V3"],
        riders_per_hour=0,
        motion=MotionSettings(dwell_s=20, incoming_s=30),
        policy=DriverPolicy(ack_delay_s=(1, 3), no_show_wait_s=600),
        stops={"S1", "S2", "S3", "S4"},
        rider_poll_s=0.2,
        **overrides,
    )
    async with City(network, config, endpoint_for=broker.endpoint, api_url=api.base_url) as city:
        for gateway in city.gateways.values():
            await gateway.wait_connected(10)
        for vehicle in city.vehicles.values():
            await vehicle.display.runtime.mqtt.wait_connected(10)
        yield city


async def reservation(api: RunningApi, rid: uuid.UUID) -> dict[str, Any]:
    r = await api.client.get("/v1/ops/reservations", headers=api.ops)
    assert r.status_code == 200, r.text
    found = [x for x in r.json() if x["id"] == str(rid)]
    assert found, f"reservation {rid} not listed"
    first: dict[str, Any] = found[0]
    return first


async def ride(city: City, request: RideRequest, timeout: float = 90) -> tuple[SimRider, uuid.UUID]:
    rider = city.book(request)
    await eventually(
        lambda: rider.status is not None and rider.status.is_final,
        timeout=timeout,
        what="the ride ended",
    )
    assert rider.reservation_id is not None
    return rider, rider.reservation_id


async def no_retained_calls_or_alerts(connect: ConnectFn, topics: Topics) -> None:
    """The final StopCall and DriverAlert copies are cleared (FINAL_CLEAR_DELAY_S after the
    end): a fresh server login ends up with none of them retained under the root."""
    inbox = Inbox()
    session = await connect("server.api-1", clean_start=True, session_expiry_s=0)
    await session.subscribe(topics.everything(), inbox)
    # A barrier: the broker sends the retained copies on SUBSCRIBE, before our own message
    # published after it (announcements are not retained; no gateway runs any more).
    barrier = topics.stop_announce("S1")
    await session.publish(barrier, b"barrier", qos=1)
    async with asyncio.timeout(10):
        while (await inbox.get()).topic != barrier:
            pass
    assert any(m.retain for m in inbox.all), "the subscription saw no retained status at all"

    def still_retained() -> list[str]:
        """Call and alert topics whose latest word is a copy, not a clearing (empty) one."""
        latest = {
            m.topic: m.payload
            for m in inbox.all
            if topics.parse(m.topic).kind in (TopicKind.STOP_CALL, TopicKind.VEHICLE_ALERT)
        }
        return sorted(topic for topic, payload in latest.items() if payload)

    await eventually(
        still_retained, lambda left: not left, timeout=5, what="final calls and alerts cleared"
    )


async def test_book_assign_ack_announce_board_ride_alight_completed_and_cleared(
    platform_api: RunningApi, broker: ManagedBroker, connect: ConnectFn, topics: Topics
) -> None:
    async with running_city(platform_api, broker) as city:
        rider, rid = await ride(city, RideRequest("S2", "R1", 0, "S4", "en"))
        assert rider.status is RS.COMPLETED
        res = await reservation(platform_api, rid)
        seen = [h["status"] for h in res["history"]]
        for status in (
            "pending",
            "assigned",
            "acknowledged",
            "arriving",
            "at_stop",
            "boarded",
            "riding",
            "alighting",
            "completed",
        ):
            assert status in seen, seen
        # The next bus (T0600 waiting at S1), not the one that had just left S2.
        assert res["vehicle_id"] == "V2"
        assert rid in city.stats.alerted_at
        assert rid in city.stats.announced, "the stop did not announce the arriving bus"
        assert city.stats.booking_to_alert_ms
        said = " ".join(text for _lang, text in city.gateways["S2"].sink.lines)
        assert "three oh seven is arriving" in said
        assert "三零七路 公車即將到站" in said
        assert rid not in city.curb.aboard
    await no_retained_calls_or_alerts(connect, topics)


async def test_missed_pickup_is_reassigned_to_the_next_bus(
    platform_api: RunningApi, broker: ManagedBroker, connect: ConnectFn, topics: Topics
) -> None:
    async with running_city(platform_api, broker) as city:
        city.vehicles["V2"].policy = DriverPolicy(ack_delay_s=(1, 2), cannot_stop_p=1.0)
        rider, rid = await ride(city, RideRequest("S2", "R1", 0, "S3"), timeout=120)
        res = await reservation(platform_api, rid)
        seen = [h["status"] for h in res["history"]]
        assert rider.status is RS.COMPLETED, seen
        assert "missed" in seen
        assert seen.index("missed") < len(seen) - 1 - seen[::-1].index("assigned")
        # The driver of V2 could not stop; the next bus on the route took the rider.
        assert res["vehicle_id"] not in (None, "V2")
        assert rid in city.stats.missed
    await no_retained_calls_or_alerts(connect, topics)


async def test_gateway_offline_at_booking_announces_after_reconnect(
    platform_api: RunningApi, broker: ManagedBroker
) -> None:
    async with running_city(platform_api, broker) as city:
        gateway = city.gateways["S3"]
        await gateway.__aexit__(None, None, None)
        rider = city.book(RideRequest("S3", "R1", 0, "S4"))
        await eventually(
            lambda: rider.status in (RS.ASSIGNED, RS.ACKNOWLEDGED),
            timeout=30,
            what="the booking is assigned",
        )
        back = make_gateway("S3", broker.endpoint("stop.S3"), city.stats)
        async with back:
            await eventually(
                lambda: any("three oh seven" in text for _lang, text in back.sink.lines),
                timeout=20,
                what="the stop spoke the call it missed while offline",
            )
        city.gateways.pop("S3")
