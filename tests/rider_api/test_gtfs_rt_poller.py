"""Reading an agency's GTFS-Realtime feed: decoding its entities onto the network, and the
poller's manners with good and bad feeds (an in-process HTTP transport, no network, no
sleeping: each test calls ``poll_once`` and reads what it returned and counted)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.transit import gtfs_realtime_pb2

from broker_config.messages import Localized, VehiclePosition, VehicleStopStatus
from rider_api.core.metrics import Metrics
from rider_api.feeds import decode
from rider_api.feeds.mapping import MappingFileError, VehicleMapping, read_mapping_file
from rider_api.feeds.metrics import FeedMetrics
from rider_api.feeds.poller import FeedPoller, PollSettings, feed_name
from rider_api.network.view import (
    DirectionInfo,
    NetworkView,
    RouteInfo,
    StopInfo,
    TripInfo,
    TripStop,
)

pytestmark = pytest.mark.timeout(30)

ORDER = ("A", "B", "C", "D")
LAT = {"A": 25.00, "B": 25.01, "C": 25.02, "D": 25.03}
LON = 121.5
URL = "https://agency.example/gtfs-rt/vehicles.pb?api_key=SECRET"
STATUS = gtfs_realtime_pb2.VehiclePosition


def make_network() -> NetworkView:
    net = NetworkView()
    for sid, lat in LAT.items():
        net.stops[sid] = StopInfo(sid, Localized.same(sid), None, lat, LON)
    net.routes["R"] = RouteInfo("R", "307", Localized.same("307"), None)
    net.directions[("R", 0)] = DirectionInfo(
        "R", 0, Localized.same("D"), ORDER, {s: i for i, s in enumerate(ORDER)}
    )
    stops = tuple(TripStop(i + 1, sid, i * 120, i * 120 + 20, None) for i, sid in enumerate(ORDER))
    net.trips["T"] = TripInfo("T", "R", 0, "ALL", stops)
    net.trips_by_direction[("R", 0)] = ["T"]
    return net


NETWORK = make_network()


def feed(*, version: str = "2.0", ts: int | None = None) -> Any:
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = version
    message.header.timestamp = int(time.time()) if ts is None else ts
    return message


def add_vehicle(
    message: Any,
    vehicle_id: str = "V1",
    *,
    trip_id: str | None = "T",
    route_id: str | None = None,
    direction_id: int | None = None,
    stop_id: str | None = "B",
    sequence: int | None = None,
    status: int | None = None,
    point: tuple[float, float] | None = None,
    ts: int | None = None,
) -> Any:
    entity = message.entity.add()
    entity.id = f"e-{vehicle_id}-{len(message.entity)}"
    vp = entity.vehicle
    if vehicle_id:
        vp.vehicle.id = vehicle_id
    if trip_id is not None:
        vp.trip.trip_id = trip_id
    if route_id is not None:
        vp.trip.route_id = route_id
    if direction_id is not None:
        vp.trip.direction_id = direction_id
    if stop_id is not None:
        vp.stop_id = stop_id
    if sequence is not None:
        vp.current_stop_sequence = sequence
    if status is not None:
        vp.current_status = status
    if point is not None:
        vp.position.latitude, vp.position.longitude = point
    vp.timestamp = int(time.time()) if ts is None else ts
    return vp


def positions_of(message: Any, **kwargs: Any) -> decode.Decoded:
    args: dict[str, Any] = {
        "network": NETWORK,
        "mapping": VehicleMapping(),
        "now": time.time(),
        "max_age_s": 120,
        "max_future_s": 60,
        **kwargs,
    }
    return decode.vehicle_positions(message, **args)


# -- decoding -----------------------------------------------------------------------------


def test_a_vehicle_on_a_known_trip_becomes_the_position_it_would_have_sent() -> None:
    m = feed()
    add_vehicle(m, "V1", stop_id="B", status=STATUS.STOPPED_AT, point=(25.01, LON), ts=1000)
    got = positions_of(m, now=1010)
    assert not got.problems
    p = got.positions["V1"]
    assert (p.route_id, p.direction_id, p.trip_id, p.stop_id) == ("R", 0, "T", "B")
    assert p.current_stop_sequence == 2
    assert p.current_status is VehicleStopStatus.STOPPED_AT
    assert p.timestamp == 1000


def test_the_stop_comes_from_the_sequence_or_else_from_the_coordinates() -> None:
    m = feed()
    add_vehicle(m, "V1", stop_id=None, sequence=3, status=STATUS.INCOMING_AT)
    # Between B and C, nearer B: the bus is heading to C.
    add_vehicle(m, "V2", stop_id=None, point=(25.012, LON), status=STATUS.STOPPED_AT)
    got = positions_of(m)
    assert got.positions["V1"].stop_id == "C"
    assert got.positions["V1"].current_status is VehicleStopStatus.INCOMING_AT
    assert got.positions["V2"].stop_id == "C"
    assert got.positions["V2"].current_status is VehicleStopStatus.IN_TRANSIT_TO


def test_without_a_status_the_spec_default_in_transit_to_applies() -> None:
    m = feed()
    add_vehicle(m, "V1", stop_id="C")
    assert positions_of(m).positions["V1"].current_status is VehicleStopStatus.IN_TRANSIT_TO


def test_a_route_and_direction_without_a_trip_still_place_the_bus() -> None:
    m = feed()
    add_vehicle(m, "V1", trip_id=None, route_id="R", direction_id=0, stop_id="C")
    # The route has one direction: it needs not be said.
    add_vehicle(m, "V2", trip_id=None, route_id="R", stop_id="B")
    got = positions_of(m)
    assert got.positions["V1"].trip_id is None
    assert got.positions["V1"].current_stop_sequence == 2  # its place in the route
    assert got.positions["V2"].stop_id == "B"


def test_bad_entities_are_counted_by_kind_and_left_out() -> None:
    now = int(time.time())
    m = feed()
    add_vehicle(m, "OK")
    add_vehicle(m, "")  # no vehicle id
    add_vehicle(m, "bad id!")  # not a BusHail id
    add_vehicle(m, "OLD", ts=now - 600)
    add_vehicle(m, "AHEAD", ts=now + 3600)
    add_vehicle(m, "GHOST", trip_id="NOPE")  # unknown trip, no route to fall back on
    add_vehicle(m, "LOST", trip_id=None, route_id="R9")
    add_vehicle(m, "NOWHERE", stop_id="S9")
    add_vehicle(m, "BLANK", stop_id=None)
    got = positions_of(m, now=now)
    assert set(got.positions) == {"OK"}
    assert got.entities == 9
    assert got.problems == {
        "no_vehicle_id": 1,
        "bad_vehicle_id": 1,
        "stale": 1,
        "future": 1,
        "unknown_trip": 1,
        "unknown_route": 1,
        "unknown_stop": 1,
        "no_stop": 1,
    }
    assert set(got.problems) <= set(decode.ENTITY_PROBLEMS)


def test_an_unknown_trip_on_a_known_route_is_counted_yet_placed_by_its_route() -> None:
    m = feed()
    add_vehicle(m, "V1", trip_id="EXTRA-1", route_id="R", direction_id=0, stop_id="C")
    got = positions_of(m)
    assert got.problems == {"unknown_trip": 1}
    assert got.positions["V1"].trip_id is None
    assert got.positions["V1"].stop_id == "C"


def test_feed_vehicle_ids_map_to_bushail_ids(tmp_path: Path) -> None:
    csv = tmp_path / "map.csv"
    csv.write_text("feed_vehicle_id,vehicle_id\n4711,KKA-1234\n4712,KKA-5678\n")
    mapping = VehicleMapping({**read_mapping_file(csv), "4712": "KKA-0001"})
    m = feed()
    add_vehicle(m, "4711")
    add_vehicle(m, "4712")
    add_vehicle(m, "KKA-9")  # identity when not mapped
    got = positions_of(m, mapping=mapping)
    assert set(got.positions) == {"KKA-1234", "KKA-0001", "KKA-9"}
    bad = tmp_path / "bad.csv"
    bad.write_text("feed,vehicle\n1,2\n")
    with pytest.raises(MappingFileError, match="missing column"):
        read_mapping_file(bad)


def test_trip_updates_give_a_trip_to_a_position_without_one_and_place_unreported_buses() -> None:
    now = int(time.time())
    m = feed()
    for vehicle, upcoming in (("V1", "C"), ("V2", "D")):
        entity = m.entity.add()
        entity.id = f"tu-{vehicle}"
        tu = entity.trip_update
        tu.trip.trip_id = "T"
        tu.vehicle.id = vehicle
        tu.timestamp = now
        ahead = ORDER.index(upcoming)
        for i, stop_id in enumerate(ORDER):
            stu = tu.stop_time_update.add()
            stu.stop_sequence, stu.stop_id = i + 1, stop_id
            stu.arrival.time = now + 60 + 120 * (i - ahead)  # those before it: passed
    args: dict[str, Any] = {
        "network": NETWORK,
        "mapping": VehicleMapping(),
        "now": now,
        "max_age_s": 120,
        "max_future_s": 60,
    }
    got = decode.trip_updates(m, reported={"V1"}, **args)
    assert got.trips == {"V1": "T", "V2": "T"}
    assert set(got.positions) == {"V2"}  # V1 has a VehiclePositions feed of its own
    assert got.positions["V2"].stop_id == "D"
    positions = feed()
    add_vehicle(positions, "V1", trip_id=None, stop_id="C")
    placed = positions_of(positions, trips_of=got.trips).positions["V1"]
    assert (placed.trip_id, placed.route_id) == ("T", "R")


# -- the poller ---------------------------------------------------------------------------

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Agency:
    """The agency's server: answers with whatever the test sets, records requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: Handler = self.ok

    async def ok(self, _request: httpx.Request) -> httpx.Response:
        m = feed()
        add_vehicle(m, "V1")
        return httpx.Response(200, content=m.SerializeToString(), headers={"ETag": '"v1"'})

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.answer(request)


class Sink:
    def __init__(self) -> None:
        self.got: list[dict[str, VehiclePosition]] = []

    async def __call__(self, _feed: str, positions: dict[str, VehiclePosition]) -> int:
        self.got.append(positions)
        return len(positions)


@pytest.fixture
async def agency() -> Agency:
    return Agency()


def make_poller(
    agency: Agency, client: httpx.AsyncClient, **settings: Any
) -> tuple[FeedPoller, Sink]:
    sink = Sink()
    poller = FeedPoller(
        kind="vehicle_positions",
        url=URL,
        client=client,
        settings=PollSettings(**{"poll_s": 10.0, "max_backoff_s": 300.0, **settings}),
        network=lambda: NETWORK,
        mapping=VehicleMapping(),
        sink=sink,
        metrics=FeedMetrics(Metrics().registry),
        rng=random.Random(7),
    )
    return poller, sink


@pytest.fixture
async def client(agency: Agency) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(agency.handle)) as c:
        yield c


def problems(poller: FeedPoller, kind: str) -> float:
    value: float = poller.metrics.problems.labels(feed=poller.name, kind=kind)._value.get()
    return value


async def test_a_good_feed_is_applied_and_then_asked_for_conditionally(
    agency: Agency, client: httpx.AsyncClient
) -> None:
    poller, sink = make_poller(agency, client)
    assert await poller.poll_once() == 10.0
    assert set(sink.got[0]) == {"V1"}
    assert poller.status.entities == 1
    assert poller.status.applied == 1
    assert poller.status.last_success_at is not None
    assert poller.status.errors == 0

    async def not_modified(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(304)

    agency.answer = not_modified
    assert await poller.poll_once() == 10.0
    assert agency.requests[1].headers["If-None-Match"] == '"v1"'
    assert len(sink.got) == 1  # nothing new to apply
    fetches = poller.metrics.fetches.labels(feed=poller.name, result="not_modified")
    assert fetches._value.get() == 1


async def test_garbage_bytes_are_counted_logged_once_and_backed_off(
    agency: Agency, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def garbage(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>Service temporarily unavailable</html>")

    agency.answer = garbage
    poller, sink = make_poller(agency, client)
    caplog.set_level(logging.WARNING, logger="rider_api.feeds.poller")
    delays = [await poller.poll_once() for _ in range(4)]
    assert problems(poller, "not_protobuf") == 4
    assert poller.status.errors == 4
    assert poller.status.last_error == "not_protobuf"
    assert len([r for r in caplog.records if "not_protobuf" in r.getMessage()]) == 1
    assert not sink.got
    # Exponential with jitter: within [half, all] of 10 s * 2^n, never under the interval.
    for n, delay in enumerate(delays, start=1):
        assert max(10.0, 10.0 * 2**n * 0.5) <= delay <= 10.0 * 2**n
    assert "SECRET" not in caplog.text
    assert "SECRET" not in poller.name


async def test_http_errors_and_wrong_versions_are_counted_and_never_raise(
    agency: Agency, client: httpx.AsyncClient
) -> None:
    async def server_error(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="oops")

    async def version_three(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=feed(version="3.0").SerializeToString())

    async def too_busy(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "250"})

    poller, sink = make_poller(agency, client, max_backoff_s=200.0)
    agency.answer = server_error
    await poller.poll_once()
    agency.answer = version_three
    await poller.poll_once()
    agency.answer = too_busy
    assert await poller.poll_once() == 200.0  # Retry-After, up to the cap
    assert problems(poller, "http_error") == 2
    assert problems(poller, "wrong_version") == 1
    agency.answer = agency.ok
    assert await poller.poll_once() == 10.0
    assert poller.status.errors == 0
    assert sink.got


async def test_a_feed_that_does_not_answer_in_time_is_a_timeout(
    agency: Agency, client: httpx.AsyncClient
) -> None:
    never = asyncio.Event()

    async def hangs(_r: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    async def refuses(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    poller, _ = make_poller(agency, client, timeout_s=0.05)
    agency.answer = hangs
    await poller.poll_once()
    assert problems(poller, "timeout") == 1
    agency.answer = refuses
    await poller.poll_once()
    assert problems(poller, "unreachable") == 1


async def test_an_oversized_feed_is_refused(agency: Agency, client: httpx.AsyncClient) -> None:
    async def huge(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"\0" * 5000)

    agency.answer = huge
    poller, _ = make_poller(agency, client, max_bytes=1024)
    await poller.poll_once()
    assert problems(poller, "too_large") == 1


async def test_stale_entities_and_unknown_trips_are_counted_once_logged_and_the_rest_applied(
    agency: Agency, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def mixed(_r: httpx.Request) -> httpx.Response:
        now = int(time.time())
        m = feed()
        add_vehicle(m, "FRESH")
        add_vehicle(m, "OLD", ts=now - 3600)
        add_vehicle(m, "GHOST", trip_id="NOPE")
        return httpx.Response(200, content=m.SerializeToString())

    agency.answer = mixed
    poller, sink = make_poller(agency, client)
    caplog.set_level(logging.WARNING, logger="rider_api.feeds.poller")
    for _ in range(3):
        assert await poller.poll_once() == 10.0  # the feed is fine; some entities are not
    assert [set(g) for g in sink.got] == [{"FRESH"}] * 3
    assert problems(poller, "stale") == 3
    assert problems(poller, "unknown_trip") == 3
    assert poller.status.problems == {"stale": 3, "unknown_trip": 3}
    logged = [r.getMessage() for r in caplog.records]
    assert len([m for m in logged if ": stale" in m]) == 1
    assert len([m for m in logged if ": unknown_trip" in m]) == 1


async def test_a_failing_sink_does_not_end_the_feed(
    agency: Agency, client: httpx.AsyncClient
) -> None:
    poller, _ = make_poller(agency, client)

    async def broken(_feed: str, _p: dict[str, VehiclePosition]) -> int:
        raise RuntimeError("bug")

    poller.sink = broken
    task = asyncio.create_task(poller.run())
    try:
        async with asyncio.timeout(5):
            while not poller.status.problems:  # the loop's own turn: nothing to await
                await asyncio.sleep(0)
        assert not task.done(), "the poller's loop ended"  # it waits for its next turn
    finally:
        task.cancel()
    assert poller.status.problems == {"internal": 1}


def test_the_feed_label_never_carries_the_query_string() -> None:
    assert (
        feed_name("vehicle_positions", URL)
        == "vehicle_positions:agency.example/gtfs-rt/vehicles.pb"
    )
