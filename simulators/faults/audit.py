"""The audit (pure): what was made against what is observed, counted as lost, duplicated, stuck."""

from __future__ import annotations

import collections
import uuid
from dataclasses import dataclass, field
from typing import Literal

from broker_config.errors import MalformedPayloadError
from broker_config.messages import DriverAlert, ReservationStatus, StopCall, decode
from broker_config.topics import Topics
from rider_api.reservations.changes import ALERT_STATUSES, STOP_CALL_STATUSES
from simulators.faults.const import PRESS_STOP, VEHICLE
from simulators.faults.riders import Booking

S = ReservationStatus


_Kind = Literal["lost", "duplicated", "stuck"]


@dataclass
class Tally:
    """What went wrong, one line per problem; a line may stand for several items."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    #: Items beyond one that a line stands for ("15 of 71 presses ..."), by kind.
    more: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.stuck)

    def _lines(self, kind: _Kind) -> list[str]:
        return {"lost": self.lost, "duplicated": self.duplicated, "stuck": self.stuck}[kind]

    def add(self, kind: _Kind, items: int, line: str) -> None:
        self._lines(kind).append(line)
        self.more[kind] += items - 1

    def count(self, kind: _Kind) -> int:
        return len(self._lines(kind)) + self.more[kind]


@dataclass(frozen=True, slots=True)
class Row:
    id: uuid.UUID
    rider_id: uuid.UUID
    stop_id: str
    direction_id: int
    status: ReservationStatus
    vehicle_id: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Observed:
    reservations: dict[uuid.UUID, Row]
    history: collections.Counter[tuple[uuid.UUID, ReservationStatus]]
    unsent: tuple[str, ...]
    processed: frozenset[uuid.UUID]
    help_incidents: collections.Counter[str]
    retained: dict[str, bytes]
    device_pending: dict[str, int]
    #: What the in-process devices hold: the S2 gateway's calls, V1's alerts.
    gateway_calls: dict[uuid.UUID, ReservationStatus]
    display_alerts: dict[uuid.UUID, ReservationStatus]


@dataclass(frozen=True, slots=True)
class Made:
    """What the clients and devices did, as they saw it."""

    bookings: tuple[Booking, ...]
    #: (event id, reservation id) of every tap the display took.
    taps: tuple[tuple[uuid.UUID, uuid.UUID], ...]
    #: Help presses each gateway took, by stop.
    presses: dict[str, int]
    #: Problems the run itself met (an alert that never came ...).
    notes: tuple[str, ...] = ()


def _audit_device(
    tally: Tally,
    device: str,
    what: str,
    held: dict[uuid.UUID, ReservationStatus],
    live: dict[uuid.UUID, Row],
) -> None:
    for rid, row in live.items():
        status = held.get(rid)
        if status is None:
            tally.lost.append(f"{device} has no {what} for {rid} ({row.status})")
        elif status is not row.status:
            tally.lost.append(f"{device} shows {status} for {rid} (database: {row.status})")
    for rid in held.keys() - live.keys():
        tally.stuck.append(f"{device} still shows a {what} for {rid} ({held[rid]}), ended")


def audit(made: Made, seen: Observed, topics: Topics) -> Tally:
    tally = Tally(lost=list(made.notes))
    # Bookings: answered, stored once, cancelled when the cancel was answered.
    stored: collections.Counter[tuple[uuid.UUID, str, int]] = collections.Counter(
        (r.rider_id, r.stop_id, r.direction_id)
        for r in seen.reservations.values()
        if r.source == "app"
    )
    for b in made.bookings:
        where = f"booking {b.index} ({b.stop_id} dir {b.direction_id})"
        if b.reservation_id is None:
            if b.error is not None:  # None: never tried (a script that stopped early)
                tally.lost.append(f"{where}: {b.error}")
            continue
        row = seen.reservations.get(b.reservation_id)
        copies = stored[(b.rider_id, b.stop_id, b.direction_id)]
        if row is None:
            tally.lost.append(f"{where}: answered {b.reservation_id}, not in the database")
        if copies > 1:
            tally.add("duplicated", copies - 1, f"{where}: stored {copies} times")
        if b.error is not None:
            tally.lost.append(f"{where} {b.reservation_id}: {b.error}")
        elif b.cancel and row is not None and row.status is not S.CANCELLED:
            tally.lost.append(
                f"{where} {b.reservation_id}: cancel answered, status is {row.status}"
            )
    # Effects: every reservation's retained call and alert agree with the database.
    expected: set[str] = set()
    for r in seen.reservations.values():
        checks: list[tuple[str, type[StopCall] | type[DriverAlert]]] = []
        if r.status in STOP_CALL_STATUSES:
            checks.append((topics.stop_call(r.stop_id, r.id), StopCall))
        if r.vehicle_id is not None and r.status in ALERT_STATUSES:
            checks.append((topics.vehicle_alert(r.vehicle_id, r.id), DriverAlert))
        for topic, model in checks:
            expected.add(topic)
            payload = seen.retained.get(topic)
            what = f"{model.__name__} of {r.id} ({r.status}, {r.stop_id} dir {r.direction_id})"
            if payload is None:
                tally.lost.append(f"{what}: not retained on the broker")
                continue
            try:
                message = decode(model, payload)
            except MalformedPayloadError as exc:
                tally.lost.append(f"{what}: retained copy malformed: {exc}")
                continue
            if message.status is not r.status:
                tally.lost.append(f"{what}: the broker keeps status {message.status}")
    for topic in sorted(set(seen.retained) - expected):
        parsed = topics.parse(topic)
        rid = uuid.UUID(parsed.reservation_id) if parsed.reservation_id else None
        row = seen.reservations.get(rid) if rid else None
        state = f"{row.status}, vehicle {row.vehicle_id}" if row else "no such reservation"
        tally.stuck.append(f"stale retained {parsed.kind} on {topic} ({state})")
    # Devices: the S2 gateway and V1's display hold what the database says, nothing more.
    _audit_device(
        tally,
        f"gateway {PRESS_STOP}",
        "call",
        seen.gateway_calls,
        {
            r.id: r
            for r in seen.reservations.values()
            if r.stop_id == PRESS_STOP and r.status in STOP_CALL_STATUSES
        },
    )
    _audit_device(
        tally,
        f"display {VEHICLE}",
        "alert",
        seen.display_alerts,
        {
            r.id: r
            for r in seen.reservations.values()
            if r.vehicle_id == VEHICLE and r.status in ALERT_STATUSES
        },
    )
    # Events: each tap applied once, each press one help incident.
    for event_id, rid in made.taps:
        acks = seen.history[(rid, S.ACKNOWLEDGED)]
        if event_id not in seen.processed:
            tally.lost.append(f"tap {event_id} (acknowledge {rid}): never applied")
        elif acks == 0:
            tally.lost.append(f"tap {event_id} (acknowledge {rid}): processed, no acknowledgement")
        if acks > 1:
            tally.add("duplicated", acks - 1, f"tap {event_id}: {rid} acknowledged {acks} times")
    for stop_id, pressed in sorted(made.presses.items()):
        opened = seen.help_incidents[stop_id]
        if opened < pressed:
            line = f"{pressed - opened} of {pressed} help presses at {stop_id} never applied"
            tally.add("lost", pressed - opened, line)
        elif opened > pressed:
            line = f"{opened} help incidents at {stop_id} for {pressed} presses"
            tally.add("duplicated", opened - pressed, line)
    # Stuck: unsent outbox rows and events the devices still hold.
    tally.stuck.extend(seen.unsent)
    for device, pending in sorted(seen.device_pending.items()):
        if pending:
            tally.add("stuck", pending, f"{device} still holds {pending} event(s)")
    return tally


def duplicated_transitions(seen: Observed) -> tuple[int, list[str]]:
    """History rows beyond one per (reservation, status), and a line for each such pair."""
    extra = 0
    lines = []
    for (rid, status), rows in sorted(seen.history.items(), key=str):
        if rows > 1:
            extra += rows - 1
            lines.append(f"reservation {rid}: {rows} history rows '{status}'")
    return extra, lines
