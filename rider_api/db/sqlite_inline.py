"""SQLite for SQLAlchemy's asyncio engine, run inline on the event loop thread.

aiosqlite runs every statement in a worker thread. A booking makes about a dozen
statement calls, each a hand-off to that thread and back; on a busy two-core machine
each hand-off waits for the GIL (up to its 5 ms switch interval), and those waits, not
SQLite, made up most of the booking latency. A local SQLite statement in WAL mode with
``synchronous=NORMAL`` takes microseconds and does not wait on the disk at commit, so
running it inline is cheaper than any hand-off. Writers are serialised in-process by
``rider_api.db.engine.WriteGate``, so a statement never waits on SQLite's lock from this
process. PostgreSQL keeps its real asyncio driver.

Another process (``bushail-api network import``) may hold the write lock, though. SQLite's
busy handler would wait for it by sleeping on the event loop thread, stalling every
request for as long as the other writer holds the lock. So an inline connection has no
busy handler (``busy_timeout`` 0): a statement, or a ``COMMIT``, that finds the database
locked fails at once with ``SQLITE_BUSY`` and is run again after an ``asyncio.sleep``
with a growing back-off, for at most ``lock_wait_s`` seconds (5, as the busy handler
had), after which ``DatabaseLockedError`` is raised. Where the lock is met: in WAL mode a
deferred ``BEGIN`` (what the sqlite3 module issues before the first INSERT, UPDATE or
DELETE) takes no lock; the first write statement of a transaction, or an explicit
``BEGIN IMMEDIATE``, takes the write lock, and ``COMMIT`` may meet a lock too (always
in rollback-journal mode). Reads never wait on a writer in WAL mode; the rare read that
meets SQLITE_BUSY (another connection recovering the WAL) is retried the same way.

Why running the statement again is safe (the same thing the busy handler does, minus the
sleeping thread):

* ``SQLITE_BUSY`` from a statement means it could not take its lock, which a statement
  does in its first step (``OP_Transaction``), so it changed nothing (sqlite3 runs one
  statement per ``execute``); SQLite undoes at most that one statement and
  never the surrounding transaction for ``SQLITE_BUSY`` (only for NOMEM, IOERR,
  INTERRUPT and FULL: ``sqlite3VdbeHalt``). The transaction is as it was before the
  statement, and the sqlite3 module's implicit ``BEGIN`` already ran, so it is not issued
  twice. A failed ``BEGIN IMMEDIATE`` started no transaction.
* A ``COMMIT`` that fails with ``SQLITE_BUSY`` leaves the transaction open, and SQLite
  documents that it may be retried.
* ``SQLITE_BUSY_SNAPSHOT`` (the transaction read a snapshot that another connection's
  commit has since made stale) can never succeed on a retry; it is raised at once, as
  SQLite itself does (its busy handler is not called either). A transaction holding a
  snapshot that meets plain SQLITE_BUSY is retried: it succeeds if the other writer
  changed nothing, else it gets SQLITE_BUSY_SNAPSHOT, so a retry never writes over a
  stale read. Other errors are raised at once too.
* ``executemany`` is run again only if no row of it changed the database (in WAL mode
  only the first row can meet the lock: once it holds it nothing else needs one).

The fast path is unchanged: a statement that does not meet a lock costs only the
``try`` (free in CPython 3.11); ``executemany`` also reads ``total_changes`` once.

This module gives the aiosqlite adapter of SQLAlchemy the small part of aiosqlite's
API it uses (connection, cursor, and the ``_tx`` queue it uses to set the isolation
level), backed by the standard library's sqlite3. Those are SQLAlchemy internals:
``tests/rider_api/test_sqlite_inline.py`` checks them, and pyproject pins SQLAlchemy's
minor version.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from typing import Any, Self, TypeVar

__all__ = ["LOCK_WAIT_S", "DatabaseLockedError", "InlineConnection", "connect"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How long a statement waits (in the event loop) for another connection's lock.
LOCK_WAIT_S = 5.0
#: The back-off between attempts doubles from the first delay up to the longest one.
_FIRST_DELAY_S = 0.001
_LONGEST_DELAY_S = 0.05


class DatabaseLockedError(sqlite3.OperationalError):
    """Another connection held the SQLite lock for longer than the wait allowed."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY that may clear (not BUSY_SNAPSHOT, which a retry cannot fix)."""
    code: int = getattr(exc, "sqlite_errorcode", 0)
    return code & 0xFF == sqlite3.SQLITE_BUSY and code != sqlite3.SQLITE_BUSY_SNAPSHOT


async def _retry_while_busy(
    first: sqlite3.OperationalError, lock_wait_s: float, attempt: Callable[[], _T]
) -> _T:
    """Run ``attempt`` again, sleeping in the loop between tries, until the lock is free.

    ``first`` is the busy error of the attempt already made. Raises the first error that
    is not SQLITE_BUSY, or ``DatabaseLockedError`` once ``lock_wait_s`` has passed.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + lock_wait_s
    delay = _FIRST_DELAY_S
    attempts = 1
    last = first
    while (remaining := deadline - loop.time()) > 0:
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _LONGEST_DELAY_S)
        attempts += 1
        try:
            result = attempt()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            last = exc
            continue
        logger.info(
            "waited %.3f s (%d attempts) for another connection's SQLite lock",
            loop.time() - started,
            attempts,
        )
        return result
    error = DatabaseLockedError(
        f"database is locked: another connection held the SQLite lock for more than "
        f"{lock_wait_s:g} s ({attempts} attempts; the inline connection waits in the "
        f"event loop, see rider_api.db.sqlite_inline)"
    )
    error.sqlite_errorcode = getattr(last, "sqlite_errorcode", sqlite3.SQLITE_BUSY)
    error.sqlite_errorname = getattr(last, "sqlite_errorname", "SQLITE_BUSY")
    raise error from last


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor, lock_wait_s: float) -> None:
        self._cursor = cursor
        self._lock_wait_s = lock_wait_s

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Self:
        params = parameters if parameters is not None else ()
        try:
            self._cursor.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            await _retry_while_busy(
                exc, self._lock_wait_s, partial(self._cursor.execute, sql, params)
            )
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Self:
        rows = seq if isinstance(seq, list | tuple) else list(seq)
        changes = self._cursor.connection.total_changes
        try:
            self._cursor.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or self._cursor.connection.total_changes != changes:
                raise
            await _retry_while_busy(
                exc, self._lock_wait_s, partial(self._cursor.executemany, sql, rows)
            )
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    async def __aiter__(self) -> AsyncIterator[Any]:
        for row in self._cursor:
            yield row


class _InlineQueue:
    """Stands in for aiosqlite's request queue: runs the function at once.

    SQLAlchemy sends only the isolation-level change here; setting it to autocommit
    commits, which may meet a lock like any COMMIT and is then retried in a task.
    """

    def __init__(self, lock_wait_s: float) -> None:
        self._lock_wait_s = lock_wait_s
        self._retries: set[asyncio.Task[None]] = set()

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                future.set_exception(exc)
                return
            task = asyncio.get_running_loop().create_task(self._retry(future, exc, function))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        except Exception as exc:
            future.set_exception(exc)

    async def _retry(
        self,
        future: asyncio.Future[Any],
        first: sqlite3.OperationalError,
        function: Callable[[], Any],
    ) -> None:
        try:
            result = await _retry_while_busy(first, self._lock_wait_s, function)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection, lock_wait_s: float = LOCK_WAIT_S) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn
        self._lock_wait_s = lock_wait_s
        self._tx = _InlineQueue(lock_wait_s)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._lock_wait_s)

    async def commit(self) -> None:
        try:
            self._conn.commit()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            await _retry_while_busy(exc, self._lock_wait_s, self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def connect(path: str, *, lock_wait_s: float = LOCK_WAIT_S) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine`` opening ``path`` inline.

    The connection has no busy handler (``timeout=0``): a lock held by another
    connection is waited for in the event loop, for up to ``lock_wait_s`` seconds.
    """

    async def creator() -> InlineConnection:
        conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
        return InlineConnection(conn, lock_wait_s)

    return creator
