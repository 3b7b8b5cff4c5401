"""The tap outbox: every DriverEvent is stored before it is sent, so no tap is lost.

A tap is written to a local SQLite file (in the display's state directory) and only
marked sent once the broker has acknowledged it (PUBACK). After a restart the unsent
taps are sent again, in the order they were made. SQLite runs in one worker thread,
so the event loop never waits on the disk.

``MemoryOutbox`` keeps taps in memory only: for simulators running hundreds of
displays in one process, where a lost tap on crash does not matter.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, TypeVar

from broker_config.messages import DriverEvent, decode, encode

__all__ = ["MemoryOutbox", "Outbox", "OutboxError", "SqliteOutbox"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS taps (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    payload    BLOB NOT NULL,
    created_at REAL NOT NULL,
    sent_at    REAL,
    rejected   TEXT
);
CREATE INDEX IF NOT EXISTS taps_unsent ON taps (seq) WHERE sent_at IS NULL;
"""


class OutboxError(OSError):
    """The outbox could not read or write its file (disk full, corrupt database ...)."""


class Outbox(Protocol):
    """Durable store of the driver's answers until the broker has them."""

    async def add(self, event: DriverEvent) -> None: ...

    async def unsent(self) -> list[DriverEvent]:
        """Taps not yet acknowledged by the broker, oldest first."""
        ...

    async def mark_sent(self, event_id: str) -> None: ...

    async def mark_rejected(self, event_id: str, reason: str) -> None:
        """The broker refused it (e.g. ACL): never retry, keep it for the record."""
        ...

    async def recent(self, since: float) -> list[DriverEvent]:
        """Taps made since ``since`` (POSIX seconds), sent or not, oldest first."""
        ...

    async def unsent_count(self) -> int: ...

    async def prune(self, before: float) -> int:
        """Forget sent taps made before ``before`` (POSIX seconds); unsent ones stay."""
        ...


class SqliteOutbox:
    """The outbox in a SQLite file; ``async with`` opens and closes it."""

    def __init__(self, path: Path, *, executor: Executor | None = None) -> None:
        self.path = path
        self._executor = executor
        self._own_executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        # Guards the connection when a shared executor has more than one thread.
        self._lock = threading.Lock()

    async def __aenter__(self) -> Self:
        if self._executor is None:
            self._own_executor = ThreadPoolExecutor(1, thread_name_prefix="bushail-outbox")
            self._executor = self._own_executor
        await self._run(self._open)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._run(self._close)
        if self._own_executor is not None:
            self._own_executor.shutdown(wait=True)
            self._own_executor = None
            self._executor = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("the outbox is not open: use 'async with'")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._locked, fn)

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._lock:
            try:
                return fn()
            except sqlite3.Error as exc:
                raise OutboxError(f"tap outbox {self.path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the outbox is closed")
        return self._conn

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # A tap is small and rare: pay for a full sync so a power cut keeps it.
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def add(self, event: DriverEvent) -> None:
        payload = encode(event)
        event_id = str(event.id)

        def insert() -> None:
            self._db().execute(
                "INSERT OR IGNORE INTO taps (id, payload, created_at) VALUES (?, ?, ?)",
                (event_id, payload, time.time()),
            )

        await self._run(insert)

    async def unsent(self) -> list[DriverEvent]:
        def select() -> list[bytes]:
            rows = (
                self._db()
                .execute("SELECT payload FROM taps WHERE sent_at IS NULL ORDER BY seq")
                .fetchall()
            )
            return [bytes(r[0]) for r in rows]

        return [decode(DriverEvent, p) for p in await self._run(select)]

    async def mark_sent(self, event_id: str) -> None:
        def update() -> None:
            self._db().execute(
                "UPDATE taps SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                (time.time(), event_id),
            )

        await self._run(update)

    async def mark_rejected(self, event_id: str, reason: str) -> None:
        def update() -> None:
            self._db().execute(
                "UPDATE taps SET sent_at = ?, rejected = ? WHERE id = ?",
                (time.time(), reason, event_id),
            )

        await self._run(update)

    async def recent(self, since: float) -> list[DriverEvent]:
        def select() -> list[bytes]:
            rows = (
                self._db()
                .execute("SELECT payload FROM taps WHERE created_at >= ? ORDER BY seq", (since,))
                .fetchall()
            )
            return [bytes(r[0]) for r in rows]

        return [decode(DriverEvent, p) for p in await self._run(select)]

    async def unsent_count(self) -> int:
        def count() -> int:
            row = self._db().execute("SELECT count(*) FROM taps WHERE sent_at IS NULL").fetchone()
            return int(row[0])

        return await self._run(count)

    async def prune(self, before: float) -> int:
        """Forget sent taps made before ``before`` (POSIX seconds); unsent ones stay."""

        def delete() -> int:
            cur = self._db().execute(
                "DELETE FROM taps WHERE sent_at IS NOT NULL AND created_at < ?", (before,)
            )
            return cur.rowcount

        return await self._run(delete)


class MemoryOutbox:
    """The outbox in memory (lost with the process): for simulators and tests."""

    def __init__(self) -> None:
        self._taps: dict[str, tuple[DriverEvent, float, bool]] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def add(self, event: DriverEvent) -> None:
        self._taps.setdefault(str(event.id), (event, time.time(), False))

    async def unsent(self) -> list[DriverEvent]:
        return [e for e, _at, sent in self._taps.values() if not sent]

    async def mark_sent(self, event_id: str) -> None:
        if event_id in self._taps:
            event, at, _sent = self._taps[event_id]
            self._taps[event_id] = (event, at, True)

    async def mark_rejected(self, event_id: str, reason: str) -> None:
        await self.mark_sent(event_id)

    async def recent(self, since: float) -> list[DriverEvent]:
        return [e for e, at, _sent in self._taps.values() if at >= since]

    async def unsent_count(self) -> int:
        return sum(1 for _e, _at, sent in self._taps.values() if not sent)

    async def prune(self, before: float) -> int:
        old = [k for k, (_e, at, sent) in self._taps.items() if sent and at < before]
        for key in old:
            del self._taps[key]
        return len(old)
