"""Reading the timetable files of a GTFS feed: service days, shapes and trips.

These come after agency.txt, stops.txt and routes.txt (see :mod:`rider_api.network.gtfs`):
trips refer to routes, shapes and services by id. shapes.txt can be large and is read as
a stream; stop times are read by :mod:`rider_api.network.stop_times`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator
from typing import Any

from rider_api.network.errors import UngroupedFeed
from rider_api.network.feed import Row, Table, TableStream
from rider_api.network.fields import (
    FieldError,
    gtfs_date,
    gtfs_id,
    integer,
    number,
    optional_number,
    required,
)
from rider_api.network.rows import RowValidator
from rider_api.network.translations import Translations

__all__ = ["WEEKDAYS", "ShapeRow", "TimetableReader"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: A ShapePoint row: (shape_id, sequence, lat, lon, dist_traveled).
ShapeRow = tuple[str, int, float, float, float | None]


class TimetableReader:
    """Reads calendar, calendar_dates, shapes and trips into rows.

    ``route_ids`` is the ids of every row of routes.txt, even rows with a bad field: a
    reference to such a row is not reported as unknown (nor is one to a trip with a bad
    field, in ``trip_ids``). ``grouped``: see :meth:`shape_rows`.
    """

    def __init__(
        self,
        rows: RowValidator,
        tr: Translations,
        *,
        route_ids: set[str],
        grouped: bool = True,
    ) -> None:
        self.rows = rows
        self.tr = tr
        self.route_ids = route_ids
        self.grouped = grouped
        self.trip_ids: set[str] = set()
        self.shape_ids: set[str] = set()
        #: ShapePoint rows yielded.
        self.shape_points = 0

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
                days = {day: bool(integer(row, day, allowed=(0, 1))) for day in WEEKDAYS}
                start, end = gtfs_date(row, "start_date"), gtfs_date(row, "end_date")
                if end < start:
                    raise FieldError("end_date", "ends before start_date")
                if self.rows.unique(cal.file, services, service_id, line, "service_id"):
                    cal_rows.append(
                        {"service_id": service_id, **days, "start_date": start, "end_date": end}
                    )

            self.rows.each(cal, parse_cal)
        if calendar_dates is not None:
            dates = calendar_dates
            seen: set[tuple[str, dt.date]] = set()

            def parse_date(line: int, row: Row) -> None:
                service_id = required(row, "service_id")
                day = gtfs_date(row, "date")
                kind = integer(row, "exception_type", allowed=(1, 2))
                if self.rows.unique(dates.file, seen, (service_id, day), line, "date"):
                    date_rows.append(
                        {"service_id": service_id, "service_date": day, "exception_type": kind}
                    )

            self.rows.each(dates, parse_date)
            services.update(service_id for service_id, _day in seen)
        return services, cal_rows, date_rows

    def shape_rows(self, stream: TableStream) -> Iterator[ShapeRow]:
        """Validated ShapePoint rows as shapes.txt is read (none once the feed has a
        problem); fills ``shape_ids`` and ``shape_points``.

        Duplicate points are found per shape: a file that comes back to a shape after
        another raises UngroupedFeed unless ``grouped`` is false, when every shape's
        sequence numbers are kept to the end."""
        file = stream.file
        i_id, i_lat, i_lon, i_sequence = (
            stream.columns.index(name)
            for name in ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence")
        )
        i_dist = stream.index("shape_dist_traveled")
        problems = self.rows.problems
        held: dict[str, set[int]] = {}  # when not grouped
        done: set[str] = set()
        current = ""
        sequences: set[int] = set()
        for line, values in stream:
            try:
                shape_id = values[i_id].strip()
                sequence = int(values[i_sequence])
                lat = float(values[i_lat])
                lon = float(values[i_lon])
                if not shape_id or sequence < 0 or not (-90.0 <= lat <= 90.0):
                    raise ValueError
                if not -180.0 <= lon <= 180.0:
                    raise ValueError
                dist = None
                if i_dist is not None and (raw := values[i_dist].strip()):
                    dist = float(raw)
                    if not 0.0 <= dist < math.inf:
                        raise ValueError
            except ValueError:
                try:
                    shape_id, sequence, lat, lon, dist = _shape_fields(stream.row(values))
                except FieldError as exc:
                    problems.add(file, line, exc.field, exc.message)
                    continue
            if shape_id != current:
                if self.grouped:
                    if shape_id in done:
                        raise UngroupedFeed(file, line)
                    done.add(shape_id)
                    sequences = set()
                else:
                    sequences = held.setdefault(shape_id, set())
                current = shape_id
            if sequence in sequences:
                key = (shape_id, sequence)
                problems.add(
                    file, line, "shape_pt_sequence", f"duplicate shape_pt_sequence {key!r}"
                )
                continue
            sequences.add(sequence)
            self.shape_ids.add(shape_id)
            if not problems.items:
                self.shape_points += 1
                yield (shape_id, sequence, lat, lon, dist)

    def read_trips(
        self,
        file: str,
        rows: Iterable[tuple[int, Row]],
        services: set[str],
        shape_ids: set[str] | None,
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        # Trips repeat a few routes, services, shapes and headsigns: one string of each
        # (a city has hundreds of thousands of trips, all held until the import ends).
        shared: dict[str | None, str | None] = {}
        share = shared.setdefault

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
            if self.rows.unique(file, out, trip_id, line, "trip_id"):
                out[trip_id] = {
                    "trip_id": trip_id,
                    "route_id": share(route_id, route_id),
                    "service_id": share(service_id, service_id),
                    "direction_id": direction_id,
                    "headsign_zh": share(zh, zh),
                    "headsign_en": share(en, en),
                    "shape_id": share(shape_id, shape_id) if shape_ids is not None else None,
                }

        self.rows.each_row(file, rows, parse)
        return out


def _shape_fields(row: Row) -> tuple[str, int, float, float, float | None]:
    shape_id = required(row, "shape_id")
    sequence = integer(row, "shape_pt_sequence")
    lat = number(row, "shape_pt_lat", low=-90, high=90)
    lon = number(row, "shape_pt_lon", low=-180, high=180)
    dist = optional_number(row, "shape_dist_traveled", low=0)
    return shape_id, sequence, lat, lon, dist
