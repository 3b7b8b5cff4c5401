"""Network queries over the imported synthetic Taipei feed: stop search in either language
(台 and 臺 alike), nearest first, stop and route detail, timetable departures; and the
HTTP endpoints that serve them. SQLite always, PostgreSQL where configured."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from rider_api.db.engine import make_async_engine, make_sync_engine, session_factory
from rider_api.network import import_feed
from rider_api.network.demo_feed import DEMO_FEED, ROUTES, STOPS
from rider_api.network.geo import bounding_box, haversine_m
from rider_api.network.queries import (
    FoundStop,
    find_stops,
    get_route_detail,
    get_stop_detail,
    list_routes,
    natural_key,
    next_departures,
)
from rider_api.network.search import Match, query_terms, search_key
from rider_api.network.text import normalize
from rider_api.network.view import NetworkView
from tests.rider_api.conftest import ApiFactory
from tests.rider_api.test_gtfs_import import fresh_database

TAIPEI = zoneinfo.ZoneInfo("Asia/Taipei")
MAIN_STATION = (25.0463, 121.5170)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, tmp_path) as url:
        import_feed(url, DEMO_FEED)
        yield url


@pytest.fixture
async def session(demo_db: str) -> AsyncIterator[AsyncSession]:
    engine = make_async_engine(demo_db)
    try:
        async with session_factory(engine)() as s:
            yield s
    finally:
        await engine.dispose()


# --- pure parts ---------------------------------------------------------------------


def test_normalize_folds_case_width_tai_and_simplified() -> None:
    assert normalize("  台北  Main\tＳＴＡＴＩＯＮ ") == "臺北 main station"
    assert normalize("台北车站") == normalize("臺北車站") == "臺北車站"
    assert normalize("台电大楼") == "臺電大樓"
    assert normalize("國父紀念舘") == "國父紀念館"
    assert search_key("台北车站", "Taipei Main Station") == "臺北車站\ntaipei main station"
    assert search_key("臺北車站", "Taipei Main Station", "臺北車站") == (
        "臺北車站\ntaipei main station"
    )
    assert query_terms("Taipei  main") == ["taipei", "main"]
    assert query_terms("   ") == []
    assert query_terms("臺北\x00車站") == ["臺北", "車站"]


def test_haversine_and_box() -> None:
    # Taipei Main Station to Taipei 101: about 4.9 km as the crow flies.
    assert 4850 < haversine_m(*MAIN_STATION, 25.0330, 121.5637) < 5000
    assert haversine_m(0, 0, 0, 180) == pytest.approx(20_015_115, rel=1e-3)
    box = bounding_box(*MAIN_STATION, 1000)
    assert box.min_lon is not None
    assert box.max_lon is not None
    # The box holds the whole circle: points 1 km away north and east lie inside.
    assert box.max_lat > MAIN_STATION[0] + 0.0089 > MAIN_STATION[0]
    assert haversine_m(MAIN_STATION[0], box.max_lon, *MAIN_STATION) >= 999
    assert bounding_box(89.99, 0, 5000).min_lon is None  # around the pole
    assert bounding_box(0, 179.99, 5000).min_lon is None  # across the antimeridian


def test_natural_order() -> None:
    names = ["紅30", "307", "棕9", "26", "262", "忠孝幹線", "棕10"]
    assert sorted(names, key=natural_key) == ["26", "262", "307", "忠孝幹線", "棕9", "棕10", "紅30"]


# --- search (the network view in memory) ------------------------------------------------


@pytest.fixture
async def view(session: AsyncSession) -> NetworkView:
    return await NetworkView.load(session)


def ids(found: list[FoundStop]) -> list[str]:
    return [f.stop.stop_id for f in found]


def test_search_by_name_in_either_language(view: NetworkView) -> None:
    def search(query: str, limit: int = 20) -> list[str]:
        return ids(find_stops(view, query=query, limit=limit))

    assert search("臺北車站")[0] == "TPE-1001"
    assert search("台北車站") == ["TPE-1001"]
    # Simplified characters, as a phone keyboard set to simplified Chinese types them.
    assert search("台北车站") == ["TPE-1001"]
    assert search("台北 车站") == ["TPE-1001"]
    assert search("taipei MAIN") == ["TPE-1001"]
    assert search("ｔａｉｐｅｉ main") == ["TPE-1001"]
    assert search("main taipei") == ["TPE-1001"]
    # The stop is written 台電大樓: found with either character.
    assert search("臺電") == ["TPE-1020"]
    assert search("台電大樓") == ["TPE-1020"]
    assert search("台电大楼") == ["TPE-1020"]
    assert search("taipower") == ["TPE-1020"]
    assert search("no such stop") == []
    # LIKE wildcards and control characters are plain characters.
    assert search("%") == []
    assert search("_") == []
    assert search("臺北\x00車站") == ["TPE-1001"]


def test_search_ranks_exact_then_prefix_then_contains(view: NetworkView) -> None:
    found = find_stops(view, query="中山")
    # 捷運中山站 is 中山 once 捷運 and 站 are set aside; 中山堂 and 中山國中 start with it.
    assert ids(found) == ["TPE-1016", "TPE-1017", "TPE-1034"]
    assert [f.match for f in found] == [Match.EXACT, Match.PREFIX, Match.PREFIX]
    mrt = find_stops(view, query="MRT", limit=3)
    assert len(mrt) == 3
    assert all(f.stop.name.en.startswith("MRT") for f in mrt)
    assert all(f.distance_m is None for f in mrt)
    assert ids(find_stops(view, query="ximen"))[0] == "TPE-1018"


def test_search_near_a_place_orders_matches_by_distance(view: NetworkView) -> None:
    yuanshan = (25.0713, 121.5201)
    found = find_stops(view, query="mrt", lat=yuanshan[0], lon=yuanshan[1])
    assert ids(found)[:3] == ["TPE-1027", "TPE-1016", "TPE-1028"]  # Jiantan, Zhongshan, Shilin
    distances = [f.distance_m or 0.0 for f in found]
    assert distances == sorted(distances)
    assert all(f.walk is not None and f.walk.compass for f in found)


def test_nearest_stops_with_distances(view: NetworkView) -> None:
    found = find_stops(view, lat=MAIN_STATION[0], lon=MAIN_STATION[1], limit=5)
    expected = sorted(
        STOPS, key=lambda sid: haversine_m(*MAIN_STATION, STOPS[sid][2], STOPS[sid][3])
    )[:5]
    assert ids(found) == expected
    assert found[0].distance_m == pytest.approx(0, abs=1)
    distances = [f.distance_m or 0.0 for f in found]
    assert distances == sorted(distances)
    assert 300 < distances[1] < 800
    # Within a radius: only the stops inside it.
    inside = find_stops(view, lat=MAIN_STATION[0], lon=MAIN_STATION[1], radius_m=500)
    assert inside
    assert all((f.distance_m or 0.0) <= 500 for f in inside)
    assert ids(inside) == [s for s in expected if haversine_m(*MAIN_STATION, *STOPS[s][2:4]) <= 500]


def test_nearest_from_far_away_still_answers(view: NetworkView) -> None:
    # From Cairns, Australia: every stop is thousands of km away; the search widens.
    found = find_stops(view, lat=-16.92, lon=145.77, limit=len(STOPS) + 5)
    assert len(found) == len(STOPS)
    assert all(5_000_000 < (f.distance_m or 0) < 6_000_000 for f in found)
    # From the other side of the Earth.
    assert len(find_stops(view, lat=-25.0, lon=-58.5, limit=2)) == 2


def test_no_query_and_no_place_lists_stops(view: NetworkView) -> None:
    assert ids(find_stops(view, limit=3)) == ["TPE-1001", "TPE-1002", "TPE-1003"]
    assert ids(find_stops(view, query="  ", limit=1)) == ["TPE-1001"]


# --- stops and routes ------------------------------------------------------------------


async def test_stop_detail_lists_routes_and_directions(session: AsyncSession) -> None:
    detail = await get_stop_detail(session, "TPE-1001")
    assert detail is not None
    assert detail.stop.name_en == "Taipei Main Station"
    served = [
        (s.route.route_id, s.direction.direction_id, s.direction.headsign_en, s.position)
        for s in detail.routes
    ]
    assert served == [
        ("262", 0, "Yuanshan", 5),
        ("262", 1, "Gongguan", 4),
        ("307", 0, "Ximen", 6),
        ("307", 1, "Raohe Street Night Market", 2),
        ("ZX", 0, "Taipei 101 / World Trade Center", 1),
        ("ZX", 1, "Beimen", 8),
    ]
    assert not any(s.is_last_stop for s in detail.routes)

    ximen = await get_stop_detail(session, "TPE-1018")
    assert ximen is not None
    assert [(s.route.route_id, s.direction.direction_id, s.is_last_stop) for s in ximen.routes] == [
        ("307", 0, True),
        ("307", 1, False),
    ]
    assert await get_stop_detail(session, "TPE-0000") is None


async def test_routes_and_route_detail(session: AsyncSession) -> None:
    routes = await list_routes(session)
    assert [r.route.short_name for r in routes] == ["262", "307", "忠孝幹線", "棕9", "紅30"]
    assert all([d.direction_id for d in r.directions] == [0, 1] for r in routes)

    detail = await get_route_detail(session, "R30")
    assert detail is not None
    assert detail.route.short_name == "紅30"
    numbers = ROUTES["R30"][4]
    assert [d.direction.direction_id for d in detail.directions] == [0, 1]
    assert [s.stop_id for s in detail.directions[0].stops] == [f"TPE-{n}" for n in numbers]
    assert [s.stop_id for s in detail.directions[1].stops] == [f"TPE-{n}" for n in numbers[::-1]]
    assert detail.directions[0].direction.headsign_zh == "故宮博物院"
    assert await get_route_detail(session, "999") is None


async def test_next_departures_from_the_timetable(session: AsyncSession) -> None:
    now = dt.datetime(2025, 6, 2, 8, 0, tzinfo=TAIPEI)
    departures = await next_departures(session, stop_id="TPE-1001", now=now, limit=8)
    assert len(departures) == 8
    assert all(0 <= d.in_s <= 3 * 3600 for d in departures)
    assert [d.departs_at for d in departures] == sorted(d.departs_at for d in departures)
    assert {d.route.route_id for d in departures} <= {"262", "307", "ZX"}
    first = departures[0]
    assert first.departs_at == now + dt.timedelta(seconds=first.in_s)
    # At the end of a direction nobody boards towards it: only 307 towards Raohe leaves Ximen.
    ximen = await next_departures(session, stop_id="TPE-1018", now=now)
    assert {(d.route.route_id, d.direction_id) for d in ximen} == {("307", 1)}


async def test_a_trip_after_midnight_belongs_to_the_day_before(session: AsyncSession) -> None:
    just_after_midnight = dt.datetime(2025, 6, 3, 0, 5, tzinfo=TAIPEI)
    departures = await next_departures(
        session, stop_id="TPE-1001", now=just_after_midnight.astimezone(dt.UTC)
    )
    assert [d.trip_id for d in departures] == ["307-0-2410"]
    assert departures[0].departs_at.tzinfo is not None
    assert departures[0].departs_at.date() == dt.date(2025, 6, 3)
    # Outside the calendar there is nothing.
    none = await next_departures(
        session, stop_id="TPE-1001", now=dt.datetime(2030, 1, 1, 8, tzinfo=TAIPEI)
    )
    assert none == []


# --- over HTTP ----------------------------------------------------------------------------


async def test_network_endpoints(make_api: ApiFactory, database_url: str) -> None:
    engine = make_sync_engine(database_url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    import_feed(database_url, DEMO_FEED)
    api = await make_api(seed=False, mqtt=False)
    rider = await api.rider()
    headers = rider["headers"]
    client = api.client

    found = await client.get("/v1/stops", params={"q": "台北車站"}, headers=headers)
    assert found.status_code == 200, found.text
    assert found.json() == [
        {
            "stop_id": "TPE-1001",
            "name": {"zh-TW": "臺北車站", "en": "Taipei Main Station"},
            "spoken_name": {"zh-TW": "臺北車站", "en": "Taipei Main Station"},
            "lat": 25.0463,
            "lon": 121.517,
            "distance_m": None,
            # Added in v1.x: how the name matched; the way there from a position.
            "match": "exact",
            "bearing_deg": None,
            "compass": None,
            "clock": None,
            "direction": None,
            "walk_m": None,
            "walk_min": None,
        }
    ]
    simplified = await client.get("/v1/stops", params={"q": "台北车站"}, headers=headers)
    assert simplified.json() == found.json()
    near = await client.get(
        "/v1/stops", params={"lat": 25.0330, "lon": 121.5637, "limit": 2}, headers=headers
    )
    assert [s["stop_id"] for s in near.json()] == ["TPE-1010", "TPE-1009"]
    assert near.json()[0]["spoken_name"]["en"] == "Taipei one oh one, World Trade Center"
    assert near.json()[0]["distance_m"] == pytest.approx(0, abs=1)
    # Added in v1.x: the direction and the walk, in words too; a clock hour with a heading.
    city_hall = near.json()[1]
    assert city_hall["compass"] == "n"
    assert city_hall["direction"] == {"zh-TW": "北方", "en": "north"}
    assert city_hall["clock"] is None
    assert city_hall["walk_m"] == round(city_hall["distance_m"] * 1.3)
    assert city_hall["walk_min"] >= 1
    assert city_hall["match"] is None
    facing_east = await client.get(
        "/v1/stops",
        params={"lat": 25.0330, "lon": 121.5637, "heading": 90, "limit": 2},
        headers=headers,
    )
    assert facing_east.json()[1]["clock"] == 9
    assert facing_east.json()[1]["direction"] == {"zh-TW": "9 點鐘方向", "en": "at 9 o'clock"}
    within = await client.get(
        "/v1/stops", params={"lat": 25.0330, "lon": 121.5637, "radius_m": 100}, headers=headers
    )
    assert [s["stop_id"] for s in within.json()] == ["TPE-1010"]
    forgiving = {
        "忠孝復興站": "TPE-1006",
        "Chunghsiao Fuhsing": "TPE-1006",
        "taipei main staton": "TPE-1001",
        "台北车站": "TPE-1001",
    }
    for query, stop_id in forgiving.items():
        r = await client.get("/v1/stops", params={"q": query}, headers=headers)
        assert [s["stop_id"] for s in r.json()][:1] == [stop_id], query
    nonsense = await client.get("/v1/stops", params={"q": "qwertyuiop"}, headers=headers)
    assert nonsense.json() == []

    half = await client.get("/v1/stops", params={"lat": 25.0}, headers=headers)
    assert half.status_code == 422
    assert half.headers["content-type"] == "application/problem+json"
    assert half.json()["type"].endswith("/lat-lon-together")
    bad = await client.get("/v1/stops", params={"lat": 95, "lon": 0}, headers=headers)
    assert bad.status_code == 422

    stop = await client.get("/v1/stops/TPE-1001", headers=headers)
    assert stop.status_code == 200
    body = stop.json()
    assert body["name"] == {"zh-TW": "臺北車站", "en": "Taipei Main Station"}
    assert {(r["route_id"], r["direction_id"]) for r in body["routes"]} == {
        (route_id, d) for route_id in ("262", "307", "ZX") for d in (0, 1)
    }
    zx = next(r for r in body["routes"] if r["route_id"] == "ZX" and r["direction_id"] == 0)
    assert zx["short_name"] == "忠孝幹線"
    assert zx["headsign"] == {"zh-TW": "臺北101/世貿", "en": "Taipei 101 / World Trade Center"}
    assert isinstance(body["next_departures"], list)

    missing = await client.get("/v1/stops/TPE-0000", headers=headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == (
        "No stop with id 'TPE-0000'. Search stops with GET /v1/stops?q=..."
    )
    assert missing.json()["type"].endswith("/stop-not-found")

    routes = await client.get("/v1/routes", headers=headers)
    assert routes.status_code == 200
    red = next(r for r in routes.json() if r["route_id"] == "R30")
    assert red["short_name"] == "紅30"
    assert red["name"]["en"] == "Red 30: Yuanshan - National Palace Museum"
    assert [d["headsign"]["en"] for d in red["directions"]] == [
        "National Palace Museum",
        "Yuanshan",
    ]

    route = await client.get("/v1/routes/R30", headers=headers)
    assert route.status_code == 200
    assert [s["stop_id"] for s in route.json()["directions"][0]["stops"]] == [
        f"TPE-{n}" for n in ROUTES["R30"][4]
    ]
    odd = await client.get("/v1/stops/%00x", headers=headers)
    assert odd.status_code == 404
    nul = await client.get("/v1/stops", params={"q": "臺北\x00"}, headers=headers)
    assert nul.status_code == 200
    unknown = await client.get("/v1/routes/999", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/route-not-found")

    for path in ("/v1/stops?q=x", "/v1/stops/TPE-1001", "/v1/routes", "/v1/routes/R30"):
        assert (await client.get(path)).status_code == 401, path
