"""The dispatch rules: what a position, a timer tick or a driver's tap means. Pure: no I/O.

Each rule reads a snapshot of one active reservation (``Tracked``), the vehicle's state
and plain settings values, and returns an ``Action`` (None: nothing to do). The Action
carries everything applying it needs (the vehicle, the ETA, the reason, the cause
written in the history), so the dispatcher applies it without deciding again. The
tables of docs/dispatch.md are these rules, row by row; tests/rider_api/
test_dispatch_rules.py tests one row each.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from broker_config.messages import ReservationStatus, VehicleStopStatus
from rider_api.dispatch.fleet import VehicleState, choose_vehicle, eta_seconds, has_passed
from rider_api.network.view import NetworkView
from rider_api.reservations.lifecycle import PICKUP_STATUSES

__all__ = [
    "ETA_MARKS",
    "SERVICE_END_GRACE_S",
    "WAITING_STATUSES",
    "Action",
    "ActionKind",
    "Timetable",
    "Tracked",
    "assigned_rule",
    "assignment_rule",
    "cannot_stop_rule",
    "eta_changed",
    "service_day_end",
    "timer_due",
    "timer_rule",
    "waiting_rule",
]

S = ReservationStatus
STOPPED_AT = VehicleStopStatus.STOPPED_AT

#: Waiting for a bus: the assignment rule may run.
WAITING_STATUSES: Final = frozenset({S.PENDING, S.MISSED})
#: On board with a destination: the drop-off rows apply.
RIDING_STATUSES: Final = frozenset({S.RIDING, S.ALIGHTING})
#: Statuses that expire at ``expires_at``.
EXPIRING_STATUSES: Final = frozenset(PICKUP_STATUSES | WAITING_STATUSES)
#: An ETA going down past one of these (seconds) is always re-published.
ETA_MARKS: Final = (300, 180, 60)
#: A pending booking expires this long after the last scheduled departure at its stop.
SERVICE_END_GRACE_S: Final = 300


class ActionKind(enum.Enum):
    """What applying an Action does (the dispatcher maps each to a lifecycle step)."""

    ASSIGN = "assign"
    REQUEUE = "requeue"
    ARRIVING = "arriving"
    AT_STOP = "at_stop"
    ETA = "eta"
    MISSED = "missed"
    OFF_ROUTE = "off_route"
    TRIP_OVER = "trip_over"
    APPROACH_DESTINATION = "approach_destination"
    LEFT_DESTINATION = "left_destination"
    EXPIRE = "expire"
    SERVICE_ENDED = "service_ended"
    ACK_OVERDUE = "ack_overdue"


@dataclass(frozen=True, slots=True)
class Action:
    """One decision about one reservation, with everything needed to apply it."""

    kind: ActionKind
    reservation_id: uuid.UUID
    #: The history row's cause (and the log line's).
    cause: str
    #: The vehicle concerned: the one assigned (ASSIGN) or the one whose position decided.
    vehicle_id: str | None = None
    #: The ETA to write (ASSIGN, ARRIVING, AT_STOP, ETA; None there means "no ETA").
    eta_s: int | None = None
    #: The reason code of a miss ("left", or the driver's ``cannot_stop`` reason).
    reason: str | None = None
    #: The booked stop's sequence in the assigned vehicle's trip (ASSIGN).
    stop_sequence: int | None = None


@dataclass(frozen=True, slots=True)
class Tracked:
    """A read-only snapshot of an active reservation, as the dispatcher keeps it."""

    id: uuid.UUID
    status: ReservationStatus
    stop_id: str
    route_id: str
    direction_id: int
    destination_stop_id: str | None
    vehicle_id: str | None
    eta_s: int | None
    expires_at: dt.datetime
    alerted_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    ack_overdue: bool
    #: Vehicles that already missed this reservation (never chosen for it again).
    excluded: frozenset[str] = frozenset()
    #: When it was booked (its service day follows from it).
    created_at: dt.datetime | None = None


def eta_changed(old: int | None, new: int | None, threshold_s: int) -> bool:
    """Whether a new ETA is worth re-publishing (see "Refresh rule" in docs/dispatch.md)."""
    if old is None or new is None:
        return old != new
    if abs(old - new) >= threshold_s:
        return True
    return any(new <= mark < old for mark in ETA_MARKS)


# -- a position of the reservation's own vehicle ------------------------------------------
def assigned_rule(
    res: Tracked, vehicle: VehicleState, network: NetworkView, *, eta_refresh_threshold_s: int
) -> Action | None:
    """What a position of the vehicle assigned to ``res`` means for it."""
    index = vehicle.index
    if index is None:
        return None
    vid = vehicle.vehicle_id
    if vehicle.route_key != (res.route_id, res.direction_id):
        # Another route's or direction's stop order says nothing about this stop (a bus
        # that turned at its terminus would "arrive" at the opposite kerb).
        if res.status in PICKUP_STATUSES:
            cause = f"bus {vid} now runs another route or direction"
            return Action(ActionKind.OFF_ROUTE, res.id, cause, vehicle_id=vid, reason="left")
        if res.status in RIDING_STATUSES:
            return Action(ActionKind.TRIP_OVER, res.id, f"bus {vid} finished the trip", vid)
        return None
    direction = network.direction(res.route_id, res.direction_id)
    if direction is None:
        return None
    stopped = vehicle.status is STOPPED_AT
    if res.status in PICKUP_STATUSES:
        stop_index = direction.positions.get(res.stop_id)
        if stop_index is None:
            return None
        if index > stop_index:
            cause = f"bus {vid} left the stop without a boarding"
            return Action(ActionKind.MISSED, res.id, cause, vehicle_id=vid, reason="left")
        if index == stop_index and stopped:
            if res.status is S.AT_STOP:
                return None
            return Action(ActionKind.AT_STOP, res.id, f"bus {vid} is at the stop", vid, eta_s=0)
        eta = eta_seconds(network, vehicle, res.stop_id)
        near = index == stop_index or (index == stop_index - 1 and stopped)
        if near and res.status in (S.ASSIGNED, S.ACKNOWLEDGED):
            return Action(ActionKind.ARRIVING, res.id, f"bus {vid} is arriving", vid, eta_s=eta)
        if eta_changed(res.eta_s, eta, eta_refresh_threshold_s):
            return Action(ActionKind.ETA, res.id, f"bus {vid}: new ETA", vid, eta_s=eta)
        return None
    if res.status in RIDING_STATUSES and res.destination_stop_id:
        dest_index = direction.positions.get(res.destination_stop_id)
        if dest_index is None:
            return None
        # Below the stop before the destination while alighting: it was at the destination
        # (the last stop) and is back at the start of the line on its next trip.
        if index > dest_index or (res.status is S.ALIGHTING and index < dest_index - 1):
            cause = f"bus {vid} left the destination"
            return Action(ActionKind.LEFT_DESTINATION, res.id, cause, vid)
        near = index == dest_index or (index == dest_index - 1 and stopped)
        if near and res.status is S.RIDING:
            cause = f"bus {vid} is approaching the destination"
            return Action(ActionKind.APPROACH_DESTINATION, res.id, cause, vid)
    return None


# -- a position of another vehicle, for the reservations waiting on its route -------------
def waiting_rule(
    res: Tracked,
    vehicle: VehicleState,
    network: NetworkView,
    candidates: Sequence[VehicleState],
    *,
    warning_s: int,
) -> Action | None:
    """A position of ``vehicle`` on the route of a waiting ``res``: choose its bus again.

    The choice runs only when the vehicle could take it (it has not passed the stop and
    did not miss it before); it then picks among all ``candidates``, not only ``vehicle``.
    """
    if res.status not in WAITING_STATUSES or vehicle.route_key != (res.route_id, res.direction_id):
        return None
    if vehicle.vehicle_id == res.vehicle_id or vehicle.vehicle_id in res.excluded:
        return None
    direction = network.direction(res.route_id, res.direction_id)
    stop_index = direction.positions.get(res.stop_id) if direction else None
    if stop_index is None or has_passed(vehicle, stop_index):
        return None
    return assignment_rule(res, candidates, network, warning_s=warning_s)


def assignment_rule(
    res: Tracked, candidates: Sequence[VehicleState], network: NetworkView, *, warning_s: int
) -> Action | None:
    """The bus for a waiting ``res`` among the fresh ``candidates`` on its route direction."""
    if res.status not in WAITING_STATUSES:
        return None
    exclude = res.excluded
    if res.status is S.MISSED and res.vehicle_id:
        exclude = exclude | {res.vehicle_id}
    choice = choose_vehicle(network, candidates, res.stop_id, warning_s=warning_s, exclude=exclude)
    if choice is None:
        if res.status is S.MISSED:
            return Action(ActionKind.REQUEUE, res.id, "no other bus approaching: waiting")
        return None
    vehicle, eta = choice
    vid = vehicle.vehicle_id
    return Action(
        ActionKind.ASSIGN,
        res.id,
        f"bus {vid} assigned, about {eta // 60} min away",
        vehicle_id=vid,
        eta_s=eta,
        stop_sequence=_stop_sequence(network, vehicle, res.stop_id),
    )


def _stop_sequence(network: NetworkView, vehicle: VehicleState, stop_id: str) -> int | None:
    """The stop's ``stop_sequence`` in the vehicle's trip (its place in the route if unknown)."""
    trip_id = vehicle.position.trip_id
    trip = network.trips.get(trip_id) if trip_id else None
    if trip is not None:
        i = trip.index_of_stop(stop_id)
        if i is not None:
            return trip.stops[i].stop_sequence
    direction = network.direction(*vehicle.route_key)
    return direction.positions.get(stop_id) if direction else None


# -- the one-second timer -------------------------------------------------------------------
def timer_rule(
    res: Tracked,
    *,
    now: dt.datetime,
    ack_timeout_s: float,
    service_end: Callable[[Tracked], dt.datetime | None],
) -> Action | None:
    """Expiry, an unacknowledged alert, a pending booking after the last bus.

    ``service_end(res)`` is when the last bus of the booking's service day leaves its
    stop (see :func:`service_day_end`; asked only for a pending booking).
    """
    if res.expires_at <= now and res.status in EXPIRING_STATUSES:
        return Action(ActionKind.EXPIRE, res.id, "not served within its lifetime", res.vehicle_id)
    if (
        res.status is S.ASSIGNED
        and res.acknowledged_at is None
        and not res.ack_overdue
        and res.alerted_at is not None
        and res.alerted_at <= now - dt.timedelta(seconds=ack_timeout_s)
    ):
        cause = "driver has not acknowledged: alert re-sent"
        return Action(ActionKind.ACK_OVERDUE, res.id, cause, res.vehicle_id)
    if res.status is S.PENDING:
        end = service_end(res)
        if end is not None and now > end + dt.timedelta(seconds=SERVICE_END_GRACE_S):
            return Action(ActionKind.SERVICE_ENDED, res.id, "service ended for the day")
    return None


def timer_due(
    res: Tracked,
    *,
    ack_timeout_s: float,
    service_end: Callable[[Tracked], dt.datetime | None],
) -> dt.datetime | None:
    """The first moment :func:`timer_rule` can act on ``res``, or None if it never can.

    The dispatcher keeps its reservations ordered by this moment, so a tick looks only
    at those due instead of at every active reservation.
    """
    due: list[dt.datetime] = []
    if res.status in EXPIRING_STATUSES:
        due.append(res.expires_at)
    if (
        res.status is S.ASSIGNED
        and res.acknowledged_at is None
        and not res.ack_overdue
        and res.alerted_at is not None
    ):
        due.append(res.alerted_at + dt.timedelta(seconds=ack_timeout_s))
    if res.status is S.PENDING:
        end = service_end(res)
        if end is not None:
            # The rule's comparison is strict: a microsecond after the grace.
            due.append(end + dt.timedelta(seconds=SERVICE_END_GRACE_S, microseconds=1))
    return min(due, default=None)


class Timetable(Protocol):
    """The part of the network view that knows the scheduled departures."""

    def last_departure_s(
        self, route_id: str, direction_id: int, stop_id: str, day: dt.date
    ) -> int | None: ...


def service_day_end(
    timetable: Timetable,
    tz: dt.tzinfo,
    booked_at: dt.datetime,
    route_id: str,
    direction_id: int,
    stop_id: str,
) -> dt.datetime | None:
    """When the last bus of a booking's service day leaves its stop (None: no service).

    The service day is the previous day's while one of its trips (GTFS times past
    24:00:00 run into the next morning) still leaves the stop after the booking, else
    the booking's own day. GTFS times count from noon minus 12 hours of the service day.
    """
    local = booked_at.astimezone(tz)
    day = local.date()
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second
    yesterday = day - dt.timedelta(days=1)
    last = timetable.last_departure_s(route_id, direction_id, stop_id, yesterday)
    if last is not None and last >= since_midnight + 24 * 3600:
        service_day = yesterday
    else:
        service_day = day
        last = timetable.last_departure_s(route_id, direction_id, stop_id, day)
    if last is None:
        return None
    noon = dt.datetime.combine(service_day, dt.time(12), tz)
    return noon - dt.timedelta(hours=12) + dt.timedelta(seconds=last)


# -- a driver's tap ---------------------------------------------------------------------------
def cannot_stop_rule(
    reservation_id: uuid.UUID, vehicle_id: str | None, reason: str | None
) -> Action:
    """The driver of the assigned bus cannot stop: a miss with the driver's reason."""
    code = reason or "other"
    cause = f"driver cannot stop: {code}"
    return Action(ActionKind.MISSED, reservation_id, cause, vehicle_id, reason=code)
