"""The tap outbox: every DriverEvent is stored before it is sent, so no tap is lost.

A tap is written to a local SQLite file (in the display's state directory) and stays
pending until the server's receipt for it arrives (``applied``, ``duplicate`` or
``refused``; see ``broker_config.device.receipts``): the broker's PUBACK is not enough,
the broker may have had nobody to give it to. After a restart the pending taps are sent
again, in the order they were made. The outbox is the display's ``PendingStore``; it
also keeps settled taps for a day (``recent``) so the screen still shows them after a
reboot, with the refusal's reason. SQLite runs in one worker thread
(``broker_config.device.sqlite_file``), so the event loop never waits on the disk.

Schema versions (``PRAGMA user_version``): 0/1 marked a tap done on PUBACK (``sent_at``);
2 adds ``receipt_at`` and ``outcome``. Opening an older file upgrades it in place: taps
the broker had refused stay done, the others the broker had acknowledged are pending
again and go out once more (the server answers a copy it has applied with
``duplicate``, and applies one that was lost).

``MemoryOutbox`` keeps taps in memory only: for simulators running hundreds of
displays in one process, where a lost tap on crash does not matter.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, cast

from broker_config.device.receipts import Outcome
from broker_config.device.sqlite_file import SqliteFile, SqliteFileError
from broker_config.messages import DriverEvent, decode, encode

__all__ = ["MemoryOutbox", "Outbox", "OutboxError", "SqliteOutbox", "StoredTap"]

SCHEMA_VERSION = 2

# Version 1, as it was shipped (a new file starts here too, then upgrades).
_SCHEMA_V1 = """
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

# Version 2: a tap is done at its receipt. ``rejected`` keeps the refusal's reason,
# ``sent_at`` is no longer written.
_UPGRADE_V2 = """
ALTER TABLE taps ADD COLUMN receipt_at REAL;
ALTER TABLE taps ADD COLUMN outcome TEXT;
UPDATE taps SET receipt_at = coalesce(sent_at, created_at), outcome = 'refused'
    WHERE rejected IS NOT NULL;
DROP INDEX IF EXISTS taps_unsent;
CREATE INDEX IF NOT EXISTS taps_pending ON taps (seq) WHERE receipt_at IS NULL;
"""


class OutboxError(SqliteFileError):
    """The outbox could not read or write its file (disk full, corrupt database ...)."""


@dataclass(frozen=True, slots=True)
class StoredTap:
    """A tap as the outbox keeps it: ``outcome`` None while it waits for its receipt."""

    event: DriverEvent
    outcome: Outcome | None = None
    detail: str | None = None


class Outbox(Protocol):
    """Durable store of the driver's answers until the server has them."""

    async def add(self, event: DriverEvent) -> None: ...

    async def pending(self) -> list[DriverEvent]:
        """Taps without a receipt yet, oldest first."""
        ...

    async def settle(self, event_id: uuid.UUID, outcome: Outcome, detail: str | None) -> None:
        """The tap's receipt (or a final refusal) arrived: never send it again."""
        ...

    async def recent(self, since: float) -> list[StoredTap]:
        """Taps made since ``since`` (POSIX seconds), settled or not, oldest first."""
        ...

    async def prune(self, before: float) -> int:
        """Forget settled taps made before ``before`` (POSIX seconds); pending ones stay."""
        ...


class SqliteOutbox:
    """The outbox in a SQLite file; ``async with`` opens and closes it."""

    def __init__(self, path: Path, *, executor: Executor | None = None) -> None:
        self.path = path
        self._file = SqliteFile(
            path, setup=_upgrade, what="tap outbox", error=OutboxError, executor=executor
        )

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

    async def add(self, event: DriverEvent) -> None:
        payload = encode(event)
        event_id = str(event.id)

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO taps (id, payload, created_at) VALUES (?, ?, ?)",
                (event_id, payload, time.time()),
            )

        await self._file.run(insert)

    async def pending(self) -> list[DriverEvent]:
        def select(db: sqlite3.Connection) -> list[bytes]:
            query = "SELECT payload FROM taps WHERE receipt_at IS NULL ORDER BY seq"
            return [bytes(r[0]) for r in db.execute(query).fetchall()]

        return [decode(DriverEvent, p) for p in await self._file.run(select)]

    async def settle(self, event_id: uuid.UUID, outcome: Outcome, detail: str | None) -> None:
        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE taps SET receipt_at = ?, outcome = ?, rejected = ? "
                "WHERE id = ? AND receipt_at IS NULL",
                (time.time(), outcome, detail if outcome == "refused" else None, str(event_id)),
            )

        await self._file.run(update)

    async def recent(self, since: float) -> list[StoredTap]:
        def select(db: sqlite3.Connection) -> list[tuple[bytes, str | None, str | None]]:
            rows = db.execute(
                "SELECT payload, outcome, rejected FROM taps WHERE created_at >= ? ORDER BY seq",
                (since,),
            ).fetchall()
            return [(bytes(r[0]), r[1], r[2]) for r in rows]

        return [
            StoredTap(decode(DriverEvent, payload), cast("Outcome | None", outcome), detail)
            for payload, outcome, detail in await self._file.run(select)
        ]

    async def prune(self, before: float) -> int:
        """Forget settled taps made before ``before`` (POSIX seconds); pending ones stay."""

        def delete(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "DELETE FROM taps WHERE receipt_at IS NOT NULL AND created_at < ?", (before,)
            )
            return cur.rowcount

        return await self._file.run(delete)


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring the file to SCHEMA_VERSION, in one transaction."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _statements(_SCHEMA_V1):
            conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(taps)")}
        if "receipt_at" not in columns:
            for statement in _statements(_UPGRADE_V2):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    # executescript would commit the transaction first; these hold no ';' in literals.
    return [part.strip() for part in script.split(";") if part.strip()]


class MemoryOutbox:
    """The outbox in memory (lost with the process): for simulators and tests."""

    def __init__(self) -> None:
        self._taps: dict[uuid.UUID, tuple[StoredTap, float]] = {}

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
        self._taps.setdefault(event.id, (StoredTap(event), time.time()))

    async def pending(self) -> list[DriverEvent]:
        return [tap.event for tap, _at in self._taps.values() if tap.outcome is None]

    async def settle(self, event_id: uuid.UUID, outcome: Outcome, detail: str | None) -> None:
        found = self._taps.get(event_id)
        if found is not None and found[0].outcome is None:
            tap, at = found
            kept = detail if outcome == "refused" else None
            self._taps[event_id] = (StoredTap(tap.event, outcome, kept), at)

    async def recent(self, since: float) -> list[StoredTap]:
        return [tap for tap, at in self._taps.values() if at >= since]

    async def prune(self, before: float) -> int:
        old = [k for k, (tap, at) in self._taps.items() if tap.outcome is not None and at < before]
        for key in old:
            del self._taps[key]
        return len(old)
