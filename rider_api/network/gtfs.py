"""Turn the files of a GTFS feed into rows of the network tables, validating everything.

Every problem is collected with its file, line and field; if there is any, FeedError is
raised and nothing is returned, so the caller never writes part of a feed. Agencies,
stops and routes are read here; the timetable files in :mod:`rider_api.network.timetable`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
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
    gtfs_id,
    integer,
    number,
    optional_integer,
    required,
)
from rider_api.network.patterns import derive_patterns, fill_times
from rider_api.network.rows import RowValidator
from rider_api.network.search import search_key
from rider_api.network.timetable import WEEKDAYS, TimetableReader
from rider_api.network.translations import Translations

__all__ = ["GtfsNetwork", "read_network"]

DEFAULT_AGENCY_ID = "agency"
_REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "stops.txt": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
    "calendar.txt": ("service_id", *WEEKDAYS, "start_date", "end_date"),
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
        self.rows = RowValidator(self.problems)
        self.tr = Translations()
        self.feed_lang: str | None = None
        self.meta: dict[str, str] = {"source": source}
        self.stop_names: dict[str, tuple[str, str]] = {}
        # Ids of every row, even rows with a bad field: a reference to such a row is not
        # reported again as unknown.
        self.stop_ids: set[str] = set()
        self.route_ids: set[str] = set()

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
        timetable = TimetableReader(
            self.rows, self.tr, route_ids=self.route_ids, stop_ids=self.stop_ids
        )
        services, cal_rows, date_rows = timetable.read_calendars(calendar, calendar_dates)
        shape_rows = timetable.read_shapes(shapes) if shapes is not None else []
        shape_ids = {r["shape_id"] for r in shape_rows} if shapes is not None else None
        trips = timetable.read_trips(tables["trips.txt"], services, shape_ids)
        by_trip = timetable.read_stop_times(tables["stop_times.txt"])
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
            if self.rows.unique(table, out, agency_id, line, "agency_id"):
                out[agency_id] = {
                    "agency_id": agency_id,
                    "name": required(row, "agency_name"),
                    "url": row.get("agency_url", ""),
                    "timezone": tz,
                    "lang": row.get("agency_lang") or None,
                }

        self.rows.each(table, parse)
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
            if self.rows.unique(table, out, stop_id, line, "stop_id"):
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

        self.rows.each(table, parse)
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
            if self.rows.unique(table, out, route_id, line, "route_id"):
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

        self.rows.each(table, parse)
        return out
