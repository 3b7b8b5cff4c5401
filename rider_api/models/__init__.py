"""SQLModel tables. Import this package to register every table on SQLModel.metadata."""

from rider_api.models.network import (
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
