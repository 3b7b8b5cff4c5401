"""Where an import's rows go: the database (``rider_api.network.bulk``) or, for
:func:`~rider_api.network.importer.load_feed`, lists in memory.

The reader hands small tables over as lists of dicts and the large ones (shape points,
trips, stop times) as iterators of tuples in the table's column order, which it fills as
it reads the file: a sink that writes them as they come holds none of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Protocol

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

__all__ = ["NETWORK_TABLES", "CollectingSink", "NetworkSink", "columns"]


@cache
def columns(model: type[SQLModel]) -> tuple[str, ...]:
    """The table's column names, in the order of the tuples handed to ``stream``."""
    return tuple(column.name for column in model.__table__.columns)  # type: ignore[attr-defined]


class NetworkSink(Protocol):
    """Receives the rows of one import, parents before children."""

    def begin(self) -> None:
        """Called once, before the first row: the previous network goes."""

    def add(self, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
        """A small table's rows."""

    def stream(self, model: type[SQLModel], rows: Iterable[tuple[Any, ...]]) -> None:
        """A large table's rows, consumed as they are produced."""

    def set_headsigns(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """(trip_id, headsign_zh, headsign_en) of trips already streamed whose headsign
        comes from their last stop (known once their stop times are read)."""

    def finish(self) -> None:
        """Called by the importer once ``read_network`` has returned (every row given,
        the feed valid), inside the transaction, before the commit."""


class CollectingSink:
    """Keeps every row in memory as a dict (what ``GtfsNetwork.rows`` holds)."""

    def __init__(self) -> None:
        self.rows: dict[type[SQLModel], list[dict[str, Any]]] = {}

    def begin(self) -> None:
        self.rows.clear()

    def add(self, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
        self.rows.setdefault(model, []).extend(rows)

    def stream(self, model: type[SQLModel], rows: Iterable[tuple[Any, ...]]) -> None:
        names = columns(model)
        self.rows.setdefault(model, []).extend(dict(zip(names, row, strict=True)) for row in rows)

    def set_headsigns(self, rows: Sequence[tuple[str, str, str]]) -> None:
        trips = {trip["trip_id"]: trip for trip in self.rows.get(Trip, [])}
        for trip_id, zh, en in rows:
            trips[trip_id]["headsign_zh"] = zh
            trips[trip_id]["headsign_en"] = en

    def finish(self) -> None:
        pass


#: The network's tables, parents before children (deletes run in the reverse order).
NETWORK_TABLES: tuple[type[SQLModel], ...] = (
    Agency,
    Stop,
    Route,
    RouteDirection,
    RouteStop,
    ServiceCalendar,
    CalendarDate,
    ShapePoint,
    Trip,
    StopTime,
    NetworkMeta,
)
