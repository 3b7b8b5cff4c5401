"""Load a GTFS feed into the network tables: validate everything, then write it all in one
transaction that replaces the previous network (readers see the old or the new one)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from rider_api.db.engine import make_sync_engine
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
from rider_api.network.feed import open_feed
from rider_api.network.gtfs import GtfsNetwork, read_network

__all__ = ["ImportReport", "import_feed", "import_feed_async", "load_feed", "write_network"]

logger = logging.getLogger(__name__)

#: Parents before children; deletes run in the reverse order.
_INSERT_ORDER: tuple[type[SQLModel], ...] = (
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
_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import wrote, for the command line and the log."""

    source: str
    feed_lang: str | None
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        return f"imported {self.source} in {self.seconds:.2f} s: {parts}"


def load_feed(path: str | Path) -> GtfsNetwork:
    """Read and validate a GTFS zip or folder; raises FeedError and touches no database."""
    with open_feed(path) as files:
        return read_network(files, source=Path(path).name)


def write_network(conn: Connection, network: GtfsNetwork) -> None:
    """Replace the network tables' content with ``network`` on ``conn`` (caller's transaction)."""
    for model in reversed(_INSERT_ORDER):
        conn.execute(delete(model))
    for model in _INSERT_ORDER:
        rows = network.rows.get(model, [])
        for chunk in _chunks(rows, _CHUNK):
            conn.execute(insert(model), chunk)


def import_feed(engine_or_url: Engine | str, path: str | Path) -> ImportReport:
    """Validate the feed at ``path`` and replace the network with it, atomically.

    Raises FeedError (naming file, line and field) before anything is written.
    """
    started = time.perf_counter()
    network = load_feed(path)
    engine = make_sync_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.begin() as conn:
            write_network(conn, network)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()
    return _report(network, started)


async def import_feed_async(engine: AsyncEngine, path: str | Path) -> ImportReport:
    """:func:`import_feed` for a running app: parsing runs in a worker thread."""
    started = time.perf_counter()
    network = await asyncio.to_thread(load_feed, path)
    async with engine.begin() as conn:
        await conn.run_sync(write_network, network)
    return _report(network, started)


def _report(network: GtfsNetwork, started: float) -> ImportReport:
    report = ImportReport(
        source=network.source,
        feed_lang=network.feed_lang,
        counts=dict(network.counts),
        seconds=time.perf_counter() - started,
    )
    logger.info("network import: %s", report)
    return report


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
