"""An in-memory, read-only view of the imported network for the hot paths.

Bookings, the dispatcher and the outbox need names, stop orders and schedules on every
change; reading them once (at start and after an import) keeps those paths free of
network queries. A city's network (thousands of stops, tens of thousands of stop
times) fits comfortably in memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import Localized
from rider_api.models import (
    Agency,
    CalendarDate,
    NetworkMeta,
    Route,
    RouteDirection,
    RouteStop,
    ServiceCalendar,
    Stop,
    StopTime,
    Trip,
)
from rider_api.network.geo import PointIndex
from rider_api.network.search import StopSearchIndex

__all__ = ["DirectionInfo", "NetworkView", "RouteInfo", "StopInfo", "TripInfo", "TripStop"]


@dataclass(frozen=True, slots=True)
class StopInfo:
    stop_id: str
    name: Localized
    tts: Localized | None
    lat: float
    lon: float

    @property
    def spoken(self) -> Localized:
        return self.tts or self.name


@dataclass(frozen=True, slots=True)
class RouteInfo:
    route_id: str
    short_name: str
    long_name: Localized
    tts: Localized | None
    short_name_en: str | None = None

    @property
    def display_name(self) -> Localized:
        """What riders see: the short name (307; 紅30 / Red 30) in both languages."""
        if not self.short_name:
            return self.long_name
        return Localized.model_validate(
            {"zh-TW": self.short_name, "en": self.short_name_en or self.short_name}
        )


@dataclass(frozen=True, slots=True)
class DirectionInfo:
    route_id: str
    direction_id: int
    headsign: Localized
    stop_ids: tuple[str, ...]
    positions: dict[str, int] = field(hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class TripStop:
    stop_sequence: int
    stop_id: str
    arrival_s: int
    departure_s: int
    dist: float | None


@dataclass(frozen=True, slots=True)
class TripInfo:
    trip_id: str
    route_id: str
    direction_id: int
    service_id: str
    stops: tuple[TripStop, ...]

    def index_of_sequence(self, stop_sequence: int) -> int | None:
        for i, stop in enumerate(self.stops):
            if stop.stop_sequence == stop_sequence:
                return i
        return None

    def index_of_stop(self, stop_id: str, start: int = 0) -> int | None:
        for i in range(start, len(self.stops)):
            if self.stops[i].stop_id == stop_id:
                return i
        return None


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class NetworkView:
    stops: dict[str, StopInfo] = field(default_factory=dict)
    routes: dict[str, RouteInfo] = field(default_factory=dict)
    directions: dict[tuple[str, int], DirectionInfo] = field(default_factory=dict)
    trips: dict[str, TripInfo] = field(default_factory=dict)
    timezone: str = "UTC"
    calendars: dict[str, ServiceCalendar] = field(default_factory=dict)
    calendar_dates: dict[str, dict[dt.date, int]] = field(default_factory=dict)
    #: (route_id, direction_id) -> trip_ids
    trips_by_direction: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    #: Identifies the import this view was read from (changes with every import).
    version: str = ""
    _stop_search: StopSearchIndex | None = field(default=None, repr=False, compare=False)
    _positions: PointIndex | None = field(default=None, repr=False, compare=False)

    @property
    def stop_search(self) -> StopSearchIndex:
        """The stops' names in every form a search compares (built once, at load)."""
        if self._stop_search is None:
            self.index_stops()
        assert self._stop_search is not None  # noqa: S101 - set just above
        return self._stop_search

    @property
    def positions(self) -> PointIndex:
        """The stops by position, for "near me" (built once, at load)."""
        if self._positions is None:
            self.index_stops()
        assert self._positions is not None  # noqa: S101 - set just above
        return self._positions

    def index_stops(self) -> None:
        """Build the stop search and position indexes from ``stops`` (CPU work: at load,
        not on a rider's request)."""
        stops = list(self.stops.values())
        self._stop_search = StopSearchIndex.build(
            (s.stop_id, s.name.zh_tw, s.name.en) for s in stops
        )
        self._positions = PointIndex.build((s.stop_id, s.lat, s.lon) for s in stops)

    def direction(self, route_id: str, direction_id: int) -> DirectionInfo | None:
        return self.directions.get((route_id, direction_id))

    def serves(self, route_id: str, direction_id: int, stop_id: str) -> bool:
        info = self.directions.get((route_id, direction_id))
        return info is not None and stop_id in info.positions

    def services_on(self, day: dt.date) -> set[str]:
        active = set()
        weekday = _WEEKDAYS[day.weekday()]
        for service_id, cal in self.calendars.items():
            if cal.start_date <= day <= cal.end_date and getattr(cal, weekday):
                active.add(service_id)
        for service_id, exceptions in self.calendar_dates.items():
            kind = exceptions.get(day)
            if kind == 1:
                active.add(service_id)
            elif kind == 2:
                active.discard(service_id)
        return active

    def last_departure_s(
        self, route_id: str, direction_id: int, stop_id: str, day: dt.date
    ) -> int | None:
        """Seconds after midnight of ``day`` of the last scheduled departure at the stop."""
        services = self.services_on(day)
        last: int | None = None
        for trip_id in self.trips_by_direction.get((route_id, direction_id), ()):
            trip = self.trips[trip_id]
            if trip.service_id not in services:
                continue
            i = trip.index_of_stop(stop_id)
            if i is not None and (last is None or trip.stops[i].departure_s > last):
                last = trip.stops[i].departure_s
        return last

    @staticmethod
    async def current_version(session: AsyncSession) -> str:
        """The version of the network now in the database (see ``version``)."""
        rows = (await session.exec(select(NetworkMeta))).all()
        return "|".join(f"{m.key}={m.value}" for m in sorted(rows, key=lambda m: m.key))

    @classmethod
    async def load(cls, session: AsyncSession) -> NetworkView:
        view = cls()
        view.version = await cls.current_version(session)
        agency = (await session.exec(select(Agency))).first()
        if agency is not None:
            view.timezone = agency.timezone
        for stop in (await session.exec(select(Stop))).all():
            tts = None
            if stop.tts_name_zh or stop.tts_name_en:
                tts = Localized.model_validate(
                    {
                        "zh-TW": stop.tts_name_zh or stop.name_zh,
                        "en": stop.tts_name_en or stop.name_en,
                    }
                )
            view.stops[stop.stop_id] = StopInfo(
                stop.stop_id,
                Localized.model_validate({"zh-TW": stop.name_zh, "en": stop.name_en}),
                tts,
                stop.lat,
                stop.lon,
            )
        for route in (await session.exec(select(Route))).all():
            rtts = None
            if route.tts_name_zh or route.tts_name_en:
                rtts = Localized.model_validate(
                    {
                        "zh-TW": route.tts_name_zh or route.short_name,
                        "en": route.tts_name_en or route.short_name,
                    }
                )
            view.routes[route.route_id] = RouteInfo(
                route.route_id,
                route.short_name,
                Localized.model_validate({"zh-TW": route.long_name_zh, "en": route.long_name_en}),
                rtts,
                route.short_name_en,
            )
        ordered: dict[tuple[str, int], list[tuple[int, str]]] = defaultdict(list)
        for rs in (await session.exec(select(RouteStop))).all():
            ordered[(rs.route_id, rs.direction_id)].append((rs.position, rs.stop_id))
        for rd in (await session.exec(select(RouteDirection))).all():
            key = (rd.route_id, rd.direction_id)
            stop_ids = tuple(s for _p, s in sorted(ordered.get(key, [])))
            view.directions[key] = DirectionInfo(
                rd.route_id,
                rd.direction_id,
                Localized.model_validate({"zh-TW": rd.headsign_zh, "en": rd.headsign_en}),
                stop_ids,
                {s: i for i, s in reversed(list(enumerate(stop_ids)))},
            )
        stop_times: dict[str, list[TripStop]] = defaultdict(list)
        # Plain rows, not ORM objects: a city has millions of stop times.
        connection = await session.connection()
        rows = await connection.execute(
            sa_select(
                col(StopTime.trip_id),
                col(StopTime.stop_sequence),
                col(StopTime.stop_id),
                col(StopTime.arrival_s),
                col(StopTime.departure_s),
                col(StopTime.shape_dist_traveled),
            )
        )
        for trip_id, sequence, stop_id, arrival_s, departure_s, dist in rows:
            stop_times[trip_id].append(TripStop(sequence, stop_id, arrival_s, departure_s, dist))
        for trip in (await session.exec(select(Trip))).all():
            stops = tuple(sorted(stop_times.get(trip.trip_id, []), key=lambda s: s.stop_sequence))
            view.trips[trip.trip_id] = TripInfo(
                trip.trip_id, trip.route_id, trip.direction_id, trip.service_id, stops
            )
            view.trips_by_direction.setdefault((trip.route_id, trip.direction_id), []).append(
                trip.trip_id
            )
        for cal in (await session.exec(select(ServiceCalendar))).all():
            view.calendars[cal.service_id] = cal
        for cd in (await session.exec(select(CalendarDate))).all():
            view.calendar_dates.setdefault(cd.service_id, {})[cd.service_date] = cd.exception_type
        # Thousands of stops take a moment to index: not on the event loop.
        await asyncio.to_thread(view.index_stops)
        return view
