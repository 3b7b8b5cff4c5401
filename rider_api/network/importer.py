"""Load a GTFS feed into the network tables: validate everything while writing it in one
transaction that replaces the previous network (readers see the old or the new one).

The feed is read as a stream and its rows written as they are validated (see
:mod:`rider_api.network.bulk`), so memory does not grow with the number of stop times;
a problem anywhere rolls the transaction back and nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from rider_api.db.engine import make_sync_engine
from rider_api.models import ShapePoint, StopTime, Trip
from rider_api.network.bulk import bulk_load, database_sink
from rider_api.network.errors import UngroupedFeed
from rider_api.network.feed import open_feed
from rider_api.network.gtfs import GtfsNetwork, NetworkSummary, read_network
from rider_api.network.sink import NETWORK_TABLES, CollectingSink, columns

__all__ = ["ImportReport", "import_feed", "import_feed_async", "load_feed", "write_network"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
#: Tables written with the bulk path (the others are small).
_STREAMED = (ShapePoint, Trip, StopTime)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import wrote, for the command line and the log."""

    source: str
    feed_lang: str | None
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: How long the import kept the network's readers out: on PostgreSQL from the swap's
    #: lock to the commit; None where it never does (SQLite: readers read the old
    #: network from the WAL until the commit).
    readers_locked_out_s: float | None = None

    def __str__(self) -> str:
        parts = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        locked = (
            ""
            if self.readers_locked_out_s is None
            else f" (readers waited at most {self.readers_locked_out_s * 1000:.0f} ms)"
        )
        return f"imported {self.source} in {self.seconds:.2f} s{locked}: {parts}"


def load_feed(path: str | Path) -> GtfsNetwork:
    """Read and validate a GTFS zip or folder into memory; raises FeedError and touches
    no database (for tools; the import itself streams, see :func:`import_feed`)."""

    def attempt(grouped: bool) -> GtfsNetwork:
        sink = CollectingSink()
        with open_feed(path) as files:
            summary = read_network(files, source=Path(path).name, sink=sink, grouped=grouped)
        return GtfsNetwork(summary.source, summary.feed_lang, sink.rows, summary.counts)

    return _grouped_or_not(attempt)


def write_network(conn: Connection, network: GtfsNetwork) -> None:
    """Replace the network tables' content with ``network`` on ``conn`` (caller's transaction)."""
    sink = database_sink(conn)
    sink.begin()
    for model in NETWORK_TABLES:
        rows = network.rows.get(model, [])
        if model in _STREAMED:
            names = columns(model)
            sink.stream(model, (tuple(row[name] for name in names) for row in rows))
        else:
            sink.add(model, rows)
    sink.finish()


def import_feed(engine_or_url: Engine | str, path: str | Path) -> ImportReport:
    """Validate the feed at ``path`` and replace the network with it, atomically.

    Raises FeedError (naming file, line and field) and leaves the network as it was if
    the feed has any problem.
    """
    started = time.perf_counter()
    engine = make_sync_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url

    def attempt(grouped: bool) -> tuple[NetworkSummary, float | None]:
        with open_feed(path) as files, engine.connect() as conn, bulk_load(conn):
            with conn.begin():
                sink = database_sink(conn)
                summary = read_network(files, source=Path(path).name, sink=sink, grouped=grouped)
                sink.finish()
            locked = None if sink.locked_at is None else time.perf_counter() - sink.locked_at
            return summary, locked

    try:
        summary, locked = _grouped_or_not(attempt)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()
    return _report(summary, started, locked)


async def import_feed_async(engine: AsyncEngine, path: str | Path) -> ImportReport:
    """:func:`import_feed` for a running app: the import runs in a worker thread, on a
    connection of its own to ``engine``'s database (never on the event loop)."""
    url = engine.url.render_as_string(hide_password=False)
    return await asyncio.to_thread(import_feed, url, path)


def _grouped_or_not(attempt: Callable[[bool], _T]) -> _T:
    """Stream the feed; if a file's trips (or shapes) are not kept together, read it
    again holding them all."""
    try:
        return attempt(True)
    except UngroupedFeed as exc:
        logger.warning(
            "network import: %s; reading the feed again with every trip held in memory", exc
        )
        return attempt(False)


def _report(summary: NetworkSummary, started: float, locked: float | None) -> ImportReport:
    report = ImportReport(
        source=summary.source,
        feed_lang=summary.feed_lang,
        counts=dict(summary.counts),
        seconds=time.perf_counter() - started,
        readers_locked_out_s=locked,
    )
    logger.info("network import: %s", report)
    return report
