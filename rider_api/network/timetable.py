"""Reading the timetable files of a GTFS feed: service days, shapes, trips, stop times.

These come after agency.txt, stops.txt and routes.txt (see :mod:`rider_api.network.gtfs`):
trips refer to routes, and stop times to stops and trips, by id.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from rider_api.network.feed import Row, Table
from rider_api.network.fields import (
    FieldError,
    gtfs_date,
    gtfs_id,
    gtfs_time,
    integer,
    number,
    optional_number,
    required,
)
from rider_api.network.patterns import StopTimeIn
from rider_api.network.rows import RowValidator
from rider_api.network.translations import Translations

__all__ = ["WEEKDAYS", "TimetableReader"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class TimetableReader:
    """Reads calendar, calendar_dates, shapes, trips and stop_times into rows.

    ``route_ids`` and ``stop_ids`` are the ids of every row of routes.txt and stops.txt,
    even rows with a bad field: a reference to such a row is not reported as unknown.
    """

    def __init__(
        self,
        rows: RowValidator,
        tr: Translations,
        *,
        route_ids: set[str],
        stop_ids: set[str],
    ) -> None:
        self.rows = rows
        self.tr = tr
        self.route_ids = route_ids
        self.stop_ids = stop_ids
        self.trip_ids: set[str] = set()

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
                if self.rows.unique(cal, services, service_id, line, "service_id"):
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
                if self.rows.unique(dates, seen, (service_id, day), line, "date"):
                    date_rows.append(
                        {"service_id": service_id, "service_date": day, "exception_type": kind}
                    )

            self.rows.each(dates, parse_date)
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
            if self.rows.unique(table, seen, (shape_id, sequence), line, "shape_pt_sequence"):
                out.append(
                    {
                        "shape_id": shape_id,
                        "sequence": sequence,
                        "lat": lat,
                        "lon": lon,
                        "dist_traveled": dist,
                    }
                )

        self.rows.each(table, parse)
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
            if self.rows.unique(table, out, trip_id, line, "trip_id"):
                out[trip_id] = {
                    "trip_id": trip_id,
                    "route_id": route_id,
                    "service_id": service_id,
                    "direction_id": direction_id,
                    "headsign_zh": zh,
                    "headsign_en": en,
                    "shape_id": shape_id if shape_ids is not None else None,
                }

        self.rows.each(table, parse)
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
            if self.rows.unique(table, seen, (trip_id, sequence), line, "stop_sequence"):
                by_trip[trip_id].append(
                    StopTimeIn(line, sequence, stop_id, arrival, departure, dist)
                )

        self.rows.each(table, parse)
        return by_trip
