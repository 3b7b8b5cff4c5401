"""Turn the files of a GTFS feed into rows of the network tables, validating everything.

Every problem is collected with its file, line and field; if there is any, FeedError is
raised at the end, and the caller drops whatever the sink was given (the importer rolls
its transaction back), so a feed is never written in part. Agencies, stops and routes are
read here; the timetable files in :mod:`rider_api.network.timetable` and
:mod:`rider_api.network.stop_times`.
"""

from __future__ import annotations

import collections
import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterator
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
from rider_api.network.rows import RowValidator
from rider_api.network.search import search_key
from rider_api.network.sink import NetworkSink, columns
from rider_api.network.stop_times import StopTimesReader
from rider_api.network.timetable import WEEKDAYS, TimetableReader
from rider_api.network.translations import Translations

__all__ = ["GtfsNetwork", "NetworkSummary", "read_network"]

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
_OPTIONAL_FILES = (
    "feed_info.txt",
    "translations.txt",
    "calendar.txt",
    "calendar_dates.txt",
    "shapes.txt",
)


@dataclass
class GtfsNetwork:
    """Validated rows per table, held in memory (see ``importer.load_feed``)."""

    source: str
    feed_lang: str | None
    rows: dict[type[SQLModel], list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NetworkSummary:
    """What an import read: the feed's name and language, and rows per table."""

    source: str
    feed_lang: str | None
    counts: dict[str, int]


def read_network(
    files: FeedFiles, *, source: str, sink: NetworkSink, grouped: bool = True
) -> NetworkSummary:
    """Validate the feed's files and hand their rows to ``sink``; raises FeedError on any
    problem (the caller then drops what the sink received: a transaction rolled back).

    Nothing reaches the sink until agency, stops, routes and the calendars are valid;
    shapes, trips and stop times go to it as they are read. UngroupedFeed: read again
    with ``grouped=False`` (see :mod:`rider_api.network.stop_times`).
    """
    missing = [name for name in _REQUIRED_FILES if not files.has(name)]
    if not files.has("calendar.txt") and not files.has("calendar_dates.txt"):
        missing.append("calendar.txt or calendar_dates.txt")
    if missing:
        raise FeedError(
            [FeedProblem(name, None, None, "required file is missing") for name in missing]
        )
    return _Reader(files, source, sink, grouped).run()


def _optional(files: FeedFiles, name: str) -> Table | None:
    if not files.has(name):
        return None
    if name == "translations.txt":
        return files.read(name)
    return files.read(name, _COLUMNS[name])


class _Reader:
    def __init__(self, files: FeedFiles, source: str, sink: NetworkSink, grouped: bool) -> None:
        self.files = files
        self.source = source
        self.sink = sink
        self.grouped = grouped
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
        #: Stops left out (no place), by id: their location_type.
        self.unplaced_stops: dict[str, int] = {}

    def run(self) -> NetworkSummary:
        files = self.files
        # Structural problems (missing columns, not UTF-8, not CSV) in the first lines of
        # a file stop the import at once, before any row is looked at.
        for name in (*_REQUIRED_FILES, *_OPTIONAL_FILES):
            if files.has(name):
                files.check(name, _COLUMNS.get(name, ()))
        feed_info = _optional(files, "feed_info.txt")
        self.tr = Translations.from_table(_optional(files, "translations.txt"))
        calendar = _optional(files, "calendar.txt")
        calendar_dates = _optional(files, "calendar_dates.txt")

        if feed_info is not None:
            self.read_feed_info(feed_info)
        agencies = self.read_agencies(files.read("agency.txt", _COLUMNS["agency.txt"]))
        stops = self.read_stops(files.read("stops.txt", _COLUMNS["stops.txt"]))
        routes = self.read_routes(files.read("routes.txt", _COLUMNS["routes.txt"]), agencies)
        timetable = TimetableReader(
            self.rows, self.tr, route_ids=self.route_ids, grouped=self.grouped
        )
        services, cal_rows, date_rows = timetable.read_calendars(calendar, calendar_dates)
        if not self.problems.items:
            self.sink.begin()
            self.sink.add(Agency, list(agencies.values()))
            self.sink.add(Stop, list(stops.values()))
            self.sink.add(Route, list(routes.values()))
            self.sink.add(ServiceCalendar, cal_rows)
            self.sink.add(CalendarDate, date_rows)

        shape_ids: set[str] | None = None
        if files.has("shapes.txt"):
            with files.stream("shapes.txt", _COLUMNS["shapes.txt"]) as shapes:
                self.stream(ShapePoint, timetable.shape_rows(shapes))
            shape_ids = timetable.shape_ids
        with files.stream("trips.txt", _COLUMNS["trips.txt"]) as stream:
            rows = ((line, stream.row(values)) for line, values in stream)
            trips = timetable.read_trips(stream.file, rows, services, shape_ids)
        trip_columns = columns(Trip)
        self.stream(Trip, (tuple(trip[c] for c in trip_columns) for trip in trips.values()))

        stop_times = StopTimesReader(
            self.problems,
            trips=trips,
            trip_ids=timetable.trip_ids,
            stop_ids=self.stop_ids,
            unplaced_stops=self.unplaced_stops,
            stop_names=self.stop_names,
            grouped=self.grouped,
        )
        with files.stream("stop_times.txt", _COLUMNS["stop_times.txt"]) as stream:
            self.stream(StopTime, stop_times.rows(stream))
        stop_times.finish()

        directions, route_stops = stop_times.patterns.rows()
        self.sink.set_headsigns(stop_times.patterns.named_by_last_stop)
        self.sink.add(RouteDirection, directions)
        self.sink.add(RouteStop, route_stops)
        counts = {
            "agencies": len(agencies),
            "stops": len(stops),
            "routes": len(routes),
            "trips": len(trips),
            "stop_times": stop_times.count,
            "shape_points": timetable.shape_points,
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
        # The network's version (NetworkView.current_version) reads these rows: a new
        # import is a new version even within the same second and with the same counts.
        self.meta["import_id"] = uuid.uuid4().hex
        self.meta.update({f"count.{name}": str(n) for name, n in counts.items()})
        self.sink.add(NetworkMeta, [{"key": k, "value": v} for k, v in self.meta.items()])
        return NetworkSummary(self.source, self.feed_lang, counts)

    def stream(self, model: type[SQLModel], rows: Iterator[tuple[Any, ...]]) -> None:
        """Hand ``rows`` to the sink; once the feed has a problem, read them to the end
        only to find the others."""
        if self.problems.items:
            collections.deque(rows, maxlen=0)
        else:
            self.sink.stream(model, rows)

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
            if self.rows.unique(table.file, out, agency_id, line, "agency_id"):
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
                # Generic nodes and boarding areas without a place: not bookable.
                self.unplaced_stops[stop_id] = location_type
                return
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
            if self.rows.unique(table.file, out, stop_id, line, "stop_id"):
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
            if self.rows.unique(table.file, out, route_id, line, "route_id"):
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
