"""BusHail's own GTFS-Realtime feeds (/gtfs-rt/*.pb): they parse with the official
bindings, pass checks written from the GTFS-Realtime 2.0 reference, answer conditional
requests, and are built at most once per interval whatever the number of clients."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.transit import gtfs_realtime_pb2

from broker_config.messages import DeviceState, VehiclePosition, VehicleStopStatus
from rider_api.feeds.cache import FeedCache
from rider_api.feeds.publish import new_feed
from rider_api.mqtt.devices import DeviceRecord
from rider_api.network.view import NetworkView
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiFactory, ApiServer

pytestmark = pytest.mark.timeout(60)

FeedMessage = gtfs_realtime_pb2.FeedMessage
LANGUAGES = {"zh-TW", "en"}
PATHS = ("/gtfs-rt/vehicle-positions.pb", "/gtfs-rt/trip-updates.pb", "/gtfs-rt/alerts.pb")


# -- checks from the GTFS-Realtime reference (https://gtfs.org/realtime/reference/) --------


def check_translations(text: Any, where: str) -> None:
    """A TranslatedString: every translation has text and a BCP-47 language; ours has both
    of BusHail's languages, once each."""
    languages = [t.language for t in text.translation]
    assert all(t.text.strip() for t in text.translation), where
    assert sorted(languages) == sorted(LANGUAGES), f"{where}: {languages}"


def check_feed(feed: Any, network: NetworkView, *, now: float) -> None:
    """The reference's rules that a producer of a full dataset must keep."""
    header = feed.header
    assert header.gtfs_realtime_version == "2.0"
    assert header.incrementality == gtfs_realtime_pb2.FeedHeader.FULL_DATASET
    assert now - 5 <= header.timestamp <= now + 1, "header timestamp is not now"
    ids = [e.id for e in feed.entity]
    assert all(ids), "an entity without id"
    assert len(ids) == len(set(ids)), f"entity ids not unique: {ids}"
    for entity in feed.entity:
        kinds = [k for k in ("vehicle", "trip_update", "alert") if entity.HasField(k)]
        assert len(kinds) == 1, f"{entity.id}: {kinds}"
        if entity.HasField("vehicle"):
            check_vehicle(entity.vehicle, network, header.timestamp, entity.id)
        elif entity.HasField("trip_update"):
            check_trip_update(entity.trip_update, network, header.timestamp, entity.id)
        else:
            check_alert(entity.alert, network, entity.id)


def check_trip(trip: Any, network: NetworkView, where: str) -> None:
    if trip.trip_id:
        assert trip.trip_id in network.trips, f"{where}: trip {trip.trip_id} not in the GTFS"
        static = network.trips[trip.trip_id]
        assert trip.route_id in ("", static.route_id), where
        if trip.HasField("direction_id"):
            assert trip.direction_id == static.direction_id, where
    if trip.route_id:
        assert trip.route_id in network.routes, f"{where}: route {trip.route_id} not in the GTFS"


def check_vehicle(vp: Any, network: NetworkView, header_ts: int, where: str) -> None:
    check_trip(vp.trip, network, where)
    assert vp.vehicle.id, where
    assert 0 < vp.timestamp <= header_ts, f"{where}: timestamp in the future"
    if vp.stop_id:
        assert vp.stop_id in network.stops, where
    if vp.HasField("current_stop_sequence"):
        assert vp.trip.trip_id, f"{where}: a stop sequence needs a trip"
        trip = network.trips[vp.trip.trip_id]
        seq = trip.index_of_sequence(vp.current_stop_sequence)
        assert seq is not None, where
        assert trip.stops[seq].stop_id == vp.stop_id, where


def check_trip_update(tu: Any, network: NetworkView, header_ts: int, where: str) -> None:
    check_trip(tu.trip, network, where)
    assert tu.trip.trip_id, f"{where}: a trip update names its trip"
    assert 0 < tu.timestamp <= header_ts, f"{where}: timestamp in the future"
    assert tu.stop_time_update, f"{where}: no stop time update"
    trip = network.trips[tu.trip.trip_id]
    sequences = [u.stop_sequence for u in tu.stop_time_update]
    assert sequences == sorted(set(sequences)), f"{where}: not ordered by stop_sequence"
    times = [u.arrival.time for u in tu.stop_time_update]
    assert times == sorted(times), f"{where}: predicted times go back"
    for u in tu.stop_time_update:
        i = trip.index_of_sequence(u.stop_sequence)
        assert i is not None, where
        assert trip.stops[i].stop_id == u.stop_id, where


def check_alert(alert: Any, network: NetworkView, where: str) -> None:
    assert alert.informed_entity, f"{where}: an alert informs someone"
    for informed in alert.informed_entity:
        assert informed.stop_id in network.stops, where
    check_translations(alert.header_text, f"{where} header")
    if alert.HasField("description_text"):
        check_translations(alert.description_text, f"{where} description")
    for period in alert.active_period:
        assert not period.HasField("end") or period.start <= period.end, where


# -- the feeds served ----------------------------------------------------------------------


def position(
    stop_id: str,
    *,
    trip_id: str | None,
    direction_id: int = 0,
    status: VehicleStopStatus = VehicleStopStatus.IN_TRANSIT_TO,
    ts: float | None = None,
    route_id: str = "R1",
) -> VehiclePosition:
    from tests.rider_api.conftest import COORDS

    lat, lon = COORDS.get(stop_id, (25.0, 121.5))
    order = ["S1", "S2", "S3", "S4"]
    if direction_id:
        order.reverse()
    return VehiclePosition(
        route_id=route_id,
        direction_id=1 if direction_id else 0,
        trip_id=trip_id,
        lat=lat - 0.0005,
        lon=lon - 0.005,
        stop_id=stop_id,
        current_stop_sequence=order.index(stop_id) + 1 if stop_id in order else 0,
        current_status=status,
        timestamp=time.time() if ts is None else ts,
    )


async def fetch(api: ApiServer, path: str, **headers: str) -> Any:
    r = await api.client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-protobuf"
    feed = FeedMessage()
    feed.ParseFromString(r.content)
    return feed


@pytest.fixture
async def fast_api(make_api: ApiFactory) -> ApiServer:
    """The API without a broker, its feeds rebuilt on (almost) every request."""
    return await make_api(mqtt=False, gtfs_rt_publish_s=0.001)


async def test_vehicle_positions_and_trip_updates_follow_the_fleet_view(
    fast_api: ApiServer,
) -> None:
    api = fast_api
    sources = api.state.feeds.positions
    await sources.onboard("V1", position("S2", trip_id="T0"))
    await sources.onboard("V2", position("S3", trip_id="T1", direction_id=1))
    await sources.onboard("V3", position("S3", trip_id=None))  # no trip: a position only
    # An onboard clock an hour ahead: published as of now, never in the future.
    await sources.onboard(
        "V4",
        position("S1", trip_id="T0", status=VehicleStopStatus.STOPPED_AT, ts=time.time() + 3600),
    )
    await sources.onboard("V9", position("S1", trip_id=None, route_id="R2"))  # not on R2
    network = api.state.network

    vehicles = await fetch(api, PATHS[0])
    check_feed(vehicles, network, now=time.time())
    assert sorted(e.id for e in vehicles.entity) == ["V1", "V2", "V3", "V4"]
    v1 = next(e.vehicle for e in vehicles.entity if e.id == "V1")
    assert (v1.trip.trip_id, v1.stop_id, v1.current_stop_sequence) == ("T0", "S2", 2)
    assert v1.current_status == gtfs_realtime_pb2.VehiclePosition.IN_TRANSIT_TO

    updates = await fetch(api, PATHS[1])
    check_feed(updates, network, now=time.time())
    by_id = {e.id: e.trip_update for e in updates.entity}
    assert sorted(by_id) == ["V1", "V2", "V4"]
    assert [u.stop_id for u in by_id["V1"].stop_time_update] == ["S2", "S3", "S4"]
    # Stopped at S1: the stops after it.
    assert [u.stop_id for u in by_id["V4"].stop_time_update] == ["S2", "S3", "S4"]
    assert [u.stop_id for u in by_id["V2"].stop_time_update] == ["S3", "S2", "S1"]


async def test_the_json_form_is_the_same_feed(fast_api: ApiServer) -> None:
    await fast_api.state.feeds.positions.onboard("V1", position("S2", trip_id="T0"))
    r = await fast_api.client.get(PATHS[0], params={"format": "json"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    feed = json_format.Parse(r.text, FeedMessage())
    assert feed.header.gtfs_realtime_version == "2.0"
    assert [e.vehicle.vehicle.id for e in feed.entity] == ["V1"]
    assert r.json()["header"]["incrementality"] == "FULL_DATASET"


async def test_the_feeds_are_public(fast_api: ApiServer) -> None:
    for path in PATHS:
        r = await fast_api.client.get(path)  # no token at all
        assert r.status_code == 200, path
    metrics = await fast_api.client.get(
        "/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )
    assert 'bushail_gtfs_rt_published_builds_total{feed="alerts"}' in metrics.text


async def test_conditional_get_answers_304_while_the_content_is_unchanged(
    fast_api: ApiServer,
) -> None:
    api = fast_api
    sources = api.state.feeds.positions
    await sources.onboard("V1", position("S2", trip_id="T0", ts=time.time() - 5))
    for path in PATHS:
        # The feeds are rebuilt on every request here, and trip updates' arrival times
        # (now + ETA) move on when a second passes between two builds: then the content
        # did change, and the pair is asked again.
        for _attempt in range(5):
            first = await api.client.get(path)
            etag, last_modified = first.headers["etag"], first.headers["last-modified"]
            assert etag.startswith('W/"')
            assert first.headers["cache-control"] == "public, max-age=1"
            again = await api.client.get(path, headers={"If-None-Match": etag})
            since = await api.client.get(path, headers={"If-Modified-Since": last_modified})
            if again.status_code == 200 or since.status_code == 200:
                assert path == "/gtfs-rt/trip-updates.pb", path  # the others never move
                continue
            break
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert since.status_code == 304, path
        other = await api.client.get(path, headers={"If-None-Match": 'W/"something-else"'})
        assert other.status_code == 200, path
        json_etag = (await api.client.get(path, params={"format": "json"})).headers["etag"]
        assert json_etag != etag
    before = (await api.client.get(PATHS[0])).headers["etag"]
    await sources.onboard("V1", position("S3", trip_id="T0"))
    changed = await api.client.get(PATHS[0], headers={"If-None-Match": before})
    assert changed.status_code == 200
    assert changed.headers["etag"] != before


async def test_alerts_for_an_offline_stop_and_an_operator_announcement(
    fast_api: ApiServer,
) -> None:
    api = fast_api
    went = datetime.fromtimestamp(time.time() - 60, UTC)
    api.state.devices.records[("stop", "S2")] = DeviceRecord(
        "stop", "S2", state=DeviceState.OFFLINE, since=went
    )
    api.state.devices.records[("stop", "S3")] = DeviceRecord(
        "stop", "S3", state=DeviceState.ONLINE, since=went
    )
    r = await api.client.post(
        "/v1/ops/stops/S1/announce",
        json={"text": {"zh-TW": "今日改道", "en": "Detour today"}, "priority": "urgent"},
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
    assert r.status_code == 202, r.text

    feed = await fetch(api, PATHS[2])
    check_feed(feed, api.state.network, now=time.time())
    alerts = {e.id: e.alert for e in feed.entity}
    offline = alerts["stop-offline-S2"]
    assert offline.effect == gtfs_realtime_pb2.Alert.ACCESSIBILITY_ISSUE
    assert [i.stop_id for i in offline.informed_entity] == ["S2"]
    assert offline.active_period[0].start == int(went.timestamp())
    english = {t.language: t.text for t in offline.header_text.translation}["en"]
    assert "Stop S2" in english
    (broadcast,) = [a for key, a in alerts.items() if key.startswith("broadcast-")]
    assert {t.language: t.text for t in broadcast.header_text.translation} == {
        "zh-TW": "今日改道",
        "en": "Detour today",
    }
    assert [i.stop_id for i in broadcast.informed_entity] == ["S1"]
    assert broadcast.severity_level == gtfs_realtime_pb2.Alert.WARNING
    assert len(alerts) == 2  # S3's gateway is online

    api.state.devices.records[("stop", "S2")].state = DeviceState.ONLINE
    feed = await fetch(api, PATHS[2])
    assert [e.id for e in feed.entity if e.id.startswith("stop-offline")] == []


# -- built once per interval ---------------------------------------------------------------


async def test_a_feed_is_built_at_most_once_per_interval_and_its_validators_follow_content() -> (
    None
):
    clock = [100.0]
    wall = [1_000_000.0]
    builds: list[float] = []
    content = ["a"]

    async def build(now: float) -> Any:
        builds.append(now)
        feed = new_feed(now)
        feed.entity.add().id = content[0]
        return feed

    cache = FeedCache(build, max_age_s=1.0, monotonic=lambda: clock[0], wall=lambda: wall[0])
    first = await cache.get()
    for _ in range(100):  # many clients within the second
        assert await cache.get() is first
    assert len(builds) == 1

    clock[0] += 1.5
    wall[0] += 1.5
    second = await cache.get()
    assert len(builds) == 2
    assert second.pb != first.pb  # a new header timestamp ...
    assert second.etag() == first.etag()  # ... the same content: the same weak validator
    assert second.last_modified == first.last_modified == 1_000_000.0

    content[0] = "b"
    clock[0] += 1.5
    wall[0] += 1.5
    third = await cache.get()
    assert third.etag() != first.etag()
    assert third.last_modified == 1_000_003.0
