"""The inline SQLite shim: SQLAlchemy internals it relies on, and locks held elsewhere.

An inline connection runs on the event loop thread, so it must never wait for a lock
inside SQLite's busy handler: another process holding the write lock would stall the
loop. It waits in the loop instead (``rider_api.db.sqlite_inline``).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.connectors import asyncio as sa_asyncio_connector
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import engine as sa_asyncio_engine
from sqlmodel import select

from rider_api.db import sqlite_inline
from rider_api.db.engine import WriteGate, make_async_engine, make_sync_engine, session_factory
from rider_api.db.migrate import upgrade
from rider_api.models import NetworkMeta

logger = logging.getLogger(__name__)

#: Bounds every wait on the other process, so a broken test fails instead of hanging.
PROCESS_TIMEOUT_S = 30.0

# ---------------------------------------------------------------------------------------
# SQLAlchemy internals the shim stands in for
# ---------------------------------------------------------------------------------------

SHIM = "rider_api/db/sqlite_inline.py"


def _changed(what: str) -> str:
    return (
        f"SQLAlchemy {sqlalchemy.__version__} changed its PRIVATE aiosqlite adapter: {what}. "
        f"{SHIM} emulates aiosqlite for exactly that adapter (connection, cursor, the _tx "
        f"queue): review the shim against the new sqlalchemy/dialects/sqlite/aiosqlite.py "
        f"and sqlalchemy/connectors/asyncio.py, then update this test and the SQLAlchemy "
        f"pin in pyproject.toml."
    )


def _attributes_used(cls: type, owner: str) -> set[str]:
    """Names ``X`` in ``self.<owner>.X`` anywhere in the SQLAlchemy classes of ``cls``."""
    found: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("sqlalchemy."):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "self"
                and node.value.attr == owner
            ):
                found.add(node.attr)
    return found


def _source(function: Callable[..., Any]) -> str:
    return " ".join(inspect.getsource(function).split())


#: What SQLAlchemy's adapter reads on the driver connection (``self._connection.X``).
CONNECTION_ATTRIBUTES = {
    "_conn",  # the sqlite3 connection, for the isolation-level setter
    "_connection",  # truthy while open (commit, rollback skip a closed one)
    "_tx",  # aiosqlite's request queue: put_nowait((future, function))
    "close",
    "commit",
    "create_function",
    "isolation_level",
    "rollback",
    "stop",  # terminate when a graceful close fails
}
#: What it reads on the driver cursor (``self._cursor.X``).
CURSOR_ATTRIBUTES = {
    "__aiter__",
    "arraysize",
    "close",
    "description",
    "execute",
    "executemany",
    "fetchall",
    "fetchmany",
    "fetchone",
    "lastrowid",
    "nextset",
    "rowcount",
    "setinputsizes",
}
#: Used by the generic asyncio cursor but never by the SQLite dialect (aiosqlite's own
#: cursor has neither): the shim leaves them out.
CURSOR_ATTRIBUTES_NOT_CALLED_FOR_SQLITE = {"nextset", "setinputsizes"}


def test_sqlalchemy_is_the_minor_version_the_shim_was_checked_against() -> None:
    assert sqlalchemy.__version__.startswith("2.1."), _changed(
        f"version {sqlalchemy.__version__} is outside the 2.1 series pinned in pyproject.toml"
    )


def test_adapter_uses_only_the_connection_attributes_the_shim_has(tmp_path: Path) -> None:
    used = _attributes_used(sa_aiosqlite.AsyncAdapt_aiosqlite_connection, "_connection")
    assert used == CONNECTION_ATTRIBUTES, _changed(
        f"AsyncAdapt_aiosqlite_connection now uses driver-connection attributes "
        f"{sorted(used - CONNECTION_ATTRIBUTES)} and no longer "
        f"{sorted(CONNECTION_ATTRIBUTES - used)}"
    )
    conn = sqlite_inline.InlineConnection(sqlite3.connect(tmp_path / "a.db"))
    try:
        missing = sorted(name for name in used if not hasattr(conn, name))
        assert not missing, _changed(f"InlineConnection lacks {missing}")
        assert callable(conn._tx.put_nowait), _changed("the _tx queue lost put_nowait")
    finally:
        conn.stop()


@pytest.mark.parametrize(
    "cursor_class",
    [sa_aiosqlite.AsyncAdapt_aiosqlite_cursor, sa_aiosqlite.AsyncAdapt_aiosqlite_ss_cursor],
)
def test_adapter_uses_only_the_cursor_attributes_the_shim_has(
    cursor_class: type[sa_asyncio_connector.AsyncAdapt_dbapi_cursor], tmp_path: Path
) -> None:
    used = _attributes_used(cursor_class, "_cursor")
    assert used <= CURSOR_ATTRIBUTES, _changed(
        f"{cursor_class.__name__} now uses driver-cursor attributes "
        f"{sorted(used - CURSOR_ATTRIBUTES)}"
    )
    conn = sqlite_inline.InlineConnection(sqlite3.connect(tmp_path / "c.db"))
    try:
        cursor = conn.cursor()
        missing = {name for name in used if not hasattr(cursor, name)}
        assert missing <= CURSOR_ATTRIBUTES_NOT_CALLED_FOR_SQLITE, _changed(
            f"InlineCursor lacks {sorted(missing)}"
        )
    finally:
        conn.stop()
    assert cursor_class._awaitable_cursor_close is True, _changed(
        f"{cursor_class.__name__}._awaitable_cursor_close is no longer True "
        f"(the shim's cursor.close is a coroutine)"
    )


#: Exact code the shim's protocol depends on, per adapter function (whitespace-normalised).
ADAPTER_CODE = [
    (
        sa_asyncio_engine.create_async_engine,
        "sync_engine.dialect.dbapi.connect( # type: ignore[union-attr] # noqa: E501 "
        "async_creator_fn=async_creator )",
        "async_creator reaches the dbapi as connect(async_creator_fn=...)",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi.connect,
        'creator_fn = kw.pop("async_creator_fn", None)',
        "the dbapi takes the async creator from kw['async_creator_fn']",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi.connect,
        "connection = creator_fn(*arg, **kw)",
        "the dbapi calls the async creator to get an awaitable",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi.connect,
        "return AsyncAdapt_aiosqlite_connection(self, await_(connection))",
        "the dbapi wraps the awaited driver connection",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.isolation_level.fset,  # type: ignore[attr-defined]
        "function = partial(set_iso, self._connection._conn, value)",
        "the isolation-level setter sets it on driver_connection._conn",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.isolation_level.fset,  # type: ignore[attr-defined]
        "self._connection._tx.put_nowait((future, function))",
        "the isolation-level setter sends (future, function) to driver_connection._tx",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.isolation_level.fget,  # type: ignore[attr-defined]
        "return cast(str, self._connection.isolation_level)",
        "the isolation-level getter reads driver_connection.isolation_level",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.create_function,
        "await_(self._connection.create_function(*args, **kw))",
        "create_function awaits driver_connection.create_function",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.commit,
        "if self._connection._connection: super().commit()",
        "commit checks driver_connection._connection",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.rollback,
        "if self._connection._connection: super().rollback()",
        "rollback checks driver_connection._connection",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.close,
        "await_(self._connection.close())",
        "close awaits driver_connection.close()",
    ),
    (
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection._terminate_force_close,
        "meth = self._connection.stop",
        "terminate calls driver_connection.stop()",
    ),
    (
        sa_asyncio_connector.AsyncAdapt_dbapi_connection.commit,
        "await_(self._connection.commit())",
        "commit awaits driver_connection.commit()",
    ),
    (
        sa_asyncio_connector.AsyncAdapt_dbapi_connection.rollback,
        "await_(self._connection.rollback())",
        "rollback awaits driver_connection.rollback()",
    ),
    (
        sa_asyncio_connector.AsyncAdapt_dbapi_cursor._make_new_cursor,
        "return connection.cursor()",
        "a cursor comes from driver_connection.cursor() (no arguments, not awaited)",
    ),
    (
        sa_asyncio_connector.AsyncAdapt_dbapi_cursor._aenter_cursor,
        "await_(cursor.__aenter__())",
        "the cursor is entered with __aenter__",
    ),
    (
        sa_asyncio_connector.AsyncAdapt_dbapi_cursor._execute_async,
        "result = await self._cursor.execute(operation, parameters)",
        "execute awaits driver_cursor.execute(operation, parameters)",
    ),
    (
        sa_asyncio_connector.AsyncAdapt_dbapi_cursor._execute_async,
        "self._rows = collections.deque(await self._cursor.fetchall())",
        "results are read with an awaited fetchall()",
    ),
    (
        sa_asyncio_connector.AsyncAdapt_dbapi_cursor._executemany_async,
        "return await self._cursor.executemany(operation, seq_of_parameters)",
        "executemany awaits driver_cursor.executemany(operation, seq)",
    ),
    (
        sa_aiosqlite.SQLiteDialect_aiosqlite.get_driver_connection,
        "return connection._connection",
        "the driver connection is AsyncAdapt_aiosqlite_connection._connection",
    ),
]


@pytest.mark.parametrize(
    ("function", "code", "meaning"), ADAPTER_CODE, ids=[m for _, _, m in ADAPTER_CODE]
)
def test_adapter_code_the_shim_emulates_is_unchanged(
    function: Callable[..., Any], code: str, meaning: str
) -> None:
    assert code in _source(function), _changed(
        f"{function.__qualname__} no longer contains `{code}` ({meaning})"
    )


def test_adapter_signatures_are_unchanged() -> None:
    expected: dict[Callable[..., Any], str] = {
        sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi.connect: (
            "(self, *arg: 'Any', **kw: 'Any') -> 'AsyncAdapt_aiosqlite_connection'"
        ),
        sa_aiosqlite.AsyncAdapt_aiosqlite_connection.__init__: (
            "(self, dbapi: 'Any', connection: 'AsyncIODBAPIConnection')"
        ),
        sa_asyncio_connector.AsyncAdapt_dbapi_cursor.__init__: (
            "(self, adapt_connection: 'AsyncAdapt_dbapi_connection')"
        ),
    }
    for function, signature in expected.items():
        actual = str(inspect.signature(function))
        assert actual == signature, _changed(f"{function.__qualname__}{actual} (was {signature})")


def test_sqlalchemy_recognises_the_shims_sqlite3_errors() -> None:
    dbapi = sa_aiosqlite.SQLiteDialect_aiosqlite.import_dbapi()
    for name in ("Error", "DatabaseError", "OperationalError", "IntegrityError"):
        assert getattr(dbapi, name) is getattr(sqlite3, name), _changed(
            f"the dialect's {name} is no longer sqlite3.{name}, which the shim raises"
        )
    assert issubclass(sqlite_inline.DatabaseLockedError, dbapi.OperationalError)


async def test_engine_runs_on_the_shim_end_to_end(tmp_path: Path) -> None:
    """The adapter drives the shim: creator, pragmas, isolation level, rows, terminate."""
    engine = make_async_engine(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, sqlite_inline.InlineConnection)
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": 1}, {"x": 2}])
            await conn.commit()
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("INSERT INTO t VALUES (3)"))
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT x FROM t ORDER BY x"))
            assert rows.scalars().all() == [1, 2, 3]
            streamed = await conn.stream(text("SELECT x FROM t ORDER BY x"))
            assert [x async for x in streamed.scalars()] == [1, 2, 3]
            raw = await conn.get_raw_connection()
            assert raw.dbapi_connection is not None
            raw.dbapi_connection.terminate()
            raw.invalidate()
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------------------------
# Locks held by another connection: waited for in the loop, never in SQLite's busy handler
# ---------------------------------------------------------------------------------------


async def test_inline_connections_have_no_busy_handler(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = make_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 0
    finally:
        await engine.dispose()
    sync = make_sync_engine(url)  # off the loop: SQLite's busy handler is fine there
    try:
        with sync.connect() as conn:
            assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 5000
    finally:
        sync.dispose()


#: Another process: takes the write lock, writes a row, says "locked", holds the lock
#: (for argv[2] seconds, or until ended when that is 0), commits, says "released".
HOLDER = """
import sqlite3, sys, time
path, hold_s = sys.argv[1], float(sys.argv[2])
conn = sqlite3.connect(path, timeout=10, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO networkmeta (key, value) VALUES ('holder', 'x')")
print("locked", flush=True)
if hold_s > 0:
    time.sleep(hold_s)
else:
    sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


@asynccontextmanager
async def write_lock_held_by_another_process(
    db: Path, hold_s: float
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Yields once the other process holds the write lock; ends it (by its PID) after."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(db),
        str(hold_s),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), PROCESS_TIMEOUT_S)
        assert line == b"locked\n", line
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_S)


class LoopTicker:
    """Wakes every 10 ms on the loop and records the longest gap between wake-ups."""

    def __init__(self) -> None:
        self.longest_gap_s = 0.0
        self._started = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        self._started.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            self.longest_gap_s = max(self.longest_gap_s, now - last)
            last = now

    async def __aenter__(self) -> LoopTicker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._started.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


async def _migrated_engine(db: Path, **kwargs: Any) -> AsyncEngine:
    url = f"sqlite:///{db}"
    await asyncio.to_thread(upgrade, url)
    engine = make_async_engine(url, **kwargs)
    async with engine.connect() as conn:  # the pool holds a connection, as in the server
        await conn.execute(text("SELECT 1"))
    return engine


async def test_a_lock_held_by_another_process_does_not_stall_the_loop(tmp_path: Path) -> None:
    db = tmp_path / "held.db"
    engine = await _migrated_engine(db)
    sessions = session_factory(engine)
    gate = WriteGate(engine)
    hold_s = 1.5
    try:
        async with write_lock_held_by_another_process(db, hold_s) as holder:
            async with LoopTicker() as ticker:
                async with gate(), sessions() as s, s.begin():
                    s.add(NetworkMeta(key="inline", value="y"))
                    # Flushes the insert, which waits for the other process's lock.
                    held = await s.exec(select(NetworkMeta).where(NetworkMeta.key == "holder"))
                    seen = held.all()
            assert holder.stdout is not None
            line = await asyncio.wait_for(holder.stdout.readline(), PROCESS_TIMEOUT_S)
            assert line == b"released\n"
        # The insert went in after the other process committed, inside one transaction.
        assert [m.value for m in seen] == ["x"]
        async with sessions() as s:
            rows = (await s.exec(select(NetworkMeta.key).order_by(NetworkMeta.key))).all()
            assert {"holder", "inline"} <= set(rows)
        logger.info("longest event-loop gap while the lock was held: %.3f s", ticker.longest_gap_s)
        # A correctness bound, not a benchmark: before the fix the loop was blocked for
        # the whole time the other process held the lock (1.5 s); waiting in the loop,
        # the ticker wakes every few tens of ms. 0.5 s leaves room for a slow machine.
        assert ticker.longest_gap_s < 0.5, ticker.longest_gap_s
    finally:
        await engine.dispose()


async def test_a_lock_held_past_the_wait_fails_clearly_instead_of_hanging(
    tmp_path: Path,
) -> None:
    db = tmp_path / "stuck.db"
    engine = await _migrated_engine(db, sqlite_lock_wait_s=0.3)
    sessions = session_factory(engine)
    gate = WriteGate(engine)

    async def write(key: str) -> None:
        async with gate(), sessions() as s, s.begin():
            s.add(NetworkMeta(key=key, value="y"))

    try:
        async with write_lock_held_by_another_process(db, 0) as holder:  # until ended
            async with LoopTicker() as ticker:
                with pytest.raises(OperationalError, match="database is locked") as caught:
                    await asyncio.wait_for(write("late"), PROCESS_TIMEOUT_S)
            assert isinstance(caught.value.orig, sqlite_inline.DatabaseLockedError)
            assert "more than 0.3 s" in str(caught.value.orig)
            assert caught.value.orig.sqlite_errorname == "SQLITE_BUSY"
            assert ticker.longest_gap_s < 0.5, ticker.longest_gap_s  # a bound, see above
            assert holder.stdin is not None
            holder.stdin.write(b"release\n")
            assert holder.stdout is not None
            line = await asyncio.wait_for(holder.stdout.readline(), PROCESS_TIMEOUT_S)
            assert line == b"released\n"
        await write("later")  # the pool's connection is still good
        async with sessions() as s:
            rows = (await s.exec(select(NetworkMeta.key))).all()
            assert "later" in rows
            assert "late" not in rows
    finally:
        await engine.dispose()


async def test_a_busy_commit_is_retried_with_the_transaction_intact(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In rollback-journal mode COMMIT needs every reader gone, so it can meet SQLITE_BUSY."""
    db = tmp_path / "journal.db"
    setup = sqlite3.connect(db)
    setup.execute("PRAGMA journal_mode=DELETE")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.commit()
    setup.close()
    inline = await sqlite_inline.connect(str(db))()
    reader = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT * FROM t").fetchall()  # holds a shared lock
        cursor = inline.cursor()
        await cursor.execute("INSERT INTO t VALUES (1)")
        with caplog.at_level(logging.INFO, logger=sqlite_inline.__name__):
            commit = asyncio.get_running_loop().create_task(inline.commit())
            await asyncio.sleep(0)  # one loop turn: the commit meets the reader's lock
            assert not commit.done()
            reader.execute("COMMIT")
            await asyncio.wait_for(commit, PROCESS_TIMEOUT_S)
        assert any("waited" in r.getMessage() for r in caplog.records)
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        reader.close()
        await inline.close()


async def test_a_stale_snapshot_fails_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLITE_BUSY_SNAPSHOT: no retry can succeed, so none is made (as SQLite's own)."""
    db = tmp_path / "snap.db"
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x INTEGER)")
    inline = await sqlite_inline.connect(str(db))()
    try:
        inline._conn.isolation_level = None
        cursor = inline.cursor()
        await cursor.execute("BEGIN")
        await cursor.execute("SELECT * FROM t")
        await cursor.fetchall()
        other.execute("INSERT INTO t VALUES (1)")  # commits after our snapshot
        with caplog.at_level(logging.INFO, logger=sqlite_inline.__name__):
            with pytest.raises(sqlite3.OperationalError) as caught:
                await cursor.execute("INSERT INTO t VALUES (2)")
        assert caught.value.sqlite_errorname == "SQLITE_BUSY_SNAPSHOT"
        assert not isinstance(caught.value, sqlite_inline.DatabaseLockedError)
        assert not caplog.records
    finally:
        other.close()
        await inline.close()


def _busy() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY
    error.sqlite_errorname = "SQLITE_BUSY"
    return error


async def test_the_isolation_level_queue_retries_a_busy_commit(tmp_path: Path) -> None:
    inline = await sqlite_inline.connect(str(tmp_path / "q.db"))()
    calls = 0

    def busy_once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise _busy()
        return "done"

    def broken() -> None:
        raise sqlite3.OperationalError("no such table: nope")

    try:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        inline._tx.put_nowait((future, busy_once))
        assert not future.done()
        assert await asyncio.wait_for(future, PROCESS_TIMEOUT_S) == "done"
        assert calls == 2
        failed: asyncio.Future[Any] = loop.create_future()
        inline._tx.put_nowait((failed, broken))
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await failed
    finally:
        await inline.close()
