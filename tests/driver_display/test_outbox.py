"""The tap outbox keeps taps across a restart, in order, until their receipt arrives."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

from broker_config.messages import CannotStopReason, DriverEvent, DriverEventType, encode, utcnow
from driver_display.outbox import SCHEMA_VERSION, MemoryOutbox, SqliteOutbox, StoredTap


def _event(kind: DriverEventType = DriverEventType.ACKNOWLEDGED) -> DriverEvent:
    reason = CannotStopReason.BUS_FULL if kind is DriverEventType.CANNOT_STOP else None
    return DriverEvent(
        id=uuid.uuid4(), reservation_id=uuid.uuid4(), type=kind, reason=reason, at=utcnow()
    )


async def test_pending_taps_survive_a_restart_in_order_until_settled(tmp_path: Path) -> None:
    path = tmp_path / "taps.sqlite3"
    events = [_event(), _event(DriverEventType.CANNOT_STOP), _event(DriverEventType.BOARDED)]
    async with SqliteOutbox(path) as outbox:
        for e in events:
            await outbox.add(e)
        await outbox.add(events[0])  # the same tap twice is stored once
        await outbox.settle(events[1].id, "applied", None)
        assert await outbox.pending() == [events[0], events[2]]
    async with SqliteOutbox(path) as reopened:
        assert await reopened.pending() == [events[0], events[2]]
        await reopened.settle(events[0].id, "refused", "the booking is cancelled")
        await reopened.settle(events[0].id, "applied", None)  # the first settlement stays
        assert await reopened.pending() == [events[2]]
        assert await reopened.recent(time.time() - 60) == [
            StoredTap(events[0], "refused", "the booking is cancelled"),
            StoredTap(events[1], "applied", None),
            StoredTap(events[2]),
        ]
        assert await reopened.prune(time.time() + 1) == 2
        assert await reopened.recent(0) == [StoredTap(events[2])]


async def test_memory_outbox_has_the_same_behaviour() -> None:
    events = [_event(), _event()]
    async with MemoryOutbox() as outbox:
        for e in events:
            await outbox.add(e)
        await outbox.settle(events[0].id, "duplicate", None)
        assert await outbox.pending() == [events[1]]
        assert await outbox.recent(0) == [StoredTap(events[0], "duplicate"), StoredTap(events[1])]
        assert await outbox.prune(time.time() + 1) == 1
        assert await outbox.pending() == [events[1]]


async def test_a_file_of_the_puback_era_is_upgraded_in_place(tmp_path: Path) -> None:
    """Taps marked sent on PUBACK go out once more; taps the broker refused stay done."""
    path = tmp_path / "taps.sqlite3"
    acked, refused, unsent = _event(), _event(), _event()
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE taps (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            payload BLOB NOT NULL, created_at REAL NOT NULL, sent_at REAL, rejected TEXT
        );
        CREATE INDEX taps_unsent ON taps (seq) WHERE sent_at IS NULL;
        """
    )
    now = time.time()
    rows = [
        (str(acked.id), encode(acked), now, now, None),
        (str(refused.id), encode(refused), now, now, "Not authorized"),
        (str(unsent.id), encode(unsent), now, None, None),
    ]
    conn.executemany(
        "INSERT INTO taps (id, payload, created_at, sent_at, rejected) VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()

    async with SqliteOutbox(path) as outbox:
        assert await outbox.pending() == [acked, unsent]
        assert await outbox.recent(0) == [
            StoredTap(acked),
            StoredTap(refused, "refused", "Not authorized"),
            StoredTap(unsent),
        ]
    async with SqliteOutbox(path) as again:  # a second open changes nothing
        assert await again.pending() == [acked, unsent]
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "taps_pending" in indexes
        assert "taps_unsent" not in indexes
    finally:
        check.close()
