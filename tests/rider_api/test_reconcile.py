"""The database is the truth: retained calls and alerts put back after the broker forgets."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from broker_config.broker import ManagedBroker
from broker_config.messages import (
    Localized,
    ReservationStatus,
    StopCall,
    decode,
    encode,
    utcnow,
)
from broker_config.topics import Topics
from tests.conftest import ConnectFn, Inbox
from tests.rider_api.conftest import ApiServer
from tests.support.waiting import eventually


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_database_url


async def _book(api: ApiServer, rider: dict[str, Any], stop_id: str) -> str:
    body = {"stop_id": stop_id, "route_id": "R1", "direction_id": 0}
    r = await api.client.post("/v1/reservations", json=body, headers=rider["headers"])
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def _retained_calls(connect: ConnectFn, topics: Topics, stop_id: str) -> dict[str, int]:
    """Reservation id -> seq of the non-empty retained calls a new gateway gets now."""
    box = Inbox()
    reader = await connect("server.api-1", clean_start=True, session_expiry_s=0)
    await reader.subscribe(topics.stop_calls_filter(stop_id), box)
    marker = topics.stop_call(stop_id, uuid.uuid4())
    await reader.publish(marker, b"", qos=1)
    found: dict[str, int] = {}
    while True:
        msg = await box.get()
        if msg.topic == marker:
            await reader.close()
            return found
        if msg.retain and msg.payload:
            call = decode(StopCall, msg.payload)
            found[str(call.reservation_id)] = call.seq


async def _passes_after(api: ApiServer, before: int) -> None:
    reconciler = api.state.reconciler
    assert reconciler is not None
    await eventually(lambda: reconciler.passes, lambda n: n > before, what="a reconcile pass")


async def test_a_lost_retained_call_is_put_back_with_a_fresh_seq(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    rider = await api.rider()
    rid = await _book(api, rider, "S2")
    first = await eventually(
        lambda: _retained_calls(connect, topics, "S2"), lambda f: rid in f, what="the call"
    )
    server = await connect("server.api-1")
    await server.publish(topics.stop_call("S2", rid), b"", qos=1, retain=True)  # "lost"
    assert await _retained_calls(connect, topics, "S2") == {}
    reconciler = api.state.reconciler
    assert reconciler is not None
    before = reconciler.passes
    reconciler.request()
    await _passes_after(api, before)
    again = await eventually(
        lambda: _retained_calls(connect, topics, "S2"), lambda f: rid in f, what="the call back"
    )
    assert again[rid] > first[rid]
    assert reconciler.last is not None
    assert reconciler.last.reasserted == 1


async def test_a_stale_retained_call_of_no_active_booking_is_cleared(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    ghost = uuid.uuid4()
    stale = StopCall(
        reservation_id=ghost,
        seq=7,
        status=ReservationStatus.ASSIGNED,
        route_id="R1",
        route_name=Localized.same("1"),
        headsign=Localized.same("S4"),
        updated_at=utcnow(),
    )
    server = await connect("server.api-1")
    await server.publish(topics.stop_call("S3", ghost), encode(stale), qos=1, retain=True)
    assert str(ghost) in await _retained_calls(connect, topics, "S3")
    reconciler = api.state.reconciler
    assert reconciler is not None
    before = reconciler.passes
    reconciler.request()
    await _passes_after(api, before)
    await eventually(
        lambda: _retained_calls(connect, topics, "S3"), lambda f: f == {}, what="no stale call"
    )


async def test_after_the_broker_is_killed_and_forgets_everything_every_call_comes_back(
    api: ApiServer, broker: ManagedBroker, connect: ConnectFn, topics: Topics
) -> None:
    rider = await api.rider()
    booked = {await _book(api, rider, stop) for stop in ("S2", "S3")}
    await eventually(
        lambda: _retained_calls(connect, topics, "S2"), lambda f: len(f) == 1, what="S2 call"
    )
    await broker.stop(kill=True)
    for saved in Path(broker.state_dir).rglob("*.db"):
        saved.unlink()  # the worst case: nothing of the broker's state survived
    await broker.start()
    mqtt = api.state.mqtt
    assert mqtt is not None
    await mqtt.wait_connected(20)

    async def calls_now() -> set[str]:
        return set(await _retained_calls(connect, topics, "S2")) | set(
            await _retained_calls(connect, topics, "S3")
        )

    # 10 s is the bound for "back"; it is a bound, not a benchmark.
    assert await eventually(calls_now, lambda got: got == booked, timeout=10.0) == booked
