"""Database engines and sessions (SQLite by default, PostgreSQL through a URL)."""

from __future__ import annotations

import asyncio
import select
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from rider_api.core.private_files import private_file
from rider_api.db import sqlite_inline

__all__ = [
    "PING_AFTER_IDLE_S",
    "SQLITE_COMPANIONS",
    "WriteGate",
    "async_url",
    "checkpoint",
    "libpq_conninfo",
    "make_async_engine",
    "make_sync_engine",
    "private_sqlite_file",
    "sync_url",
]


def sync_url(url: str) -> str:
    """The URL with a synchronous driver (sqlite, psycopg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def libpq_conninfo(url: str) -> str:
    """A PostgreSQL URL as libpq (and ``psycopg.connect``) takes it: no driver name."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The URL with an asyncio driver (aiosqlite, psycopg async)."""
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    return parsed.render_as_string(hide_password=False)


#: What SQLite keeps beside a database file; made with the database file's mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_sqlite_file(url: str) -> None:
    """Create the SQLite database of ``url`` owner-only (0600) before SQLite opens it.

    SQLite creates a new database with the umask's mode (0644 as a rule); it gives its
    ``-wal``, ``-shm`` and ``-journal`` files the database file's own mode, so a
    database made 0600 keeps them 0600. Files made earlier with wider modes are
    narrowed. Nothing to do for PostgreSQL or an in-memory database.
    """
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:") or parsed.query.get("mode") == "memory":
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite will say so, in its own words
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            private_file(companion)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode
    # against process crashes (the case we design for) and far faster than FULL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _blocking_busy_wait(dbapi_conn: object, _record: object) -> None:
    # Synchronous connections (migrations, ``network import``) run off the event loop:
    # SQLite's busy handler may sleep their thread while another writer holds the lock.
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_sync_engine(url: str) -> Engine:
    private_sqlite_file(url)
    engine = create_engine(sync_url(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _blocking_busy_wait)
    return engine


def make_async_engine(
    url: str,
    *,
    sqlite_lock_wait_s: float = sqlite_inline.LOCK_WAIT_S,
    pool_size: int = 10,
    max_overflow: int = 20,
) -> AsyncEngine:
    """The asyncio engine; SQLite runs inline (see ``sqlite_inline``).

    ``sqlite_lock_wait_s``: how long an inline SQLite statement waits, in the event loop,
    for a lock another process holds before it fails with ``database is locked``.
    """
    if make_url(url).get_backend_name() == "postgresql":
        # A request may hold two connections (its session and a unit of work).
        engine = create_async_engine(
            async_url(url), pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800
        )
        _ping_when_in_doubt(engine.sync_engine)
    else:
        private_sqlite_file(url)
        database = make_url(url).database or ":memory:"
        creator = sqlite_inline.connect(database, lock_wait_s=sqlite_lock_wait_s)
        engine = create_async_engine(async_url(url), async_creator=creator)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "connect", _inline_pragmas)
    return engine


#: A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_S: Final = 5.0


def _ping_when_in_doubt(engine: Engine) -> None:
    """Hand out no dead pooled connection, without a round trip per checkout.

    After a database restart or fail-over every pooled connection is dead; a request
    that got one would fail. SQLAlchemy's ``pool_pre_ping`` finds out with a round trip
    on every checkout: 0.8 ms of CPU of a booking's ~6 on PostgreSQL. A server that ends
    a session says so on the socket (PostgreSQL sends its FATAL message and closes), so
    a connection whose socket is readable while it sits idle in the pool is pinged, and
    so is one idle for ``PING_AFTER_IDLE_S`` (a host that vanished says nothing). A
    failed ping makes the pool drop its connections and hand out a new one.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def idle_since(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_in_doubt(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None:
            return  # just connected
        if time.monotonic() - since < PING_AFTER_IDLE_S and not _has_input(dbapi_conn):
            return
        _ping(dialect, dbapi_conn)


def _has_input(dbapi_conn: Any) -> bool:
    """Something (an end of session, a notice) waits on the idle connection's socket."""
    driver = dbapi_conn.driver_connection
    if driver.closed or driver.broken:
        return True
    # poll, not select: select refuses descriptors from 1024 up, which a busy process
    # with a high open-file limit reaches.
    poller = select.poll()
    try:
        poller.register(driver.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _ping(dialect: Dialect, dbapi_conn: Any) -> None:
    try:
        dialect.do_ping(dbapi_conn)
    except Exception as exc:
        # The database was most likely restarted: every connection pooled before now is
        # dead too, so the pool drops them all (as pool_pre_ping does).
        raise InvalidatePoolError(f"a pooled connection failed its ping: {exc}") from exc


def _inline_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # A checkpoint writes and syncs the database file: on the event loop thread that
    # would stall every request. ``checkpoint`` does it from a worker thread instead.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    # No busy handler: it would sleep the event loop thread while another process holds
    # the lock. The inline connection waits for the lock in the loop instead.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def checkpoint(url: str) -> tuple[int, int, int]:
    """Copy the SQLite write-ahead log into the database (PASSIVE: never blocks writers).

    Blocking: run it in a worker thread. Returns SQLite's (busy, log pages, checkpointed).
    """
    database = make_url(url).database
    if not database:
        return (0, 0, 0)
    conn = sqlite3.connect(database, timeout=1.0)
    try:
        busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(log), int(done)
    finally:
        conn.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


class WriteGate:
    """Lets one write transaction at a time into SQLite, waiting in the event loop.

    SQLite has one writer. Without this, a second writer finds the database locked and
    retries with a back-off (see ``sqlite_inline``: tail latency), and a deferred
    transaction that reads before it writes can fail outright with "database is locked".
    PostgreSQL needs no gate.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield
