"""Statements run on the driver (``core.driver_sql``): one row, a few (on PostgreSQL one
statement each, or one INSERT of several VALUES rows when nothing comes back) or many
(``executemany``), every row stored and the values they return in the order of the rows,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Table, text

from rider_api.core.driver_sql import DriverCursor, insert_rows
from rider_api.db.engine import make_async_engine
from rider_api.db.migrate import upgrade
from rider_api.models import OutboxMessage

_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_COLUMNS = ("topic", "payload", "qos", "retain", "created_at", "not_before", "sent_at")
_INSERT = insert_rows(_OUTBOX, _COLUMNS, returning="id")
_INSERT_NOTHING_BACK = insert_rows(_OUTBOX, _COLUMNS)


def _row(topic: str) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    return {
        "topic": topic,
        "payload": topic.encode(),
        "qos": 1,
        "retain": True,
        "created_at": now,
        "not_before": now,
        "sent_at": None,
    }


@pytest.mark.parametrize("count", [1, 2, 4, 5, 12])
async def test_returned_ids_follow_the_rows(any_database_url: str, count: int) -> None:
    upgrade(any_database_url)
    engine = make_async_engine(any_database_url)
    try:
        topics = [f"t/{count}/{i}" for i in range(count)]
        async with engine.begin() as conn, DriverCursor(conn) as db:
            ids = await _INSERT.execute(db, [_row(t) for t in topics])
            extras = [f"extra/{count}/{i}" for i in range(count)]
            assert await _INSERT_NOTHING_BACK.execute(db, [_row(t) for t in extras]) == []
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT id, topic FROM outboxmessage"))
            stored: dict[int, str] = {int(r[0]): str(r[1]) for r in result.all()}
        assert [stored[i] for i in ids] == topics
        assert ids == sorted(ids)
        assert sorted(stored.values()) == sorted([*topics, *extras])
    finally:
        await engine.dispose()
