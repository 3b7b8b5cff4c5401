"""Turn the files of a GTFS feed into rows of the network tables, validating everything.

Every problem is collected with its file, line and field; if there is any, FeedError is
raised and nothing is returned, so the caller never writes part of a feed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import SQLModel

from rider_api.models import (
    Agency,
    CalendarDate,
    NetworkMeta,
    Route,
    RouteDirection,
    RouteStop,
    ServiceCalendar,
    ShapePoint,
    Stop,
    StopTime,
    Trip,
)
from rider_api.network.errors import FeedError, FeedProblem
from rider_api.network.feed import FeedFiles, Row, Table
from rider_api.network.fields import (
    FieldError,
    Problems,
    gtfs_date,
    gtfs_id,
    gtfs_time,
    integer,
    number,
    optional_integer,
    optional_number,
    required,
)
from rider_api.network.patterns import StopTimeIn, derive_patterns, fill_times
from rider_api.network.search import search_key
from rider_api.network.translations import Translations

__all__ = ["GtfsNetwork", "read_network"]

DEFAULT_AGENCY_ID = "agency"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "stops.txt": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
    "calendar.txt": ("service_id", *_WEEKDAYS, "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "shapes.txt": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
    "feed_info.txt": ("feed_publisher_name", "feed_publisher_url", "feed_lang"),
}


@dataclass
class GtfsNetwork:
    """Validated rows per table, ready to be inserted."""

    source: str
    feed_lang: str | None
    rows: dict[type[SQLModel], list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def read_network(files: FeedFiles, *, source: str) -> GtfsNetwork:
    """Validate the feed's files and build the rows; raises FeedError on any problem."""
    missing = [name for name in _REQUIRED_FILES if not files.has(name)]
    if not files.has("calendar.txt") and not files.has("calendar_dates.txt"):
        missing.append("calendar.txt or calendar_dates.txt")
    if missing:
        raise FeedError(
            [FeedProblem(name, None, None, "required file is missing") for name in missing]
        )
    return _Reader(files, source).run()


def _optional(files: FeedFiles, name: str) -> Table | None:
    if not files.has(name):
        return None
    if name == "translations.txt":
        return files.read(name)
    return files.read(name, _COLUMNS[name])


class _Reader:
    def __init__(self, files: FeedFiles, source: str) -> None:
        self.files = files
        self.source = source
        self.problems = Problems()
        self.tr = Translations()
        self.feed_lang: str | None = None
        self.meta: dict[str, str] = {"source": source}
        self.stop_names: dict[str, tuple[str, str]] = {}
        # Ids of every row, even rows with a bad field: a reference to such a row is not
        # reported again as unknown.
        self.stop_ids: set[str] = set()
        self.route_ids: set[str] = set()
        self.trip_ids: set[str] = set()

    def each(self, table: Table, parse: Callable[[int, Row], None]) -> None:
        """Call ``parse`` on every row, turning a FieldError into a problem at its line."""
        for line, row in table.rows:
            try:
                parse(line, row)
            except FieldError as exc:
                self.problems.add(table.file, line, exc.field, exc.message)

    def unique(
        self, table: Table, seen: set[Any] | dict[Any, Any], key: Any, line: int, name: str
    ) -> bool:
        """False (and a problem) if ``key`` was seen; a set remembers it, a dict is the
        caller's output, filled by the caller."""
        if key in seen:
            self.problems.add(table.file, line, name, f"duplicate {name} {key!r}")
            return False
        if isinstance(seen, set):
            seen.add(key)
        return True

    def run(self) -> GtfsNetwork:
        read = self.files.read
        # Structural problems (missing columns) stop the import at once.
        tables = {name: read(name, _COLUMNS[name]) for name in _REQUIRED_FILES}
        feed_info = _optional(self.files, "feed_info.txt")
        self.tr = Translations.from_table(_optional(self.files, "translations.txt"))
        calendar = _optional(self.files, "calendar.txt")
        calendar_dates = _optional(self.files, "calendar_dates.txt")
        shapes = _optional(self.files, "shapes.txt")

        if feed_info is not None:
            self.read_feed_info(feed_info)
        agencies = self.read_agencies(tables["agency.txt"])
        stops = self.read_stops(tables["stops.txt"])
        routes = self.read_routes(tables["routes.txt"], agencies)
        services, cal_rows, date_rows = self.read_calendars(calendar, calendar_dates)
        shape_rows = self.read_shapes(shapes) if shapes is not None else []
        shape_ids = {r["shape_id"] for r in shape_rows} if shapes is not None else None
        trips = self.read_trips(tables["trips.txt"], services, shape_ids)
        by_trip = self.read_stop_times(tables["stop_times.txt"])
        self.problems.raise_if_any()

        stop_time_rows = fill_times(tables["stop_times.txt"].file, by_trip, self.problems)
        self.problems.raise_if_any()
        directions, route_stops = derive_patterns(trips, by_trip, self.stop_names)

        rows: dict[type[SQLModel], list[dict[str, Any]]] = {
            Agency: list(agencies.values()),
            Stop: list(stops.values()),
            Route: list(routes.values()),
            RouteDirection: directions,
            RouteStop: route_stops,
            ServiceCalendar: cal_rows,
            CalendarDate: date_rows,
            ShapePoint: shape_rows,
            Trip: list(trips.values()),
            StopTime: stop_time_rows,
        }
        counts = {
            "agencies": len(agencies),
            "stops": len(stops),
            "routes": len(routes),
            "trips": len(trips),
            "stop_times": len(stop_time_rows),
            "shape_points": len(shape_rows),
            "calendars": len(cal_rows),
            "calendar_dates": len(date_rows),
            "route_directions": len(directions),
            "route_stops": len(route_stops),
            "translations": self.tr.used_rows,
        }
        first_agency = next(iter(agencies.values()), None)
        if first_agency is not None:
            self.meta["timezone"] = first_agency["timezone"]
        self.meta["feed_lang"] = self.feed_lang or ""
        self.meta["imported_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.meta.update({f"count.{name}": str(n) for name, n in counts.items()})
        rows[NetworkMeta] = [{"key": k, "value": v} for k, v in self.meta.items()]
        return GtfsNetwork(self.source, self.feed_lang, rows, counts)

    def read_feed_info(self, table: Table) -> None:
        for _line, row in table.rows[:1]:
            self.feed_lang = row.get("feed_lang") or None
            for name in ("feed_publisher_name", "feed_version", "feed_start_date", "feed_end_date"):
                if row.get(name):
                    self.meta[name] = row[name]

    def read_agencies(self, table: Table) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}

        def parse(line: int, row: Row) -> None:
            agency_id = row.get("agency_id", "")
            if not agency_id:
                if len(table.rows) > 1:
                    raise FieldError("agency_id", "required when the feed has several agencies")
                agency_id = DEFAULT_AGENCY_ID
            tz = required(row, "agency_timezone")
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise FieldError("agency_timezone", f"unknown time zone {tz!r}") from None
            if self.unique(table, out, agency_id, line, "agency_id"):
                out[agency_id] = {
                    "agency_id": agency_id,
                    "name": required(row, "agency_name"),
                    "url": row.get("agency_url", ""),
                    "timezone": tz,
                    "lang": row.get("agency_lang") or None,
                }

        self.each(table, parse)
        if self.feed_lang is None and out:
            self.feed_lang = next(iter(out.values()))["lang"]
        return out

    def read_stops(self, table: Table) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        parents: list[tuple[int, str]] = []

        def parse(line: int, row: Row) -> None:
            stop_id = gtfs_id(row, "stop_id")
            self.stop_ids.add(stop_id)
            location_type = integer(row, "location_type", allowed=range(5), default=0)
            if location_type >= 3 and not row.get("stop_lat"):
                return  # generic nodes and boarding areas without a place: not bookable
            name = required(row, "stop_name")
            lat = number(row, "stop_lat", low=-90, high=90)
            lon = number(row, "stop_lon", low=-180, high=180)
            wheelchair = optional_integer(row, "wheelchair_boarding", allowed=range(3))
            zh, en = self.tr.both("stops", "stop_name", stop_id, name)
            tts = row.get("tts_stop_name", "")
            tts_zh = self.tr.get("stops", "tts_stop_name", "zh", stop_id, tts) or None
            tts_en = self.tr.get("stops", "tts_stop_name", "en", stop_id, tts) or None
            # An untranslated name is spoken like the feed's own name.
            if tts and tts_zh is None and zh == name:
                tts_zh = tts
            if tts and tts_en is None and en == name:
                tts_en = tts
            parent = row.get("parent_station") or None
            if parent:
                parents.append((line, parent))
            if self.unique(table, out, stop_id, line, "stop_id"):
                out[stop_id] = {
                    "stop_id": stop_id,
                    "name_zh": zh,
                    "name_en": en,
                    "tts_name_zh": tts_zh,
                    "tts_name_en": tts_en,
                    "lat": lat,
                    "lon": lon,
                    "search_key": search_key(zh, en),
                    "parent_station": parent,
                    "wheelchair_boarding": wheelchair,
                }
                self.stop_names[stop_id] = (zh, en)

        self.each(table, parse)
        for line, parent in parents:
            if parent not in self.stop_ids:
                self.problems.add(
                    table.file,
                    line,
                    "parent_station",
                    f"unknown stop {parent!r} (not in stops.txt)",
                )
        return out

    def read_routes(
        self, table: Table, agencies: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}

        def parse(line: int, row: Row) -> None:
            route_id = gtfs_id(row, "route_id")
            self.route_ids.add(route_id)
            agency_id = row.get("agency_id", "")
            if not agency_id and len(agencies) == 1:
                agency_id = next(iter(agencies))
            elif agency_id not in agencies:
                raise FieldError("agency_id", f"unknown agency {agency_id!r} (not in agency.txt)")
            short, long = row.get("route_short_name", ""), row.get("route_long_name", "")
            if not short and not long:
                raise FieldError(
                    "route_short_name", "route_short_name or route_long_name is required"
                )
            short_en = (
                self.tr.both("routes", "route_short_name", route_id, short)[1] if short else ""
            )
            if long:
                long_zh, long_en = self.tr.both("routes", "route_long_name", route_id, long)
            else:
                long_zh, long_en = self.tr.both("routes", "route_short_name", route_id, short)
            route_type = integer(row, "route_type")
            colors = {}
            for name in ("route_color", "route_text_color"):
                value = row.get(name, "")
                if value and (
                    len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value)
                ):
                    raise FieldError(name, f"{value!r} is not a colour (6 hex digits)")
                colors[name] = value.upper() or None
            if self.unique(table, out, route_id, line, "route_id"):
                out[route_id] = {
                    "route_id": route_id,
                    "agency_id": agency_id or None,
                    "short_name": short or long,
                    "short_name_en": short_en if short_en and short_en != short else None,
                    "long_name_zh": long_zh,
                    "long_name_en": long_en,
                    "route_type": route_type,
                    "color": colors["route_color"],
                    "text_color": colors["route_text_color"],
                }

        self.each(table, parse)
        return out

    def read_calendars(
        self, calendar: Table | None, calendar_dates: Table | None
    ) -> tuple[set[str], list[dict[str, Any]], list[dict[str, Any]]]:
        services: set[str] = set()
        cal_rows: list[dict[str, Any]] = []
        date_rows: list[dict[str, Any]] = []
        if calendar is not None:
            cal = calendar

            def parse_cal(line: int, row: Row) -> None:
                service_id = required(row, "service_id")
                days = {day: bool(integer(row, day, allowed=(0, 1))) for day in _WEEKDAYS}
                start, end = gtfs_date(row, "start_date"), gtfs_date(row, "end_date")
                if end < start:
                    raise FieldError("end_date", "ends before start_date")
                if self.unique(cal, services, service_id, line, "service_id"):
                    cal_rows.append(
                        {"service_id": service_id, **days, "start_date": start, "end_date": end}
                    )

            self.each(cal, parse_cal)
        if calendar_dates is not None:
            dates = calendar_dates
            seen: set[tuple[str, dt.date]] = set()

            def parse_date(line: int, row: Row) -> None:
                service_id = required(row, "service_id")
                day = gtfs_date(row, "date")
                kind = integer(row, "exception_type", allowed=(1, 2))
                if self.unique(dates, seen, (service_id, day), line, "date"):
                    date_rows.append(
                        {"service_id": service_id, "service_date": day, "exception_type": kind}
                    )

            self.each(dates, parse_date)
            services.update(service_id for service_id, _day in seen)
        return services, cal_rows, date_rows

    def read_shapes(self, table: Table) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, int]] = set()

        def parse(line: int, row: Row) -> None:
            shape_id = required(row, "shape_id")
            sequence = integer(row, "shape_pt_sequence")
            lat = number(row, "shape_pt_lat", low=-90, high=90)
            lon = number(row, "shape_pt_lon", low=-180, high=180)
            dist = optional_number(row, "shape_dist_traveled", low=0)
            if self.unique(table, seen, (shape_id, sequence), line, "shape_pt_sequence"):
                out.append(
                    {
                        "shape_id": shape_id,
                        "sequence": sequence,
                        "lat": lat,
                        "lon": lon,
                        "dist_traveled": dist,
                    }
                )

        self.each(table, parse)
        return out

    def read_trips(
        self,
        table: Table,
        services: set[str],
        shape_ids: set[str] | None,
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}

        def parse(line: int, row: Row) -> None:
            trip_id = gtfs_id(row, "trip_id")
            self.trip_ids.add(trip_id)
            route_id = gtfs_id(row, "route_id")
            if route_id not in self.route_ids:
                raise FieldError("route_id", f"unknown route {route_id!r} (not in routes.txt)")
            service_id = required(row, "service_id")
            if service_id not in services:
                raise FieldError(
                    "service_id",
                    f"unknown service {service_id!r} (not in calendar.txt or calendar_dates.txt)",
                )
            direction_id = integer(row, "direction_id", allowed=(0, 1), default=0)
            shape_id = row.get("shape_id") or None
            if shape_id is not None and shape_ids is not None and shape_id not in shape_ids:
                raise FieldError("shape_id", f"unknown shape {shape_id!r} (not in shapes.txt)")
            headsign = row.get("trip_headsign", "")
            zh, en = (
                self.tr.both("trips", "trip_headsign", trip_id, headsign) if headsign else ("", "")
            )
            if self.unique(table, out, trip_id, line, "trip_id"):
                out[trip_id] = {
                    "trip_id": trip_id,
                    "route_id": route_id,
                    "service_id": service_id,
                    "direction_id": direction_id,
                    "headsign_zh": zh,
                    "headsign_en": en,
                    "shape_id": shape_id if shape_ids is not None else None,
                }

        self.each(table, parse)
        return out

    def read_stop_times(self, table: Table) -> dict[str, list[StopTimeIn]]:
        by_trip: dict[str, list[StopTimeIn]] = defaultdict(list)
        seen: set[tuple[str, int]] = set()

        def parse(line: int, row: Row) -> None:
            trip_id = gtfs_id(row, "trip_id")
            if trip_id not in self.trip_ids:
                raise FieldError("trip_id", f"unknown trip {trip_id!r} (not in trips.txt)")
            stop_id = gtfs_id(row, "stop_id")
            if stop_id not in self.stop_ids:
                raise FieldError("stop_id", f"unknown stop {stop_id!r} (not in stops.txt)")
            sequence = integer(row, "stop_sequence")
            arrival = gtfs_time(row, "arrival_time")
            departure = gtfs_time(row, "departure_time")
            dist = optional_number(row, "shape_dist_traveled", low=0)
            if self.unique(table, seen, (trip_id, sequence), line, "stop_sequence"):
                by_trip[trip_id].append(
                    StopTimeIn(line, sequence, stop_id, arrival, departure, dist)
                )

        self.each(table, parse)
        return by_trip
