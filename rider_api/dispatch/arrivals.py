"""The next bus of a route direction at a stop, for a rider choosing what to book. Pure: no I/O.

A bus of the fleet view that has not passed the stop gives a live ETA (the same maths the
dispatcher assigns with, ``fleet.eta_seconds``); without one, the timetable's next
departure from the stop is given, marked as scheduled, so the rider never mistakes a
timetable time for a bus on its way.
"""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

from rider_api.dispatch.fleet import VehicleState, choose_vehicle
from rider_api.network.view import NetworkView

__all__ = ["NextBus", "NextBusKind", "next_bus", "next_scheduled", "service_zone"]


class NextBusKind(enum.StrEnum):
    LIVE = "live"
    SCHEDULED = "scheduled"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class NextBus:
    """The next bus of one route direction at one stop."""

    kind: NextBusKind
    #: Seconds from now (live: the ETA; scheduled: until the departure).
    in_s: int | None = None
    #: The bus (live only).
    vehicle_id: str | None = None
    #: The timetable's departure, in the service's time zone (scheduled only).
    departs_at: dt.datetime | None = None


def service_zone(network: NetworkView) -> dt.tzinfo:
    """The agency's time zone (UTC if the feed names none we know)."""
    try:
        return zoneinfo.ZoneInfo(network.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def next_scheduled(
    network: NetworkView,
    route_id: str,
    direction_id: int,
    stop_id: str,
    now: dt.datetime,
    *,
    within: dt.timedelta = dt.timedelta(hours=24),
) -> dt.datetime | None:
    """The timetable's next departure from ``stop_id`` after ``now`` (None within ``within``).

    Trips that end at the stop are left out (nobody boards them there). Service days from
    yesterday's (GTFS times past 24:00:00 run into the next morning) to tomorrow's.
    """
    tz = service_zone(network)
    local = now.astimezone(tz)
    best: dt.datetime | None = None
    trip_ids = network.trips_by_direction.get((route_id, direction_id), ())
    for offset in (-1, 0, 1):
        day = local.date() + dt.timedelta(days=offset)
        services = network.services_on(day)
        if not services:
            continue
        # GTFS times count from noon minus 12 h of the service day (right across DST).
        origin = dt.datetime.combine(day, dt.time(12), tz) - dt.timedelta(hours=12)
        for trip_id in trip_ids:
            trip = network.trips[trip_id]
            if trip.service_id not in services:
                continue
            i = trip.index_of_stop(stop_id)
            if i is None or i == len(trip.stops) - 1:
                continue
            departs = origin + dt.timedelta(seconds=trip.stops[i].departure_s)
            if local <= departs <= local + within and (best is None or departs < best):
                best = departs
    return best.astimezone(tz) if best is not None else None


def next_bus(
    network: NetworkView,
    candidates: Sequence[VehicleState],
    route_id: str,
    direction_id: int,
    stop_id: str,
    now: dt.datetime,
) -> NextBus:
    """The nearest fresh bus that has not passed the stop, else the timetable's next one.

    ``candidates`` are the fresh vehicles on the route direction (``FleetView.fresh_on``).
    """
    live = choose_vehicle(network, candidates, stop_id, warning_s=0)
    if live is not None:
        vehicle, eta = live
        return NextBus(NextBusKind.LIVE, in_s=eta, vehicle_id=vehicle.vehicle_id)
    departs = next_scheduled(network, route_id, direction_id, stop_id, now)
    if departs is None:
        return NextBus(NextBusKind.NONE)
    in_s = max(0, int((departs - now).total_seconds()))
    return NextBus(NextBusKind.SCHEDULED, in_s=in_s, departs_at=departs)
