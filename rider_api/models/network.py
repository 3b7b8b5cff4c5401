"""The transit network, as imported from GTFS (names in zh-TW and English).

Times of day are seconds after the service day's noon-minus-12h (GTFS allows > 24 h).
``RouteStop`` is derived at import: the ordered stops of each route and direction (the
longest trip's pattern), used to check bookings and to order a route's stops.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

__all__ = [
    "Agency",
    "CalendarDate",
    "NetworkMeta",
    "Route",
    "RouteDirection",
    "RouteStop",
    "ServiceCalendar",
    "ShapePoint",
    "Stop",
    "StopTime",
    "Trip",
]


class Agency(SQLModel, table=True):
    agency_id: str = Field(primary_key=True, max_length=64)
    name: str
    url: str = ""
    timezone: str
    lang: str | None = None


class Stop(SQLModel, table=True):
    stop_id: str = Field(primary_key=True, max_length=64)
    name_zh: str
    name_en: str
    #: GTFS tts_stop_name: how the name is spoken (None: speak the name).
    tts_name_zh: str | None = None
    tts_name_en: str | None = None
    lat: float
    lon: float
    #: Lower-cased names in both languages with 台 folded to 臺, for search.
    search_key: str = Field(index=True)
    parent_station: str | None = None
    wheelchair_boarding: int | None = None


class Route(SQLModel, table=True):
    route_id: str = Field(primary_key=True, max_length=64)
    agency_id: str | None = None
    #: What riders say and see: "307", "紅30".
    short_name: str
    #: The short name in English where it differs ("Red 30" for 紅30).
    short_name_en: str | None = None
    long_name_zh: str
    long_name_en: str
    route_type: int = 3
    color: str | None = None
    text_color: str | None = None
    tts_name_zh: str | None = None
    tts_name_en: str | None = None


class RouteDirection(SQLModel, table=True):
    route_id: str = Field(primary_key=True, foreign_key="route.route_id", max_length=64)
    direction_id: int = Field(primary_key=True)
    headsign_zh: str
    headsign_en: str


class RouteStop(SQLModel, table=True):
    route_id: str = Field(primary_key=True, foreign_key="route.route_id", max_length=64)
    direction_id: int = Field(primary_key=True)
    #: 0-based position of the stop along the direction's pattern.
    position: int = Field(primary_key=True)
    stop_id: str = Field(foreign_key="stop.stop_id", index=True, max_length=64)


class Trip(SQLModel, table=True):
    trip_id: str = Field(primary_key=True, max_length=64)
    route_id: str = Field(foreign_key="route.route_id", index=True, max_length=64)
    service_id: str = Field(index=True)
    direction_id: int = 0
    headsign_zh: str = ""
    headsign_en: str = ""
    shape_id: str | None = None


class StopTime(SQLModel, table=True):
    trip_id: str = Field(primary_key=True, foreign_key="trip.trip_id", max_length=64)
    stop_sequence: int = Field(primary_key=True)
    stop_id: str = Field(foreign_key="stop.stop_id", index=True, max_length=64)
    arrival_s: int
    departure_s: int
    shape_dist_traveled: float | None = None


class ShapePoint(SQLModel, table=True):
    shape_id: str = Field(primary_key=True)
    sequence: int = Field(primary_key=True)
    lat: float
    lon: float
    dist_traveled: float | None = None


class ServiceCalendar(SQLModel, table=True):
    service_id: str = Field(primary_key=True)
    monday: bool
    tuesday: bool
    wednesday: bool
    thursday: bool
    friday: bool
    saturday: bool
    sunday: bool
    start_date: dt.date
    end_date: dt.date


class CalendarDate(SQLModel, table=True):
    service_id: str = Field(primary_key=True)
    service_date: dt.date = Field(primary_key=True)
    #: 1 added, 2 removed (GTFS).
    exception_type: int


class NetworkMeta(SQLModel, table=True):
    """Facts about the imported feed (name, language, import time, counts)."""

    key: str = Field(primary_key=True)
    value: str
