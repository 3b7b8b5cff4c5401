"""A device's pending events in a small SQLite file: they survive a restart, even kill -9.

``async with SqlitePendingStore(path, StopEvent) as store:`` is a ``PendingStore`` of
``broker_config.device.receipts``: an event is written (and synced) before it is sent,
and deleted once it is settled (receipt, refusal, withdrawn), so the file holds only
what still waits for the server. ``pending()`` gives the events in the order they were
made. A device that keeps a record of its settled events (the driver display's outbox)
has its own store.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import Executor
from pathlib import Path
from types import TracebackType
from typing import Generic, Self

from broker_config.device.receipts import E, Outcome
from broker_config.device.sqlite_file import SqliteFile
from broker_config.messages import decode, encode

__all__ = ["SqlitePendingStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    payload    BLOB NOT NULL,
    created_at REAL NOT NULL
)
"""


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(_SCHEMA)


class SqlitePendingStore(Generic[E]):
    """Pending events of type ``model`` in the SQLite file at ``path``."""

    def __init__(self, path: Path, model: type[E], *, executor: Executor | None = None) -> None:
        self.path = path
        self.model: type[E] = model
        self._file = SqliteFile(path, setup=_create, what="pending events", executor=executor)

    async def __aenter__(self) -> Self:
        await self._file.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._file.__aexit__(exc_type, exc, tb)

    async def add(self, event: E) -> None:
        payload = encode(event)
        event_id = str(event.id)

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO pending (id, payload, created_at) VALUES (?, ?, ?)",
                (event_id, payload, time.time()),
            )

        await self._file.run(insert)

    async def pending(self) -> list[E]:
        def select(db: sqlite3.Connection) -> list[bytes]:
            rows = db.execute("SELECT payload FROM pending ORDER BY seq").fetchall()
            return [bytes(r[0]) for r in rows]

        return [decode(self.model, p) for p in await self._file.run(select)]

    async def settle(self, event_id: uuid.UUID, outcome: Outcome, detail: str | None) -> None:
        def delete(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM pending WHERE id = ?", (str(event_id),))

        await self._file.run(delete)
