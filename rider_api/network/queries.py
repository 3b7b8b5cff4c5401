"""Read the imported network: find stops by name or position (from the network view in
memory), a stop's routes and departures, routes and their ordered stops (async
functions over an sqlmodel AsyncSession)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from rider_api.models import (
    Agency,
    CalendarDate,
    Route,
    RouteDirection,
    RouteStop,
    ServiceCalendar,
    Stop,
    StopTime,
    Trip,
)
from rider_api.network.geo import Walk, walk_to
from rider_api.network.search import Match, query_terms
from rider_api.network.view import NetworkView, StopInfo

__all__ = [
    "NEAR_RADIUS_M",
    "NEAR_WIDER_M",
    "Departure",
    "DirectionStops",
    "FoundStop",
    "Nearby",
    "RouteDetail",
    "RouteSummary",
    "ServingRoute",
    "StopDetail",
    "StopHit",
    "find_stops",
    "get_route_detail",
    "get_stop_detail",
    "list_routes",
    "next_departures",
    "stops_near",
]

#: Near me: stops within a short walk; once wider if there is none.
NEAR_RADIUS_M = 800.0
NEAR_WIDER_M = 2000.0
#: Name matches considered for ranking by distance (a one-letter query matches many).
_MAX_NAME_MATCHES = 2000
#: With a position, matches of one group come nearest first; groups keep their order.
_MATCH_GROUP = {
    Match.EXACT: 0,
    Match.PREFIX: 0,
    Match.WORDS: 0,
    Match.SOUND: 1,
    Match.FUZZY: 2,
    None: 0,
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class StopHit:
    """A stop row with its distance (``schemas.StopPublic.of_hit`` reads it)."""

    stop: Stop
    distance_m: float | None = None


@dataclass(frozen=True, slots=True)
class FoundStop:
    """A stop found by name or position: how it matched a query (None: no query), and
    the walk to it from the rider (None: no position given)."""

    stop: StopInfo
    walk: Walk | None = None
    match: Match | None = None

    @property
    def distance_m(self) -> float | None:
        return None if self.walk is None else self.walk.distance_m


@dataclass(frozen=True, slots=True)
class Nearby:
    """The stops near a rider and the radius they were looked for in."""

    stops: list[FoundStop]
    radius_m: float
    widened: bool


@dataclass(frozen=True, slots=True)
class ServingRoute:
    """A route and direction that stops here; ``position`` is 0-based along the direction."""

    route: Route
    direction: RouteDirection
    position: int
    is_last_stop: bool


@dataclass(frozen=True, slots=True)
class Departure:
    """A scheduled departure from the timetable (not a live vehicle)."""

    route: Route
    trip_id: str
    direction_id: int
    headsign_zh: str
    headsign_en: str
    departs_at: dt.datetime
    in_s: int


@dataclass(frozen=True, slots=True)
class StopDetail:
    stop: Stop
    routes: list[ServingRoute]


@dataclass(frozen=True, slots=True)
class RouteSummary:
    route: Route
    directions: list[RouteDirection]


@dataclass(frozen=True, slots=True)
class DirectionStops:
    direction: RouteDirection
    stops: list[Stop]


@dataclass(frozen=True, slots=True)
class RouteDetail:
    route: Route
    directions: list[DirectionStops]


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort "2" before "10" and "262" before "紅30"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


def find_stops(
    network: NetworkView,
    *,
    query: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    heading: float | None = None,
    radius_m: float | None = None,
    limit: int = 20,
) -> list[FoundStop]:
    """Stops by name, by position, or both, from the network in memory.

    A query alone: the forgiving search, best match first (see ``search``). With
    ``lat``/``lon`` too: the same matches, the good ones (exact, prefix, every word)
    nearest first, then those that only sound alike, then near spellings. A position
    alone: the nearest stops (within ``radius_m`` when given). Neither: stops in id order.
    Every stop found from a position carries its walk (distance, bearing, compass point,
    clock hour when ``heading`` is given).
    """
    located = lat is not None and lon is not None
    if query and query_terms(query):
        hits = network.stop_search.search(query, limit=limit if not located else _MAX_NAME_MATCHES)
        found = [
            _found(network, hit.stop_id, lat, lon, heading, hit.match)
            for hit in hits
            if hit.stop_id in network.stops
        ]
        if located:
            found.sort(key=lambda f: (_MATCH_GROUP[f.match], _distance(f), f.stop.stop_id))
        return found[:limit]
    if lat is not None and lon is not None:
        positions = network.positions
        near = (
            positions.within(lat, lon, radius_m)[:limit]
            if radius_m is not None
            else positions.nearest(lat, lon, limit)
        )
        return [_found(network, stop_id, lat, lon, heading, None) for _d, stop_id in near]
    return [
        _found(network, stop_id, None, None, None, None)
        for stop_id in sorted(network.stops)[:limit]
    ]


def stops_near(
    network: NetworkView,
    *,
    lat: float,
    lon: float,
    heading: float | None = None,
    radius_m: float = NEAR_RADIUS_M,
    wider_m: float = NEAR_WIDER_M,
    limit: int = 10,
) -> Nearby:
    """The stops within a walk of the rider, nearest first; if none is within
    ``radius_m``, those within ``wider_m`` (once), and ``widened`` says so."""
    found = find_stops(network, lat=lat, lon=lon, heading=heading, radius_m=radius_m, limit=limit)
    if found:
        return Nearby(found, radius_m, widened=False)
    found = find_stops(network, lat=lat, lon=lon, heading=heading, radius_m=wider_m, limit=limit)
    return Nearby(found, wider_m, widened=True)


def _found(
    network: NetworkView,
    stop_id: str,
    lat: float | None,
    lon: float | None,
    heading: float | None,
    match: Match | None,
) -> FoundStop:
    stop = network.stops[stop_id]
    walk = None
    if lat is not None and lon is not None:
        walk = walk_to(lat, lon, stop.lat, stop.lon, heading=heading)
    return FoundStop(stop, walk, match)


def _distance(found: FoundStop) -> float:
    return found.walk.distance_m if found.walk is not None else 0.0


async def get_stop_detail(session: AsyncSession, stop_id: str) -> StopDetail | None:
    """The stop and every route and direction that serves it (None: no such stop)."""
    stop = await session.get(Stop, stop_id)
    if stop is None:
        return None
    last = (
        select(
            col(RouteStop.route_id),
            col(RouteStop.direction_id),
            func.max(RouteStop.position).label("last_position"),
        )
        .group_by(col(RouteStop.route_id), col(RouteStop.direction_id))
        .subquery()
    )
    statement = (
        select(RouteStop, Route, RouteDirection, last.c.last_position)
        .join(Route, col(Route.route_id) == col(RouteStop.route_id))
        .join(
            RouteDirection,
            and_(
                col(RouteDirection.route_id) == col(RouteStop.route_id),
                col(RouteDirection.direction_id) == col(RouteStop.direction_id),
            ),
        )
        .join(
            last,
            and_(
                last.c.route_id == col(RouteStop.route_id),
                last.c.direction_id == col(RouteStop.direction_id),
            ),
        )
        .where(col(RouteStop.stop_id) == stop_id)
        .order_by(col(RouteStop.position))
    )
    serving: dict[tuple[str, int], ServingRoute] = {}
    for route_stop, route, direction, last_position in (await session.exec(statement)).all():
        key = (route.route_id, direction.direction_id)
        # A loop may pass a stop twice: riders board at its first visit.
        if key not in serving:
            serving[key] = ServingRoute(
                route, direction, route_stop.position, route_stop.position == last_position
            )
    routes = sorted(
        serving.values(), key=lambda s: (natural_key(s.route.short_name), s.direction.direction_id)
    )
    return StopDetail(stop, routes)


async def list_routes(session: AsyncSession) -> list[RouteSummary]:
    """Every route with its directions, in natural order of the short names."""
    routes = (await session.exec(select(Route))).all()
    directions: dict[str, list[RouteDirection]] = defaultdict(list)
    statement = select(RouteDirection).order_by(col(RouteDirection.direction_id))
    for direction in (await session.exec(statement)).all():
        directions[direction.route_id].append(direction)
    ordered = sorted(routes, key=lambda r: (natural_key(r.short_name), r.route_id))
    return [RouteSummary(route, directions.get(route.route_id, [])) for route in ordered]


async def get_route_detail(session: AsyncSession, route_id: str) -> RouteDetail | None:
    """The route with the ordered stops of each direction (None: no such route)."""
    route = await session.get(Route, route_id)
    if route is None:
        return None
    directions = (
        await session.exec(
            select(RouteDirection)
            .where(col(RouteDirection.route_id) == route_id)
            .order_by(col(RouteDirection.direction_id))
        )
    ).all()
    stops: dict[int, list[Stop]] = defaultdict(list)
    statement = (
        select(RouteStop.direction_id, Stop)
        .join(Stop, col(Stop.stop_id) == col(RouteStop.stop_id))
        .where(col(RouteStop.route_id) == route_id)
        .order_by(col(RouteStop.direction_id), col(RouteStop.position))
    )
    for direction_id, stop in (await session.exec(statement)).all():
        stops[direction_id].append(stop)
    return RouteDetail(
        route, [DirectionStops(d, stops.get(d.direction_id, [])) for d in directions]
    )


async def next_departures(
    session: AsyncSession,
    *,
    stop_id: str,
    now: dt.datetime,
    limit: int = 10,
    within_s: int = 3 * 3600,
) -> list[Departure]:
    """The timetable's next departures from a stop (trips ending there are left out)."""
    agency_tz = (await session.exec(select(Agency.timezone).limit(1))).first()
    tz = zoneinfo.ZoneInfo(agency_tz or "UTC")
    local = now.astimezone(tz)
    departures: list[Departure] = []
    last_stop = (
        select(col(StopTime.trip_id), func.max(StopTime.stop_sequence).label("last_sequence"))
        .group_by(col(StopTime.trip_id))
        .subquery()
    )
    # A trip of yesterday's service day may still run after midnight (times past 24:00).
    for day in (local.date() - dt.timedelta(days=1), local.date()):
        services = await _services_on(session, day)
        if not services:
            continue
        # GTFS times count from noon minus 12 h of the service day (right across DST).
        origin = dt.datetime.combine(day, dt.time(12), tz) - dt.timedelta(hours=12)
        after_s = int((local - origin).total_seconds())
        statement = (
            select(StopTime.departure_s, Trip, Route)
            .join(Trip, col(Trip.trip_id) == col(StopTime.trip_id))
            .join(Route, col(Route.route_id) == col(Trip.route_id))
            .join(last_stop, last_stop.c.trip_id == col(StopTime.trip_id))
            .where(
                col(StopTime.stop_id) == stop_id,
                col(StopTime.stop_sequence) < last_stop.c.last_sequence,
                col(Trip.service_id).in_(services),
                col(StopTime.departure_s).between(after_s, after_s + within_s),
            )
            .order_by(col(StopTime.departure_s))
            .limit(limit)
        )
        for departure_s, trip, route in (await session.exec(statement)).all():
            departs_at = origin + dt.timedelta(seconds=departure_s)
            departures.append(
                Departure(
                    route,
                    trip.trip_id,
                    trip.direction_id,
                    trip.headsign_zh,
                    trip.headsign_en,
                    departs_at.astimezone(tz),
                    int((departs_at - local).total_seconds()),
                )
            )
    departures.sort(key=lambda d: (d.departs_at, d.trip_id))
    return departures[:limit]


async def _services_on(session: AsyncSession, day: dt.date) -> list[str]:
    weekday = getattr(ServiceCalendar, _WEEKDAYS[day.weekday()])
    active = set(
        (
            await session.exec(
                select(ServiceCalendar.service_id).where(
                    col(ServiceCalendar.start_date) <= day,
                    col(ServiceCalendar.end_date) >= day,
                    weekday == True,  # noqa: E712 - a SQL comparison
                )
            )
        ).all()
    )
    exceptions = (
        await session.exec(
            select(CalendarDate.service_id, CalendarDate.exception_type).where(
                col(CalendarDate.service_date) == day
            )
        )
    ).all()
    for service_id, kind in exceptions:
        if kind == 1:
            active.add(service_id)
        else:
            active.discard(service_id)
    return sorted(active)
