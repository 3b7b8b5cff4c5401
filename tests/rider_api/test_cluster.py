"""Several API instances: one leads, each commit reaches the others, one may run on SQLite.

The end-to-end version (processes, ``kill -9`` of the leader under load, counted) is
``tests/simulators/test_instances.py``; these check the pieces in one process.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from broker_config.topics import Topics
from rider_api.cluster.coordinator import (
    PostgresCoordinator,
    RemoteChange,
    SecondInstanceError,
    SoleInstance,
    coordinator_for,
    decode_change,
)
from rider_api.db.engine import WriteGate, make_async_engine, session_factory
from rider_api.db.migrate import upgrade
from rider_api.db.unit_of_work import UnitsOfWork
from tests.conftest import ConnectFn, Inbox
from tests.rider_api.conftest import ApiFactory, seed_network
from tests.support.waiting import eventually

BOOK = {"stop_id": "S2", "route_id": "R1", "direction_id": 0}


@pytest.fixture
def database_url(fresh_postgres_url: str) -> str:
    """The instances of ``make_api`` here share one PostgreSQL database."""
    return fresh_postgres_url


async def test_a_second_instance_on_one_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    database = tmp_path / "bushail.db"
    async with coordinator_for(f"sqlite:///{database}", "api") as first:
        assert isinstance(first, SoleInstance)
        await first.join()
        assert first.leader
        with pytest.raises(SecondInstanceError, match="Several instances need PostgreSQL"):
            async with coordinator_for(f"sqlite:///{database}", "api2"):
                pass
    # Once the first has stopped (or died: the lock goes with its process), one may start.
    async with coordinator_for(f"sqlite:///{database}", "api2") as second:
        await second.join()
        assert second.leader


def test_a_change_round_trips_through_its_payload() -> None:
    ids = frozenset({uuid.uuid4(), uuid.uuid4()})
    payload = f"api2|o|{','.join(str(i) for i in ids)}"
    assert decode_change(payload) == RemoteChange("api2", True, ids)
    assert decode_change("api2||*") == RemoteChange("api2", False, None)
    assert decode_change("not ours") is None
    assert decode_change("a||not-a-uuid") is None


@pytest.mark.postgres
async def test_one_leader_at_a_time_and_the_next_takes_over(fresh_postgres_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_postgres_url)
    leads: dict[str, list[bool]] = {"a": [], "b": []}

    def coordinator(name: str) -> PostgresCoordinator:
        made = coordinator_for(fresh_postgres_url, name, poll_s=0.1)
        assert isinstance(made, PostgresCoordinator)

        async def heard(leading: bool) -> None:
            leads[name].append(leading)

        made.on_leadership(heard)
        return made

    b = coordinator("b")
    async with coordinator("a") as a:
        await a.join()
        assert a.leader
        with pytest.raises(SecondInstanceError, match="named 'a'"):
            async with coordinator_for(fresh_postgres_url, "a"):
                pass
        async with b:
            await b.join()
            assert not b.leader
            await a.__aexit__(None, None, None)  # the leader goes
            await eventually(lambda: b.leader, what="b takes the lead")
            assert leads == {"a": [True, False], "b": [True]}


async def _roll_back(units: UnitsOfWork) -> None:
    async with units() as uow:
        uow.changes.reservations.add(uuid.uuid4())
        raise RuntimeError("rolled back")


@pytest.mark.postgres
async def test_each_commit_reaches_the_other_instances(fresh_postgres_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_postgres_url)
    engine = make_async_engine(fresh_postgres_url)
    heard: asyncio.Queue[RemoteChange] = asyncio.Queue()

    async def on_change(change: RemoteChange) -> None:
        await heard.put(change)

    try:
        async with (
            coordinator_for(fresh_postgres_url, "writer", poll_s=0.1) as writer,
            coordinator_for(fresh_postgres_url, "reader", poll_s=0.1) as reader,
        ):
            reader.on_remote_change(on_change)
            writer.on_remote_change(on_change)  # must not hear itself
            await writer.join()
            await reader.join()
            units = UnitsOfWork(session_factory(engine), WriteGate(engine))
            units.before_commit(writer.before_commit)
            rid = uuid.uuid4()
            async with units() as uow:
                uow.changes.reservations.add(rid)
                uow.changes.outbox = True
            change = await asyncio.wait_for(heard.get(), 10)
            assert change == RemoteChange("writer", True, frozenset({rid}))
            # A rolled-back transaction tells nobody.
            with pytest.raises(RuntimeError):
                await _roll_back(units)
            async with units() as uow:
                uow.changes.reservations.add(rid)
            assert (await asyncio.wait_for(heard.get(), 10)).outbox is False
            assert heard.empty()
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_two_instances_deliver_each_booking_once(
    make_api: ApiFactory,
    fresh_postgres_url: str,
    connect: ConnectFn,
    topics: Topics,
) -> None:
    """Bookings through either instance reach the stop once (one relay: the leader's),
    and a cancel made on the instance that did not take the booking reaches the other's
    index."""
    t = topics
    seed_network(fresh_postgres_url)
    inbox = Inbox()
    watcher = await connect("server.api-2", clean_start=True)
    await watcher.subscribe(t.stop_calls_filter("S2"), inbox)
    first = await make_api(seed=False, instance="api")
    second = await make_api(
        seed=False,
        instance="api-1",
    )
    assert first.state.coordinator.leader
    assert not second.state.coordinator.leader
    ids = []
    for api in (first, second, second, first):
        rider = await api.rider()
        r = await api.client.post("/v1/reservations", json=BOOK, headers=rider["headers"])
        assert r.status_code == 201, r.text
        ids.append((r.json()["id"], rider, api))
    got = [await inbox.get() for _ in ids]
    assert sorted(m.topic for m in got) == sorted(t.stop_call("S2", i) for i, _r, _a in ids)
    # A cancel on the instance that did not take the booking.
    rid, rider, took = ids[1]
    other = first if took is second else second
    r = await other.client.delete(f"/v1/reservations/{rid}", headers=rider["headers"])
    assert r.status_code == 200, r.text
    ended = await inbox.get()
    assert ended.topic == t.stop_call("S2", rid)
    await eventually(
        lambda: rid not in took.state.dispatcher.tracked, what="the cancel reaches the other index"
    )
    await inbox.get()  # the clearing of the ended call
    await inbox.expect_nothing(0.5)
    assert len({(m.topic, m.payload) for m in inbox.all}) == len(inbox.all)


@pytest.mark.postgres
async def test_healthz_says_503_while_the_database_does_not_answer(
    make_api: ApiFactory, fresh_postgres_url: str
) -> None:
    """A proxy's health check must take an instance out while it cannot reach PostgreSQL
    (its pool's connections die with a fail-over), and back in when it can."""
    api = await make_api(mqtt=False)
    assert (await api.client.get("/healthz")).status_code == 200
    name = make_url(fresh_postgres_url).database
    admin = make_url(fresh_postgres_url).set(database="postgres", drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)

    def refuse(allow: bool) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
            if not allow:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )

    await asyncio.to_thread(refuse, False)
    try:
        r = await api.client.get("/healthz")
        assert r.status_code == 503
        assert r.json()["status"] == "database unreachable"
    finally:
        await asyncio.to_thread(refuse, True)
    await eventually(
        lambda: api.client.get("/healthz"), lambda r: r.status_code == 200, what="healthy again"
    )
