"""Read the imported network: find stops, a stop's routes and departures, routes and
their ordered stops. Async functions over an sqlmodel AsyncSession."""

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
from rider_api.network.geo import EARTH_RADIUS_M, bounding_box, haversine_m
from rider_api.network.search import query_terms

__all__ = [
    "Departure",
    "DirectionStops",
    "RouteDetail",
    "RouteSummary",
    "ServingRoute",
    "StopDetail",
    "StopHit",
    "get_route_detail",
    "get_stop_detail",
    "list_routes",
    "nearest_stops",
    "next_departures",
    "search_stops",
]

#: The first search radius; it grows fourfold until enough stops are found.
_FIRST_RADIUS_M = 400.0
#: Name matches considered for ranking (a one-letter query in a big city matches many).
_MAX_NAME_MATCHES = 2000
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class StopHit:
    stop: Stop
    distance_m: float | None = None


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


async def search_stops(
    session: AsyncSession,
    *,
    query: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    limit: int = 20,
) -> list[StopHit]:
    """Stops whose name (either language, 台 and 臺 alike) contains every word of ``query``.

    With ``lat``/``lon`` the matches come nearest first with their distance; without,
    exact names first, then names that start with the query, then the rest. With no
    query: the nearest stops, or the stops in id order when there is no position either.
    """
    terms = query_terms(query or "")
    if not terms:
        if lat is not None and lon is not None:
            return await nearest_stops(session, lat=lat, lon=lon, limit=limit)
        stops = (await session.exec(select(Stop).order_by(col(Stop.stop_id)).limit(limit))).all()
        return [StopHit(stop) for stop in stops]
    statement = (
        select(Stop)
        .where(and_(*(col(Stop.search_key).contains(term, autoescape=True) for term in terms)))
        .limit(_MAX_NAME_MATCHES)
    )
    stops = (await session.exec(statement)).all()
    if lat is not None and lon is not None:
        hits = [StopHit(s, haversine_m(lat, lon, s.lat, s.lon)) for s in stops]
        hits.sort(key=lambda h: (h.distance_m, h.stop.stop_id))
        return hits[:limit]
    wanted = " ".join(terms)

    def rank(stop: Stop) -> tuple[int, int, str]:
        names = stop.search_key.split("\n")
        if wanted in names:
            return (0, len(stop.name_zh), stop.stop_id)
        if any(name.startswith(wanted) for name in names):
            return (1, len(stop.name_zh), stop.stop_id)
        return (2, len(stop.name_zh), stop.stop_id)

    return [StopHit(stop) for stop in sorted(stops, key=rank)[:limit]]


async def nearest_stops(
    session: AsyncSession, *, lat: float, lon: float, limit: int = 20
) -> list[StopHit]:
    """The ``limit`` stops nearest to a point, nearest first, with their distance."""
    radius = _FIRST_RADIUS_M
    while True:
        box = bounding_box(lat, lon, radius)
        statement = select(Stop).where(col(Stop.lat).between(box.min_lat, box.max_lat))
        if box.min_lon is not None and box.max_lon is not None:
            statement = statement.where(col(Stop.lon).between(box.min_lon, box.max_lon))
        hits = [
            StopHit(s, haversine_m(lat, lon, s.lat, s.lon))
            for s in (await session.exec(statement)).all()
        ]
        whole_earth = radius >= EARTH_RADIUS_M * 3.15
        # Only stops inside the circle are sure to be nearer than any stop outside the box.
        inside = [h for h in hits if whole_earth or (h.distance_m or 0.0) <= radius]
        if len(inside) >= limit or whole_earth:
            inside.sort(key=lambda h: (h.distance_m, h.stop.stop_id))
            return inside[:limit]
        radius *= 4


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
