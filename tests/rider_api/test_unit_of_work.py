"""The unit of work: its outbox messages, what it keeps of them, and its listeners."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from broker_config.messages import Announcement, Localized, utcnow
from rider_api.db.engine import WriteGate, make_async_engine, session_factory
from rider_api.db.migrate import upgrade
from rider_api.db.unit_of_work import ChangeSet, UnitsOfWork
from rider_api.models import OutboxMessage

RID = uuid.uuid4()


def _message(text: str) -> Announcement:
    return Announcement(id=uuid.uuid4(), text=Localized.same(text))


@pytest.fixture
async def units(tmp_path: Path) -> AsyncIterator[UnitsOfWork]:
    url = f"sqlite:///{tmp_path / 'uow.db'}"
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
