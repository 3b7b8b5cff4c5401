"""The relay in isolation (a fake broker session): ordering and wake-ups."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from broker_config.errors import OutgoingQueueFullError
from broker_config.session import MqttSession, Sent
from rider_api.db.engine import WriteGate, make_async_engine, session_factory
from rider_api.db.migrate import upgrade
from rider_api.db.unit_of_work import ChangeSet, OutboxRow
from rider_api.models import OutboxMessage
from rider_api.mqtt.outbox import OutboxRelay
from tests.support.waiting import eventually


class RecordingBroker:
    """Records publishes in the order sent. The next ``refuse`` sends fail as a full
    queue would; PUBACKs come once ``acks`` is set (at once by default)."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.arrived: asyncio.Queue[str] = asyncio.Queue()
        self.refuse = 0
        self.acks = asyncio.Event()
        self.acks.set()
        self.abandoned: list[str] = []

    def send(self, topic: str, payload: bytes, **_: Any) -> Sent:
        if self.refuse:
            self.refuse -= 1
            raise OutgoingQueueFullError("full")
        mid = len(self.published)
        self.published.append(topic)
        self.arrived.put_nowait(topic)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ack.set_result(None)
        return Sent(topic, mid, cast(Any, ack))

    async def acknowledged(self, sent: Sent, timeout: float | None = None) -> None:
        await self.acks.wait()
        await sent.ack

    def abandon(self, sent: Sent) -> None:
        self.abandoned.append(sent.topic)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite database for the relay's rows."""
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    upgrade(url)
    engine = make_async_engine(url)
    yield engine
    await engine.dispose()


async def test_a_wake_up_during_a_relay_pass_is_not_lost(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    broker = RecordingBroker()
    gate = WriteGate(db)

    async def add(topic: str) -> None:
        async with gate(), sessions() as s, s.begin():
            s.add(OutboxMessage(reservation_id=uuid.uuid4(), topic=topic, payload=b"{}"))

    class LateCommit(OutboxRelay):
        """A commit (and its wake-up) lands at the very end of the first pass."""

        passes = 0

        async def relay_once(self) -> tuple[bool, datetime | None]:
            result = await super().relay_once()
            self.passes += 1
            if self.passes == 1:
                await add("t/2")
                self.wake()
            return result

    relay = LateCommit(sessions, cast(MqttSession, broker), write_gate=gate)
    await add("t/1")
    async with relay:
        assert await asyncio.wait_for(broker.arrived.get(), 5) == "t/1"
        # No further commit: t/2 must still go out, at once.
        assert await asyncio.wait_for(broker.arrived.get(), 2) == "t/2"


async def test_rows_of_one_reservation_go_out_in_order(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    broker = RecordingBroker()
    rid = uuid.uuid4()
    async with sessions() as s, s.begin():
        for i in range(20):
            s.add(OutboxMessage(reservation_id=rid, topic=f"t/{i}", payload=b"{}"))
    async with OutboxRelay(sessions, cast(MqttSession, broker), batch_size=7):
        got = [await asyncio.wait_for(broker.arrived.get(), 5) for _ in range(20)]
    assert got == [f"t/{i}" for i in range(20)]


async def test_a_bookings_rows_go_out_from_its_commit_and_only_once(db: AsyncEngine) -> None:
    """Rows of a reservation created in the committing unit of work are sent by the
    commit itself (before the request's answer, with no turn of the event loop), then
    marked sent; a pass that reads them back does not send them again."""
    sessions = session_factory(db)
    broker = RecordingBroker()
    first_pass = asyncio.Event()

    class Counted(OutboxRelay):
        async def relay_once(self) -> tuple[bool, datetime | None]:
            result = await super().relay_once()
            first_pass.set()
            return result

    relay = Counted(sessions, cast(MqttSession, broker), mark_interval_s=0.01)
    async with relay:
        await asyncio.wait_for(first_pass.wait(), 5)
        rid = uuid.uuid4()
        async with sessions() as s, s.begin():
            rows = [
                OutboxMessage(reservation_id=rid, topic=f"t/{i}", payload=b"{}") for i in range(2)
            ]
            s.add_all(rows)
            await s.flush()
            handed = [
                OutboxRow(r.id or 0, rid, r.topic, r.payload, 1, True, fresh=True) for r in rows
            ]
        relay.committed(ChangeSet(outbox=True, outbox_rows=handed))
        assert broker.published == ["t/0", "t/1"], "sent by the commit, no await"
        relay.wake()  # a pass reads the rows back while they may still be unmarked
        await eventually(relay.backlog, lambda n: n == 0, what="rows marked sent")
        assert broker.published == ["t/0", "t/1"]


async def test_a_batch_of_rows_is_marked_sent_and_nothing_else(any_database_url: str) -> None:
    """Thirty rows go out and are marked in one batch (one statement on PostgreSQL, one
    per row on SQLite); a row not yet due stays unmarked."""
    upgrade(any_database_url)
    engine = make_async_engine(any_database_url)
    try:
        sessions = session_factory(engine)
        broker = RecordingBroker()
        rid = uuid.uuid4()
        later = datetime.now(UTC) + timedelta(hours=1)
        async with sessions() as s, s.begin():
            s.add_all(
                OutboxMessage(reservation_id=rid, topic=f"t/{i}", payload=b"{}") for i in range(30)
            )
            s.add(OutboxMessage(reservation_id=rid, topic="later", payload=b"{}", not_before=later))

        async def stored() -> list[OutboxMessage]:
            async with sessions() as s:
                return list((await s.exec(select(OutboxMessage))).all())

        def marked(rows: list[OutboxMessage]) -> list[str]:
            return sorted(r.topic for r in rows if r.sent_at is not None)

        expected = sorted(f"t/{i}" for i in range(30))
        relay = OutboxRelay(sessions, cast(MqttSession, broker), mark_interval_s=0.05)
        async with relay:
            rows = await eventually(
                stored, lambda rows: marked(rows) == expected, what="rows marked sent"
            )
        assert [r.topic for r in rows if r.sent_at is None] == ["later"]
        assert broker.published == [f"t/{i}" for i in range(30)]
    finally:
        await engine.dispose()


class FirstPass(OutboxRelay):
    """Counts its passes; ``first`` is set after the first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes = 0
        self.first = asyncio.Event()

    async def relay_once(self) -> tuple[bool, datetime | None]:
        result = await super().relay_once()
        self.passes += 1
        self.first.set()
        return result


async def store(
    sessions: Any, rid: uuid.UUID, topics: list[str], *, fresh: bool
) -> list[OutboxRow]:
    """Commit one outbox row per topic for ``rid``; the rows as a commit hands them over."""
    async with sessions() as s, s.begin():
        rows = [OutboxMessage(reservation_id=rid, topic=t, payload=b"{}") for t in topics]
        s.add_all(rows)
        await s.flush()
        return [OutboxRow(r.id or 0, rid, r.topic, r.payload, 1, True, fresh=fresh) for r in rows]


async def test_a_later_row_never_overtakes_a_booking_row_that_failed(db: AsyncEngine) -> None:
    """The booking's rows fail to go out from the commit (a full queue); a later row of
    the same reservation is handed over before the relay retries: it goes out last."""
    sessions = session_factory(db)
    broker = RecordingBroker()
    relay = FirstPass(sessions, cast(MqttSession, broker), mark_interval_s=0.01)
    async with relay:
        await asyncio.wait_for(relay.first.wait(), 5)
        rid = uuid.uuid4()
        booked = await store(sessions, rid, ["call", "alert"], fresh=True)
        broker.refuse = 2
        relay.committed(ChangeSet(outbox=True, outbox_rows=booked))
        cleared = await store(sessions, rid, ["clear"], fresh=False)
        relay.committed(ChangeSet(outbox=True, outbox_rows=cleared))
        await eventually(relay.backlog, lambda n: n == 0, what="every row sent")
    assert broker.published == ["call", "alert", "clear"]


async def test_a_pass_waits_for_rows_sent_from_commits_instead_of_spinning(
    db: AsyncEngine,
) -> None:
    """Rows sent from their commits, PUBACKs not in yet, fill a pass's batch: the pass
    settles them instead of reading them back again and again."""
    sessions = session_factory(db)
    broker = RecordingBroker()
    relay = FirstPass(sessions, cast(MqttSession, broker), batch_size=2, mark_interval_s=0.01)
    async with relay:
        await asyncio.wait_for(relay.first.wait(), 5)
        broker.acks.clear()
        booked = [await store(sessions, uuid.uuid4(), [f"b{n}"], fresh=True) for n in range(3)]
        passes = relay.passes
        # A pass falls due as the three bookings commit, before the relay's next turn.
        relay.wake()
        for rows in booked:
            relay.committed(ChangeSet(outbox=True, outbox_rows=rows))
        await asyncio.sleep(0.2)  # what a spinning relay would use to read again and again
        broker.acks.set()
        await eventually(relay.backlog, lambda n: n == 0, what="every row sent and marked")
        assert relay.passes - passes < 10
    assert broker.published == ["b0", "b1", "b2"]


async def test_a_stopped_relay_abandons_the_acknowledgements_it_no_longer_awaits(
    db: AsyncEngine,
) -> None:
    """Stopped (a follower now, or shutting down) with PUBACKs of rows sent from commits
    still out: the session is told to forget them as they come (it kept them until
    their packet ids came round again)."""
    sessions = session_factory(db)
    broker = RecordingBroker()
    relay = FirstPass(sessions, cast(MqttSession, broker), mark_interval_s=0.01)
    async with relay:
        await asyncio.wait_for(relay.first.wait(), 5)
        broker.acks.clear()
        for n in range(2):
            rows = await store(sessions, uuid.uuid4(), [f"call{n}", f"alert{n}"], fresh=True)
            relay.committed(ChangeSet(outbox=True, outbox_rows=rows))
        relay.wake()  # a pass settles what is in flight: its wait is cancelled by stop
        await asyncio.sleep(0)
    assert sorted(broker.abandoned) == ["alert0", "alert1", "call0", "call1"]
