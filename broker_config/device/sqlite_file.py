"""A device's small SQLite file, used from one worker thread so the event loop never waits.

``async with SqliteFile(path, setup=create_tables, what="tap outbox") as db:`` opens the
file (WAL, ``synchronous=FULL``: a device's events are few and each must survive a power
cut), runs ``setup(conn)`` once, and ``await db.run(fn)`` runs ``fn(conn)`` in the worker
thread. A ``sqlite3.Error`` comes out as ``error`` (an ``OSError``; SqliteFileError unless
the caller names its own), naming ``what`` and the path. The connection is in autocommit
mode: each statement is its own transaction unless ``fn`` begins one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

__all__ = ["SqliteFile", "SqliteFileError"]

T = TypeVar("T")


class SqliteFileError(OSError):
    """The file could not be read or written (disk full, corrupt database ...)."""


class SqliteFile:
    """One SQLite file and the thread it is used from; see the module docstring."""

    def __init__(
        self,
        path: Path,
        *,
        setup: Callable[[sqlite3.Connection], None],
        what: str = "database",
        error: Callable[[str], OSError] = SqliteFileError,
        executor: Executor | None = None,
    ) -> None:
        self.path = path
        self.what = what
        self._setup = setup
        self._error = error
        self._executor = executor
        self._own_executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        # Guards the connection when a shared executor has more than one thread.
        self._lock = threading.Lock()

    async def __aenter__(self) -> Self:
        if self._executor is None:
            self._own_executor = ThreadPoolExecutor(1, thread_name_prefix="bushail-sqlite")
            self._executor = self._own_executor
        try:
            await self._call(self._open)
        except BaseException:
            self._shutdown()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._executor is None:
            return  # never opened (or closed already)
        try:
            await self._call(self._close)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._own_executor is not None:
            self._own_executor.shutdown(wait=True)
            self._own_executor = None
            self._executor = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` in the worker thread."""
        return await self._call(lambda: fn(self._db()))

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError(f"the {self.what} is not open: use 'async with'")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._locked, fn)

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._lock:
            try:
                return fn()
            except sqlite3.Error as exc:
                raise self._error(f"{self.what} {self.path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the {self.what} is closed")
        return self._conn

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # A device event is small and rare: pay for a full sync so a power cut keeps it.
            conn.execute("PRAGMA synchronous=FULL")
            self._setup(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
