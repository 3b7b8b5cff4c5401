"""PostgreSQL's pool hands out no dead connection, and pings only when in doubt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from rider_api.db import engine as engine_module
from rider_api.db.engine import make_async_engine


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    # One pooled connection: every checkout is the same one until it is replaced.
    engine = make_async_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def engine_of_two(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(postgres_url, pool_size=2, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    real = engine_module._ping

    def counted(dialect: Any, dbapi_conn: Any) -> None:
        seen.append(dbapi_conn)
        real(dialect, dbapi_conn)

    monkeypatch.setattr(engine_module, "_ping", counted)
    return seen


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def two_backend_pids(engine: AsyncEngine) -> set[int]:
    """Both pooled connections at once."""
    query = text("SELECT pg_backend_pid()")
    async with engine.connect() as one, engine.connect() as two:
        return {int((await c.execute(query)).scalar_one()) for c in (one, two)}


async def terminate(postgres_url: str, pid: int) -> None:
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


async def test_a_busy_connection_is_not_pinged(engine: AsyncEngine, pings: list[object]) -> None:
    first = await backend_pid(engine)
    for _ in range(20):
        assert await backend_pid(engine) == first
    assert pings == []


async def test_a_connection_the_server_ended_is_replaced_before_use(
    engine: AsyncEngine, pings: list[object], postgres_url: str
) -> None:
    first = await backend_pid(engine)
    await terminate(postgres_url, first)
    # Used again at once (no idle time): the server's goodbye on the socket is noticed,
    # the ping fails, and the request gets a new connection instead of an error.
    second = await backend_pid(engine)
    assert second != first
    assert len(pings) == 1


async def test_a_long_idle_connection_is_pinged(
    engine: AsyncEngine, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend_pid(engine)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)
    assert await backend_pid(engine) == first
    assert len(pings) == 1


async def test_one_failed_ping_retires_every_connection_pooled_before(
    engine_of_two: AsyncEngine, pings: list[object], postgres_url: str
) -> None:
    before = await two_backend_pids(engine_of_two)
    assert len(before) == 2
    for pid in before:
        await terminate(postgres_url, pid)
    # The first checkout's ping fails: the database was restarted, so the other pooled
    # connection is dropped unpinged and both come back new.
    after = await two_backend_pids(engine_of_two)
    assert len(after) == 2
    assert not after & before
    assert len(pings) == 1
