"""The outbox through a real Mosquitto: retained calls appear, end, clear; nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import httpx
import pytest

from broker_config.messages import StopCall, decode
from broker_config.topics import TopicKind, Topics
from tests.conftest import ConnectFn, Inbox
from tests.rider_api.conftest import ApiFactory, ApiServer
from tests.support.waiting import eventually

BOOK = {"stop_id": "S2", "route_id": "R1", "direction_id": 0}


async def _book(api: ApiServer, rider: dict[str, Any]) -> dict[str, Any]:
    r = await api.client.post("/v1/reservations", json=BOOK, headers=rider["headers"])
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_booking_publishes_retained_stop_call_then_cancel_clears_it(
    api: ApiServer, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    gateway = await connect("stop.S2")
    await gateway.subscribe(topics.stop_calls_filter("S2"), inbox)
    rider = await api.rider("Mei", "en")
    res = await _book(api, rider)

    msg = await inbox.get()
    assert msg.topic == topics.stop_call("S2", res["id"])
    call = decode(StopCall, msg.payload)
    assert call.status == "pending"
    assert call.rider_lang == "en"
    assert call.route_name.zh_tw == "307"
    assert call.headsign.en == "Fuyuan St."

    # A gateway connecting now gets the retained call (the same gateway after a restart
    # with a clean session: one connection per login).
    await gateway.close()
    late_inbox = Inbox()
    late = await connect("stop.S2", clean_start=True)
    await late.subscribe(topics.stop_calls_filter("S2"), late_inbox)
    retained = await late_inbox.get()
    assert retained.retain
    assert decode(StopCall, retained.payload).seq == call.seq

    await api.client.delete(f"/v1/reservations/{res['id']}", headers=rider["headers"])
    final = decode(StopCall, (await late_inbox.get()).payload)
    assert final.status == "cancelled"
    assert final.seq > call.seq
    cleared = await late_inbox.get(timeout=3)
    assert cleared.topic == msg.topic
    assert cleared.payload == b""

    # Nothing stale is retained for a gateway that connects afterwards.
    # (retained messages arrive before anything published after the subscription).
    fresh_inbox = Inbox()
    fresh = await connect("server.api-1", clean_start=True)
    await fresh.subscribe(topics.stop_calls_filter("S2"), fresh_inbox)
    await fresh.subscribe(topics.stop_announce("S2"), fresh_inbox)
    await fresh.publish(topics.stop_announce("S2"), b"marker", qos=1)
    marker = await fresh_inbox.get()
    assert marker.topic == topics.stop_announce("S2")


async def test_relay_killed_between_commit_and_publish_resumes_exactly(
    api: ApiServer, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    server = await connect("server.api-1", clean_start=True)
    await server.subscribe(topics.all_of(TopicKind.STOP_CALL), inbox)
    relay = api.state.relay
    assert relay is not None
    await relay.stop()  # the process "dies" after commit, before publishing
    rider = await api.rider()
    ids = [(await _book(api, rider))["id"]]
    ids.append(
        (
            await api.client.post(
                "/v1/reservations", json={**BOOK, "stop_id": "S3"}, headers=rider["headers"]
            )
        ).json()["id"]
    )
    assert await relay.backlog() == 2
    await inbox.expect_nothing(0.3)

    async with relay:  # restarted: publishes what was missing, once
        got = [await inbox.get(), await inbox.get()]
        assert sorted(json.loads(m.payload)["reservation_id"] for m in got) == sorted(ids)
        await inbox.expect_nothing(0.3)
        assert await relay.backlog() == 0


async def test_messages_are_ordered_per_reservation_with_increasing_seq(
    api: ApiServer, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    gateway = await connect("stop.S2")
    await gateway.subscribe(topics.stop_calls_filter("S2"), inbox)
    rider = await api.rider()
    res = await _book(api, rider)
    await api.client.delete(f"/v1/reservations/{res['id']}", headers=rider["headers"])
    seqs = []
    for _ in range(2):
        seqs.append(decode(StopCall, (await inbox.get()).payload).seq)
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 2


async def test_sse_sends_current_state_then_changes(api: ApiServer) -> None:
    rider = await api.rider()
    res = await _book(api, rider)
    url = f"/v1/reservations/{res['id']}/events"
    events: list[dict[str, Any]] = []
    async with api.client.stream("GET", url, headers=rider["headers"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()

        async def next_event() -> dict[str, Any]:
            async for line in lines:
                if line.startswith("data: "):
                    data: dict[str, Any] = json.loads(line[6:])
                    return data
            raise AssertionError("stream ended")

        events.append(await asyncio.wait_for(next_event(), 5))
        assert events[0]["status"] == "pending"
        r = await api.client.delete(f"/v1/reservations/{res['id']}", headers=rider["headers"])
        assert r.status_code == 200
        events.append(await asyncio.wait_for(next_event(), 5))
    assert events[1]["status"] == "cancelled"
    other = await api.rider("other")
    r = await api.client.get(url, headers=other["headers"])
    assert r.status_code == 404


async def test_sse_stream_ends_when_the_client_goes_away(api: ApiServer) -> None:
    """A closed client is noticed at once: its listener is gone without any change."""
    rider = await api.rider()
    res = await _book(api, rider)
    url = f"/v1/reservations/{res['id']}/events"
    notifier = api.state.notifier
    async with api.client.stream("GET", url, headers=rider["headers"]) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                break
        assert notifier.listener_count() == 1
    await eventually(notifier.listener_count, lambda n: n == 0, what="the stream's listener gone")


async def test_api_keeps_working_while_broker_is_down_and_catches_up(
    make_api: ApiFactory, broker: Any, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    api = await make_api()
    await broker.stop()
    rider = await api.rider()
    res = await _book(api, rider)  # stored while the broker is down
    await broker.start()
    gateway = await connect("stop.S2")
    await gateway.subscribe(topics.stop_calls_filter("S2"), inbox)
    msg = await inbox.get(timeout=20)
    assert json.loads(msg.payload)["reservation_id"] == res["id"]
    assert uuid.UUID(res["id"])
    assert isinstance(api.client, httpx.AsyncClient)


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_database_url


async def test_many_open_event_streams_do_not_starve_other_requests(api: ApiServer) -> None:
    """Each stream must not hold a database connection while it waits (the pool has 15)."""
    rider = await api.rider()
    res = await _book(api, rider)
    url = f"/v1/reservations/{res['id']}/events"
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(30):
            stream = await stack.enter_async_context(
                api.client.stream("GET", url, headers=rider["headers"])
            )
            assert stream.status_code == 200
        r = await asyncio.wait_for(
            api.client.get(f"/v1/reservations/{res['id']}", headers=rider["headers"]), 5
        )
        assert r.status_code == 200
