"""The unit of work: its outbox messages, what it keeps of them, and its listeners, on
SQLite and PostgreSQL; on PostgreSQL, the pipeline that sends a unit of work's writes,
NOTIFY and COMMIT in one round trip."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import pq
from sqlmodel import col, select

from broker_config.messages import Announcement, Localized, utcnow
from rider_api.cluster.coordinator import CHANNEL, PostgresCoordinator
from rider_api.db.engine import WriteGate, libpq_conninfo, make_async_engine, session_factory
from rider_api.db.migrate import upgrade
from rider_api.db.unit_of_work import ChangeSet, UnitOfWork, UnitsOfWork
from rider_api.models import OutboxMessage

RID = uuid.uuid4()


def _message(text: str) -> Announcement:
    return Announcement(id=uuid.uuid4(), text=Localized.same(text))


@pytest.fixture
async def units(any_database_url: str) -> AsyncIterator[UnitsOfWork]:
    url = any_database_url
    upgrade(url)
    engine = make_async_engine(url)
    yield UnitsOfWork(session_factory(engine), WriteGate(engine))
    await engine.dispose()


async def _rows(units: UnitsOfWork) -> list[OutboxMessage]:
    async with units.sessions() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        return list((await session.exec(query)).all())


async def test_only_the_last_immediate_message_per_retained_topic_is_stored(
    units: UnitsOfWork,
) -> None:
    async with units() as uow:
        uow.enqueue("s/call", _message("pending"), reservation_id=RID, retain=True)
        uow.enqueue("v/alert", _message("alert"), reservation_id=RID, retain=True)
        uow.enqueue("s/call", _message("assigned"), reservation_id=RID, retain=True)
    rows = await _rows(units)
    assert [r.topic for r in rows] == ["v/alert", "s/call"]
    assert b"assigned" in rows[1].payload


async def test_a_message_enqueued_without_coalesce_is_kept(units: UnitsOfWork) -> None:
    async with units() as uow:
        uow.enqueue("s/call", _message("assigned"), reservation_id=RID, retain=True)
        uow.enqueue("s/call", _message("missed"), reservation_id=RID, retain=True, coalesce=False)
        uow.enqueue("s/call", _message("pending"), reservation_id=RID, retain=True)
        uow.enqueue("s/call", _message("assigned again"), reservation_id=RID, retain=True)
    payloads = [r.payload for r in await _rows(units)]
    assert len(payloads) == 2
    assert b"missed" in payloads[0]
    assert b"assigned again" in payloads[1]


async def test_messages_that_are_not_retained_are_all_kept(units: UnitsOfWork) -> None:
    async with units() as uow:
        for n in range(3):
            uow.enqueue("s/announce", _message(f"a{n}"), reservation_id=None)
    assert len(await _rows(units)) == 3


async def test_a_final_message_keeps_its_delayed_clear(units: UnitsOfWork) -> None:
    async with units() as uow:
        uow.enqueue("s/call", _message("ended"), reservation_id=RID, retain=True)
        uow.enqueue("s/call", None, reservation_id=RID, retain=True, delay_s=60, supersede=False)
    rows = await _rows(units)
    assert [(r.payload != b"", r.not_before > r.created_at) for r in rows] == [
        (True, False),
        (False, True),
    ]


async def test_a_new_message_supersedes_a_delayed_clear_in_this_unit_and_stored(
    units: UnitsOfWork,
) -> None:
    async with units() as uow:
        uow.enqueue("v/alert", None, reservation_id=RID, retain=True, delay_s=60)
    async with units() as uow:
        uow.enqueue("v/alert", _message("pickup over"), reservation_id=RID, retain=True)
        uow.enqueue("v/alert", None, reservation_id=RID, retain=True, delay_s=60, supersede=False)
        uow.enqueue("v/alert", _message("drop-off"), reservation_id=RID, retain=True)
    rows = await _rows(units)
    pending = [r for r in rows if r.sent_at is None]
    assert [r.payload != b"" for r in pending] == [True]
    assert b"drop-off" in pending[0].payload
    stored_clear = rows[0]
    assert stored_clear.sent_at is not None  # superseded: never sent


async def test_listeners_hear_each_commit_but_not_a_rollback(units: UnitsOfWork) -> None:
    heard: list[ChangeSet] = []
    units.after_commit(heard.append)
    async with units() as uow:
        uow.enqueue("s/announce", _message("hello"), reservation_id=None)
    assert len(heard) == 1
    assert heard[0].outbox

    async def fail_after_enqueue() -> None:
        async with units() as uow:
            uow.enqueue("s/announce", _message("lost"), reservation_id=None)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await fail_after_enqueue()
    assert len(heard) == 1
    assert len(await _rows(units)) == 1


async def test_a_failing_listener_does_not_fail_the_committed_change(
    units: UnitsOfWork, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_changes: ChangeSet) -> None:
        raise ValueError("listener bug")

    heard: list[ChangeSet] = []
    units.after_commit(broken)
    units.after_commit(heard.append)
    async with units() as uow:
        uow.enqueue("s/announce", _message("hello"), reservation_id=None)
    assert len(heard) == 1
    assert "after-commit listener" in caplog.text
    assert (await _rows(units))[0].created_at > utcnow() - timedelta(minutes=1)


# -- PostgreSQL: the commit's pipeline ---------------------------------------------------

pg_only = pytest.mark.postgres


@pytest.fixture
async def pg_units(fresh_postgres_url: str) -> AsyncIterator[UnitsOfWork]:
    upgrade(fresh_postgres_url)
    engine = make_async_engine(fresh_postgres_url)
    units = UnitsOfWork(session_factory(engine), WriteGate(engine))
    # The production hook: the cluster's NOTIFY, on the transaction's own connection.
    units.before_commit(PostgresCoordinator("one", fresh_postgres_url).before_commit)
    yield units
    await engine.dispose()


async def _pgconn(uow: UnitOfWork) -> pq.abc.PGconn:
    raw = await (await uow.connection()).get_raw_connection()
    return raw.driver_connection.pgconn  # type: ignore[union-attr, no-any-return]


def _round_trips(trace: str) -> list[str]:
    """The messages after which the client waits for the server: a simple Query, or the
    Sync that ends a run of extended-protocol messages (libpq's trace, ``F`` = sent)."""
    sent = [line.split("\t") for line in trace.splitlines() if line.startswith("F\t")]
    return [
        f"{fields[2]} {fields[3] if len(fields) > 3 else ''}".strip()
        for fields in sent
        if fields[2] in ("Query", "Sync")
    ]


async def _listen(url: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    conn = await psycopg.AsyncConnection.connect(libpq_conninfo(url), autocommit=True)
    await conn.execute(f"LISTEN {CHANNEL}")
    return conn


@pg_only
async def test_writes_notify_and_commit_go_in_one_round_trip(
    pg_units: UnitsOfWork, fresh_postgres_url: str, tmp_path: Path
) -> None:
    heard: list[ChangeSet] = []
    pg_units.after_commit(heard.append)
    listener = await _listen(fresh_postgres_url)
    trace = tmp_path / "libpq.trace"
    try:
        with trace.open("w") as out:
            async with pg_units() as uow:
                # A booking reads first (its limits), which begins the transaction.
                await (await (await uow.driver()).get()).execute("SELECT 1")
                pgconn = await _pgconn(uow)
                pgconn.trace(out.fileno())
                pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
                # A reservation's first messages (no stored clear to supersede), as a
                # booking's: the ORM is not needed.
                first = functools.partial(
                    uow.enqueue, reservation_id=RID, retain=True, supersede=False
                )
                first("s/call", _message("call"))
                first("v/alert", _message("alert"))
                uow.enqueue("s/announce", _message("hello"), reservation_id=None)
                first("s/call", None, delay_s=60)
            pgconn.untrace()
        notify = await anext(listener.notifies(timeout=10))
    finally:
        await listener.close()

    # Four INSERTs, the NOTIFY and COMMIT: one Sync (one by one: six round trips).
    assert _round_trips(trace.read_text()) == ["Sync"]
    assert notify.payload.startswith("one|o|")
    rows = await _rows(pg_units)
    assert [r.topic for r in rows] == ["s/call", "v/alert", "s/announce", "s/call"]
    # The relay is handed the rows due now, with the ids they were stored under.
    (changes,) = heard
    assert [(r.id, r.topic) for r in changes.outbox_rows] == [
        (r.id, r.topic) for r in rows if r.not_before <= r.created_at
    ]
    assert changes.outbox_due is not None


@pg_only
async def test_a_statement_failing_in_the_pipeline_commits_nothing(
    pg_units: UnitsOfWork, fresh_postgres_url: str
) -> None:
    heard: list[ChangeSet] = []
    pg_units.after_commit(heard.append)

    fail = True

    async def fails_after_the_writes(uow: UnitOfWork) -> None:
        if fail:
            cursor = await (await uow.driver()).get()
            await cursor.execute("SELECT 1 / 0")

    listener = await _listen(fresh_postgres_url)
    try:
        pg_units.before_commit(fails_after_the_writes)
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with pg_units() as uow:
                uow.enqueue("s/announce", _message("lost"), reservation_id=None)
        fail = False
        # The connection went back to the pool clean: the next unit of work commits.
        async with pg_units() as uow:
            uow.enqueue("s/announce", _message("kept"), reservation_id=None)
        # Everything delivered before a marker sent after both: the kept one's only.
        await listener.execute("SELECT pg_notify(%s, 'marker')", (CHANNEL,))
        heard_before_marker = []
        async for notify in listener.notifies(timeout=10):
            if notify.payload == "marker":
                break
            heard_before_marker.append(notify.payload)
    finally:
        await listener.close()
    rows = await _rows(pg_units)
    assert [b"kept" in r.payload for r in rows] == [True]
    assert len(heard) == 1
    assert [r.id for r in heard[0].outbox_rows] == [rows[0].id]
    # The failed transaction's NOTIFY, queued before the failure, was never delivered.
    assert heard_before_marker == ["one|o|"]


@pg_only
async def test_no_orm_session_is_opened_inside_the_pipeline(pg_units: UnitsOfWork) -> None:
    async def opens_a_session(uow: UnitOfWork) -> None:
        uow.session.add(OutboxMessage(topic="x", payload=b"", qos=1, retain=False))

    pg_units.before_commit(opens_a_session)
    with pytest.raises(RuntimeError, match="pipeline"):
        async with pg_units() as uow:
            uow.enqueue("s/announce", _message("lost"), reservation_id=None)
    assert await _rows(pg_units) == []


@pg_only
async def test_a_unit_of_work_with_an_orm_session_commits_statement_by_statement(
    pg_units: UnitsOfWork, tmp_path: Path
) -> None:
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        async with pg_units() as uow:
            pgconn = await _pgconn(uow)
            pgconn.trace(out.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            uow.session.add(OutboxMessage(topic="orm", payload=b"", qos=1, retain=False))
            uow.enqueue("s/announce", _message("hello"), reservation_id=None)
        pgconn.untrace()
    assert len(_round_trips(trace.read_text())) > 1
    assert sorted(r.topic for r in await _rows(pg_units)) == ["orm", "s/announce"]
