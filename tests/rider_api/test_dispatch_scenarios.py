"""Dispatcher scenarios through a real Mosquitto with scripted vehicle positions.

Route R1 (direction 0) runs S1 -> S2 -> S3 -> S4, two minutes apart.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

import pytest

from broker_config.messages import (
    DriverAlert,
    DriverEvent,
    DriverEventType,
    StopCall,
    VehiclePosition,
    VehicleStopStatus,
    decode,
    utcnow,
)
from broker_config.session import MqttSession
from broker_config.topics import Topics
from tests.conftest import ConnectFn, Inbox
from tests.rider_api.conftest import COORDS, ApiServer
from tests.support.waiting import eventually

STATUS = VehicleStopStatus


class Bus:
    """A scripted vehicle: publishes positions and driver events with its own login."""

    def __init__(self, session: MqttSession, vehicle_id: str, topics: Topics) -> None:
        self.session = session
        self.vehicle_id = vehicle_id
        self.topics = topics
        self.alerts = Inbox()

    async def at(
        self,
        stop_id: str,
        status: VehicleStopStatus,
        *,
        ts: float | None = None,
        direction_id: Literal[0, 1] = 0,
    ) -> None:
        lat, lon = COORDS[stop_id]
        pos = VehiclePosition(
            route_id="R1",
            direction_id=direction_id,
            trip_id=f"T{direction_id}",
            lat=lat,
            lon=lon,
            stop_id=stop_id,
            current_stop_sequence=int(stop_id[1:]),
            current_status=status,
            timestamp=ts if ts is not None else time.time(),
        )
        await self.session.publish(self.topics.vehicle_position(self.vehicle_id), pos, qos=0)

    async def tap(
        self,
        reservation_id: str,
        kind: DriverEventType,
        reason: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        event = DriverEvent.model_validate(
            {
                "id": str(event_id or uuid.uuid4()),
                "reservation_id": reservation_id,
                "type": kind.value,
                "reason": reason,
                "at": utcnow().isoformat(),
            }
        )
        await self.session.publish(self.topics.vehicle_events(self.vehicle_id), event, qos=1)
        return event.id


async def make_bus(connect: ConnectFn, topics: Topics, vehicle_id: str) -> Bus:
    session = await connect(f"vehicle.{vehicle_id}")
    bus = Bus(session, vehicle_id, topics)
    await session.subscribe(topics.vehicle_alerts_filter(vehicle_id), bus.alerts)
    return bus


async def book(api: ApiServer, rider: dict[str, Any], **body: Any) -> str:
    payload = {"stop_id": "S3", "route_id": "R1", "direction_id": 0, **body}
    r = await api.client.post("/v1/reservations", json=payload, headers=rider["headers"])
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def wait_for(
    api: ApiServer, rider: dict[str, Any], rid: str, field: str, value: object, timeout: float = 5.0
) -> dict[str, Any]:
    """Poll until the reservation's ``field`` is ``value`` (positions are QoS 0: no ack)."""

    async def reservation() -> dict[str, Any]:
        r = await api.client.get(f"/v1/reservations/{rid}", headers=rider["headers"])
        data: dict[str, Any] = r.json()
        return data

    return await eventually(
        reservation,
        lambda data: data[field] == value,
        timeout=timeout,
        what=f"reservation {field} == {value!r}",
    )


async def wait_status(
    api: ApiServer, rider: dict[str, Any], rid: str, status: str
) -> dict[str, Any]:
    return await wait_for(api, rider, rid, "status", status)


async def wait_vehicle(
    api: ApiServer, rider: dict[str, Any], rid: str, vehicle_id: str
) -> dict[str, Any]:
    return await wait_for(api, rider, rid, "vehicle_id", vehicle_id)


async def next_alert(bus: Bus) -> DriverAlert | None:
    msg = await bus.alerts.get()
    return None if not msg.payload else decode(DriverAlert, msg.payload)


async def test_nearest_approaching_bus_is_chosen(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    passed = await make_bus(connect, topics, "V1")
    near = await make_bus(connect, topics, "V2")
    far = await make_bus(connect, topics, "V3")
    await passed.at("S4", STATUS.STOPPED_AT)
    await near.at("S2", STATUS.STOPPED_AT)
    await far.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    # Make sure all three positions were applied before booking.
    dispatcher = api.state.dispatcher
    assert dispatcher is not None
    await eventually(
        lambda: len(dispatcher.fleet.vehicles), lambda n: n >= 3, what="three buses in the fleet"
    )
    rid = await book(api, rider)
    data = await wait_status(api, rider, rid, "assigned")
    assert data["vehicle_id"] == "V2"
    assert 60 <= data["eta_s"] <= 200
    alert = await next_alert(near)
    assert alert is not None
    assert alert.kind == "pickup"
    assert alert.stop_id == "S3"
    assert alert.stop_name.en == "Stop S3"
    await far.alerts.expect_nothing(0.2)
    await passed.alerts.expect_nothing(0.1)


async def test_pending_waits_then_assigned_when_a_bus_appears(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    rider = await api.rider()
    rid = await book(api, rider)
    data = await wait_status(api, rider, rid, "pending")
    assert data["vehicle_id"] is None
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    data = await wait_status(api, rider, rid, "assigned")
    assert data["vehicle_id"] == "V1"
    assert (await next_alert(bus)) is not None


async def test_happy_path_with_destination_to_completed(
    api: ApiServer, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    gateway = await connect("stop.S2")
    await gateway.subscribe(topics.stop_calls_filter("S2"), inbox)
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.IN_TRANSIT_TO)
    rider = await api.rider()
    rid = await book(api, rider, stop_id="S2", destination_stop_id="S4")
    await wait_status(api, rider, rid, "assigned")
    assert (await next_alert(bus)) is not None
    await bus.tap(rid, DriverEventType.ACKNOWLEDGED)
    await wait_status(api, rider, rid, "acknowledged")
    await bus.at("S1", STATUS.STOPPED_AT)  # one stop away
    await wait_status(api, rider, rid, "arriving")
    await bus.at("S2", STATUS.STOPPED_AT)
    await wait_status(api, rider, rid, "at_stop")
    await bus.tap(rid, DriverEventType.BOARDED)
    await wait_status(api, rider, rid, "riding")
    await bus.at("S3", STATUS.STOPPED_AT)  # one stop before the destination
    await wait_status(api, rider, rid, "alighting")
    await bus.tap(rid, DriverEventType.ALIGHTED)
    data = await wait_status(api, rider, rid, "completed")
    assert [h["status"] for h in data["history"]] == [
        "pending",
        "assigned",
        "acknowledged",
        "arriving",
        "at_stop",
        "boarded",
        "riding",
        "alighting",
        "completed",
    ]
    kinds: list[tuple[str, str]] = []
    while True:
        alert = await next_alert(bus)
        if alert is None:
            break  # the final clear
        kinds.append((alert.kind, alert.status))
    assert ("dropoff", "alighting") in kinds
    assert kinds[-1] == ("dropoff", "completed")
    statuses = []
    while True:
        msg = await inbox.get()
        if not msg.payload:
            break
        statuses.append(decode(StopCall, msg.payload).status)
    assert statuses[-1] == "boarded"
    assert "at_stop" in statuses


async def test_missed_pickup_is_reassigned_with_reason(
    api: ApiServer, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    gateway = await connect("stop.S2")
    await gateway.subscribe(topics.stop_calls_filter("S2"), inbox)
    first, second = await make_bus(connect, topics, "V1"), await make_bus(connect, topics, "V2")
    await first.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider, stop_id="S2")
    await wait_status(api, rider, rid, "assigned")
    await second.at("S1", STATUS.IN_TRANSIT_TO, ts=time.time())
    await first.at("S3", STATUS.IN_TRANSIT_TO)  # drove past S2 without a boarding
    data = await wait_status(api, rider, rid, "assigned")
    data = await wait_vehicle(api, rider, rid, "V2")
    assert [h["status"] for h in data["history"]][-2:] == ["missed", "assigned"]
    assert data["reason"] == "left"
    reasons = []
    for _ in range(6):
        msg = await inbox.get()
        if msg.payload:
            call = decode(StopCall, msg.payload)
            reasons.append((call.status, call.reason, call.vehicle_id))
            if call.vehicle_id == "V2" and call.status == "assigned":
                break
    # The miss is heard on its own, then the call assigned to the next bus.
    assert ("missed", "left", "V1") in reasons
    assert reasons[-1] == ("assigned", "left", "V2")
    op = {"Authorization": "Bearer op-secret-token"}
    incidents = (await api.client.get("/v1/ops/incidents", headers=op)).json()
    assert incidents[0]["kind"] == "missed"
    assert incidents[0]["vehicle_id"] == "V1"


async def test_bus_turning_to_the_other_direction_misses_and_is_replaced(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    first, second = await make_bus(connect, topics, "V1"), await make_bus(connect, topics, "V2")
    await first.at("S2", STATUS.STOPPED_AT)
    await second.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider)
    data = await wait_status(api, rider, rid, "assigned")
    assert data["vehicle_id"] == "V1"
    # V1 turns back before S3: on direction 1 it is at S2 again, the opposite kerb.
    await first.at("S2", STATUS.STOPPED_AT, direction_id=1)
    data = await wait_vehicle(api, rider, rid, "V2")
    assert [h["status"] for h in data["history"]][-2:] == ["missed", "assigned"]
    assert data["status"] != "arriving"


async def test_ride_to_the_last_stop_completes_when_the_bus_starts_its_next_trip(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider, stop_id="S2", destination_stop_id="S4")
    await wait_status(api, rider, rid, "assigned")
    await bus.at("S2", STATUS.STOPPED_AT)
    await wait_status(api, rider, rid, "at_stop")
    await bus.tap(rid, DriverEventType.BOARDED)
    await wait_status(api, rider, rid, "riding")
    await bus.at("S4", STATUS.STOPPED_AT)  # the terminus: the driver forgets to tap
    await wait_status(api, rider, rid, "alighting")
    await bus.at("S1", STATUS.STOPPED_AT)  # same direction, next trip from the start
    data = await wait_status(api, rider, rid, "completed")
    assert data["history"][-1]["cause"].endswith("left the destination")


async def test_cannot_stop_bus_full_reassigns(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    first, second = await make_bus(connect, topics, "V1"), await make_bus(connect, topics, "V2")
    await first.at("S2", STATUS.STOPPED_AT)
    await second.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider)
    data = await wait_status(api, rider, rid, "assigned")
    assert data["vehicle_id"] == "V1"
    await first.tap(rid, DriverEventType.CANNOT_STOP, "bus_full")
    data = await wait_vehicle(api, rider, rid, "V2")
    assert data["status"] == "assigned"
    assert data["reason"] == "bus_full"
    ended = [a async for a in _alerts_until_clear(first)]
    assert ended[-1].status == "missed"


async def _alerts_until_clear(bus: Bus) -> Any:
    while True:
        alert = await next_alert(bus)
        if alert is None:
            return
        yield alert


async def test_no_show_and_duplicate_events_change_nothing(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S2", STATUS.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider)
    await wait_status(api, rider, rid, "assigned")
    ack_id = await bus.tap(rid, DriverEventType.ACKNOWLEDGED)
    await wait_status(api, rider, rid, "acknowledged")
    await bus.tap(rid, DriverEventType.ACKNOWLEDGED, event_id=ack_id)  # duplicate delivery
    stale = time.time() - 100
    await bus.at("S1", STATUS.STOPPED_AT, ts=stale)  # out of order: older than the last
    await bus.at("S3", STATUS.STOPPED_AT)
    await wait_status(api, rider, rid, "at_stop")
    await bus.tap(rid, DriverEventType.NO_SHOW)
    data = await wait_status(api, rider, rid, "no_show")
    assert [h["status"] for h in data["history"]] == [
        "pending",
        "assigned",
        "acknowledged",
        "arriving",
        "at_stop",
        "no_show",
    ] or [h["status"] for h in data["history"]] == [
        "pending",
        "assigned",
        "acknowledged",
        "at_stop",
        "no_show",
    ]


async def test_another_vehicle_cannot_act_on_a_reservation(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    bus, other = await make_bus(connect, topics, "V1"), await make_bus(connect, topics, "V2")
    await bus.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider)
    await wait_status(api, rider, rid, "assigned")
    await other.tap(rid, DriverEventType.NO_SHOW)
    await bus.tap(rid, DriverEventType.ACKNOWLEDGED)
    data = await wait_status(api, rider, rid, "acknowledged")
    assert "no_show" not in [h["status"] for h in data["history"]]


async def test_unacknowledged_alert_is_resent_and_flagged(
    make_api: Any, connect: ConnectFn, topics: Topics
) -> None:
    api: ApiServer = await make_api(ack_timeout_s=0.0)
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider)
    await wait_status(api, rider, rid, "assigned")
    first = await next_alert(bus)
    assert first is not None
    assert not first.reminder
    assert api.state.dispatcher is not None
    await api.state.dispatcher.tick()
    again = await next_alert(bus)
    assert again is not None
    assert again.reminder
    assert again.seq > first.seq
    op = {"Authorization": "Bearer op-secret-token"}
    incidents = (await api.client.get("/v1/ops/incidents", headers=op)).json()
    assert [i["kind"] for i in incidents] == ["unacknowledged"]
    await api.state.dispatcher.tick()  # flagged once, not on every tick
    await bus.alerts.expect_nothing(0.2)


async def test_expiry(make_api: Any, connect: ConnectFn, topics: Topics, inbox: Inbox) -> None:
    api: ApiServer = await make_api(reservation_lifetime_s=0)
    gateway = await connect("stop.S3")
    await gateway.subscribe(topics.stop_calls_filter("S3"), inbox)
    rider = await api.rider()
    rid = await book(api, rider)
    assert api.state.dispatcher is not None
    await api.state.dispatcher.tick()
    data = await wait_status(api, rider, rid, "expired")
    assert data["history"][-1]["cause"] == "not served within its lifetime"
    statuses = [decode(StopCall, (await inbox.get()).payload).status for _ in range(2)]
    assert statuses == ["pending", "expired"]
    assert (await inbox.get()).payload == b""


async def test_cancel_in_every_non_final_state_clears_stop_and_vehicle(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    rider = await api.rider()
    steps: list[tuple[str, Any]] = [
        ("assigned", None),
        ("acknowledged", DriverEventType.ACKNOWLEDGED),
    ]
    for target, tap in steps:
        rid = await book(api, rider)
        await wait_status(api, rider, rid, "assigned")
        if tap is not None:
            await bus.tap(rid, tap)
            await wait_status(api, rider, rid, target)
        r = await api.client.delete(f"/v1/reservations/{rid}", headers=rider["headers"])
        assert r.status_code == 200
        ended = [a async for a in _alerts_until_clear(bus)]
        assert ended[-1].status == "cancelled"
    # A device connecting now finds nothing retained.
    probe = Inbox()
    fresh = await connect("server.api-1", clean_start=True)
    await fresh.subscribe(topics.vehicle_alerts_filter("V1"), probe)
    await fresh.subscribe(topics.stop_calls_filter("S3"), probe)
    await fresh.subscribe(topics.stop_announce("S3"), probe)
    await fresh.publish(topics.stop_announce("S3"), b"marker", qos=1)
    assert (await probe.get()).payload == b"marker"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_database_url
