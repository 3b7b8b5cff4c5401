"""What the simulator needs of a GTFS feed: stops, trips with stop times, shapes, calendars.

Built from the rows of the rider API's validating GTFS reader (``load_feed``), so the
simulator drives exactly the network the API imported. Pure data after loading.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rider_api import models
from rider_api.network.gtfs import GtfsNetwork
from rider_api.network.importer import load_feed

__all__ = ["SimNetwork", "SimStop", "SimStopTime", "SimTrip", "load_network"]


@dataclass(frozen=True, slots=True)
class SimStop:
    stop_id: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class SimStopTime:
    stop_sequence: int
    stop_id: str
    #: Seconds after midnight of the service day (GTFS allows more than 24 h).
    arrival_s: int
    departure_s: int
    shape_dist: float | None = None


@dataclass(frozen=True, slots=True)
class SimTrip:
    trip_id: str
    route_id: str
    direction_id: int
    service_id: str
    shape_id: str | None
    stop_times: tuple[SimStopTime, ...]

    @property
    def start_s(self) -> int:
        return self.stop_times[0].departure_s

    @property
    def end_s(self) -> int:
        return self.stop_times[-1].arrival_s


@dataclass
class SimNetwork:
    """The feed as the simulator sees it."""

    stops: dict[str, SimStop] = field(default_factory=dict)
    trips: dict[str, SimTrip] = field(default_factory=dict)
    #: shape_id: [(lat, lon, dist_traveled or None)] in sequence order.
    shapes: dict[str, list[tuple[float, float, float | None]]] = field(default_factory=dict)
    timezone: str = "UTC"
    calendars: dict[str, dict[str, Any]] = field(default_factory=dict)
    calendar_dates: dict[str, dict[dt.date, int]] = field(default_factory=dict)

    def services_on(self, day: dt.date) -> set[str]:
        """The service_ids running on ``day`` (calendar.txt plus calendar_dates.txt)."""
        weekday = day.strftime("%A").lower()
        active = {
            sid
            for sid, cal in self.calendars.items()
            if cal["start_date"] <= day <= cal["end_date"] and cal.get(weekday)
        }
        for sid, dates in self.calendar_dates.items():
            kind = dates.get(day)
            if kind == 1:
                active.add(sid)
            elif kind == 2:
                active.discard(sid)
        return active

    def trips_on(self, day: dt.date) -> list[SimTrip]:
        """Trips of ``day`` with at least two stops, by start time."""
        services = self.services_on(day)
        trips = [
            t for t in self.trips.values() if t.service_id in services and len(t.stop_times) > 1
        ]
        return sorted(trips, key=lambda t: (t.start_s, t.trip_id))

    @classmethod
    def from_gtfs(cls, gtfs: GtfsNetwork) -> SimNetwork:
        rows = gtfs.rows
        net = cls()
        agencies = rows.get(models.Agency, [])
        if agencies:
            net.timezone = str(agencies[0]["timezone"])
        for r in rows.get(models.Stop, []):
            net.stops[r["stop_id"]] = SimStop(r["stop_id"], float(r["lat"]), float(r["lon"]))
        for r in rows.get(models.ServiceCalendar, []):
            net.calendars[r["service_id"]] = dict(r)
        for r in rows.get(models.CalendarDate, []):
            net.calendar_dates.setdefault(r["service_id"], {})[r["service_date"]] = int(
                r["exception_type"]
            )
        shape_rows: dict[str, list[tuple[int, float, float, float | None]]] = defaultdict(list)
        for r in rows.get(models.ShapePoint, []):
            shape_rows[r["shape_id"]].append(
                (int(r["sequence"]), float(r["lat"]), float(r["lon"]), r.get("dist_traveled"))
            )
        for shape_id, pts in shape_rows.items():
            pts.sort()
            net.shapes[shape_id] = [(lat, lon, d) for _seq, lat, lon, d in pts]
        times: dict[str, list[SimStopTime]] = defaultdict(list)
        for r in rows.get(models.StopTime, []):
            times[r["trip_id"]].append(
                SimStopTime(
                    int(r["stop_sequence"]),
                    r["stop_id"],
                    int(r["arrival_s"]),
                    int(r["departure_s"]),
                    r.get("shape_dist_traveled"),
                )
            )
        for r in rows.get(models.Trip, []):
            sts = sorted(times.get(r["trip_id"], []), key=lambda s: s.stop_sequence)
            net.trips[r["trip_id"]] = SimTrip(
                r["trip_id"],
                r["route_id"],
                int(r["direction_id"]),
                r["service_id"],
                r.get("shape_id"),
                tuple(sts),
            )
        return net


def load_network(path: str | Path) -> SimNetwork:
    """Read and validate a GTFS zip or folder (raises the importer's FeedError)."""
    return SimNetwork.from_gtfs(load_feed(path))
