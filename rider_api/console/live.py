"""What the live console shows: what is at risk, devices, buses, active bookings,
incidents (offline stops first)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from broker_config.messages import DeviceState, Localized, ReservationStatus, utcnow
from rider_api.console.queries import active_reservations, recent_incidents
from rider_api.console.risk import RiskItem, at_risk
from rider_api.models import Reservation
from rider_api.mqtt.devices import DeviceRecord
from rider_api.state import AppState

__all__ = [
    "WAITING_AT_STOP",
    "BookingRow",
    "DeviceRow",
    "IncidentRow",
    "Snapshot",
    "VehicleRow",
    "build_snapshot",
    "device_row",
]

S = ReservationStatus
#: A rider in these states is (or will soon be) waiting at the stop: its gateway matters.
WAITING_AT_STOP = frozenset(
    {S.PENDING, S.ASSIGNED, S.ACKNOWLEDGED, S.ARRIVING, S.AT_STOP, S.MISSED}
)
#: Board order: the states a rider goes through.
STATUS_ORDER = (
    S.PENDING,
    S.MISSED,
    S.ASSIGNED,
    S.ACKNOWLEDGED,
    S.ARRIVING,
    S.AT_STOP,
    S.BOARDED,
    S.RIDING,
    S.ALIGHTING,
)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    kind: str
    device_id: str
    state: str  # online | offline | stale
    since: datetime | None
    health_at: datetime | None
    uptime_s: float | None
    speaker: str  # ok | fail | unknown
    queue_depth: int | None
    version: str | None
    last_error: str | None


def device_row(rec: DeviceRecord, now: datetime, heartbeat_s: float) -> DeviceRow:
    if rec.state is DeviceState.ONLINE:
        state = "stale" if rec.stale(now, heartbeat_s) else "online"
    else:
        state = "offline"
    h = rec.health
    speaker = "unknown" if h is None or h.speaker_ok is None else ("ok" if h.speaker_ok else "fail")
    return DeviceRow(
        kind=rec.kind,
        device_id=rec.device_id,
        state=state,
        since=rec.since,
        health_at=rec.health_at,
        uptime_s=h.uptime_s if h else None,
        speaker=speaker,
        queue_depth=h.queue_depth if h else None,
        version=rec.version,
        last_error=h.last_error if h else None,
    )


@dataclass(frozen=True, slots=True)
class BookingRow:
    id: uuid.UUID
    status: ReservationStatus
    stop_id: str
    stop_name: Localized | None
    route_id: str
    route_name: Localized | None
    direction_id: int
    vehicle_id: str | None
    status_since: datetime
    in_state_s: float
    #: overdue | waiting | acknowledged | None (no driver alert)
    alert: str | None
    gateway_online: bool | None


@dataclass(frozen=True, slots=True)
class IncidentRow:
    kind: str
    at: datetime | None
    stop_id: str | None
    stop_name: Localized | None
    route_id: str | None
    vehicle_id: str | None
    reason: str | None
    reservation_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class VehicleRow:
    """A bus as the fleet view last heard of it."""

    vehicle_id: str
    route_id: str
    direction_id: int
    stop_id: str
    lat: float
    lon: float
    #: Seconds since its last position reached this instance.
    age_s: float
    stale: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: datetime
    devices: list[DeviceRow]
    bookings: list[BookingRow]
    #: Stop gateways offline while a rider waits there: shown first, always.
    offline_stops: list[IncidentRow]
    incidents: list[IncidentRow]
    counts: dict[str, int] = field(default_factory=dict)
    #: What is at risk, most urgent first (see ``console.risk``).
    risks: list[RiskItem] = field(default_factory=list)
    vehicles: list[VehicleRow] = field(default_factory=list)

    @property
    def unacknowledged(self) -> int:
        return sum(1 for b in self.bookings if b.alert == "overdue")


def _alert(res: Reservation) -> str | None:
    if res.alerted_at is None or res.vehicle_id is None:
        return None
    if res.ack_overdue:
        return "overdue"
    if res.acknowledged_at is not None or res.status is not S.ASSIGNED:
        return "acknowledged"
    return "waiting"


async def build_snapshot(
    state: AppState,
    *,
    heartbeat_s: float,
    incident_window: timedelta = timedelta(hours=24),
    wait_s: float | None = None,
    report_window_s: float | None = None,
) -> Snapshot:
    """The board now; ``wait_s`` and ``report_window_s`` default to the console's
    settings (see ``ConsoleSettings.risk_wait_s``)."""
    now = utcnow()
    mono = time.monotonic()
    staleness_s = state.settings.position_staleness_s
    vehicles = [
        VehicleRow(
            vehicle_id=v.vehicle_id,
            route_id=v.position.route_id,
            direction_id=v.position.direction_id,
            stop_id=v.position.stop_id,
            lat=v.position.lat,
            lon=v.position.lon,
            age_s=max(0.0, mono - v.received),
            stale=mono - v.received > staleness_s,
        )
        for v in sorted(state.dispatcher.fleet.vehicles.values(), key=lambda v: v.vehicle_id)
    ]
    devices = [
        device_row(r, now, heartbeat_s)
        for r in sorted(state.devices.records.values(), key=lambda r: (r.kind, r.device_id))
    ]
    async with state.sessions() as session:
        active = await active_reservations(session)
        recent = await recent_incidents(session, since=now - incident_window)
    net = state.network
    bookings: list[BookingRow] = []
    offline: list[IncidentRow] = []
    for res in active:
        stop = net.stops.get(res.stop_id)
        route = net.routes.get(res.route_id)
        online = state.devices.stop_online(res.stop_id)
        bookings.append(
            BookingRow(
                id=res.id,
                status=res.status,
                stop_id=res.stop_id,
                stop_name=stop.name if stop else None,
                route_id=res.route_id,
                route_name=route.display_name if route else None,
                direction_id=res.direction_id,
                vehicle_id=res.vehicle_id,
                status_since=res.status_since,
                in_state_s=max(0.0, (now - res.status_since).total_seconds()),
                alert=_alert(res),
                gateway_online=online,
            )
        )
        if res.status in WAITING_AT_STOP and online is not True:
            rec = state.devices.records.get(("stop", res.stop_id))
            offline.append(
                IncidentRow(
                    kind="gateway_offline",
                    at=rec.since if rec else None,
                    stop_id=res.stop_id,
                    stop_name=stop.name if stop else None,
                    route_id=res.route_id,
                    vehicle_id=res.vehicle_id,
                    reason="offline" if rec else "never_seen",
                    reservation_id=res.id,
                )
            )
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    bookings.sort(key=lambda b: (b.alert != "overdue", order.get(b.status, 99), -b.in_state_s))
    incidents = [
        IncidentRow(
            kind=i.kind,
            at=i.at,
            stop_id=i.stop_id,
            stop_name=(net.stops[i.stop_id].name if i.stop_id in net.stops else None)
            if i.stop_id
            else None,
            route_id=i.route_id,
            vehicle_id=i.vehicle_id,
            reason=i.reason,
            reservation_id=i.reservation_id,
        )
        for i in recent
    ]
    counts = {
        "devices": len(devices),
        "online": sum(1 for d in devices if d.state != "offline"),
        "stale": sum(1 for d in devices if d.state == "stale"),
        "active": len(bookings),
        "offline_stops": len(offline),
    }
    risks = at_risk(
        bookings=bookings,
        offline_stops=offline,
        incidents=incidents,
        position_age_s={v.vehicle_id: v.age_s for v in vehicles},
        now=now,
        wait_s=state.console.risk_wait_s if wait_s is None else wait_s,
        staleness_s=staleness_s,
        report_window_s=(
            state.console.risk_report_window_s if report_window_s is None else report_window_s
        ),
    )
    counts["risks"] = len(risks)
    return Snapshot(now, devices, bookings, offline, incidents, counts, risks, vehicles)
