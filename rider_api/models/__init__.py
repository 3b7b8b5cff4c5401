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
from rider_api.models.operators import OperatorAudit, OperatorSession
from rider_api.models.push import PushSubscription
from rider_api.models.reservations import (
    IdempotencyRecord,
    Incident,
    OutboxMessage,
    ProcessedEvent,
    Reservation,
    ReservationEvent,
    Rider,
)

__all__ = [
    "Agency",
    "CalendarDate",
    "IdempotencyRecord",
    "Incident",
    "NetworkMeta",
    "OperatorAudit",
    "OperatorSession",
    "OutboxMessage",
    "ProcessedEvent",
    "PushSubscription",
    "Reservation",
    "ReservationEvent",
    "Rider",
    "Route",
    "RouteDirection",
    "RouteStop",
    "ServiceCalendar",
    "ShapePoint",
    "Stop",
    "StopTime",
    "Trip",
]
