"""The tap outbox keeps taps across a restart, in order, until they are marked sent."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from broker_config.messages import CannotStopReason, DriverEvent, DriverEventType, utcnow
from driver_display.outbox import MemoryOutbox, SqliteOutbox


def _event(kind: DriverEventType = DriverEventType.ACKNOWLEDGED) -> DriverEvent:
    reason = CannotStopReason.BUS_FULL if kind is DriverEventType.CANNOT_STOP else None
    return DriverEvent(
        id=uuid.uuid4(), reservation_id=uuid.uuid4(), type=kind, reason=reason, at=utcnow()
    )


async def test_unsent_taps_survive_a_restart_in_order(tmp_path: Path) -> None:
    path = tmp_path / "taps.sqlite3"
    events = [_event(), _event(DriverEventType.CANNOT_STOP), _event(DriverEventType.BOARDED)]
    async with SqliteOutbox(path) as outbox:
        for e in events:
            await outbox.add(e)
        await outbox.add(events[0])  # the same tap twice is stored once
        await outbox.mark_sent(str(events[1].id))
        assert await outbox.unsent_count() == 2
    async with SqliteOutbox(path) as reopened:
        assert await reopened.unsent() == [events[0], events[2]]
        assert await reopened.recent(time.time() - 60) == events
        await reopened.mark_rejected(str(events[0].id), "not authorised")
        assert await reopened.unsent() == [events[2]]
        assert await reopened.prune(time.time() + 1) == 2
        assert await reopened.recent(0) == [events[2]]


async def test_memory_outbox_has_the_same_behaviour() -> None:
    events = [_event(), _event()]
    async with MemoryOutbox() as outbox:
        for e in events:
            await outbox.add(e)
        await outbox.mark_sent(str(events[0].id))
        assert await outbox.unsent() == [events[1]]
        assert await outbox.unsent_count() == 1
        assert await outbox.recent(0) == events
