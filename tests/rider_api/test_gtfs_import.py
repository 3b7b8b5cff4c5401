"""GTFS import: the synthetic Taipei feed, the real Cairns feed, every kind of broken feed
(exact error, nothing written) and atomic replacement. SQLite always, PostgreSQL where
BUSHAIL_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import random
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from rider_api import models
from rider_api.db.engine import make_async_engine, make_sync_engine, session_factory
from rider_api.models import (
    Agency,
    NetworkMeta,
    Route,
    RouteDirection,
    RouteStop,
    ShapePoint,
    Stop,
    StopTime,
    Trip,
)
from rider_api.network import FeedError, import_feed, import_feed_async, load_feed, write_network
from rider_api.network import feed as feed_module
from rider_api.network.demo_feed import DEMO_FEED, ROUTES, STOPS
from rider_api.network.feed import open_feed
from rider_api.network.gtfs import GtfsNetwork
from rider_api.network.view import NetworkView

CAIRNS = Path(__file__).resolve().parent.parent / "data" / "cairns_gtfs.zip"
_ = models  # every table registered on SQLModel.metadata


@contextmanager
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with every table: a SQLite file, or a fresh PostgreSQL schema
    (dropped afterwards) for ``request.param == "postgresql"``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'network.db'}"
        engine = make_sync_engine(url)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"network_{uuid.uuid4().hex[:12]}"
    admin = make_sync_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        engine = make_sync_engine(url)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def network_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, tmp_path) as url:
        yield url


@pytest.fixture
def engine(network_db: str) -> Iterator[Engine]:
    engine = make_sync_engine(network_db)
    yield engine
    engine.dispose()


def count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def counts(engine: Engine) -> dict[str, int]:
    tables = (Agency, Stop, Route, RouteDirection, RouteStop, Trip, StopTime, ShapePoint)
    return {model.__name__: count(engine, model) for model in tables}


def zip_rows(name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(CAIRNS) as archive:
        data = archive.read(name).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(data)))


def seconds(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


# --- the synthetic Taipei feed ------------------------------------------------------


def test_demo_feed_imports_with_both_languages(engine: Engine) -> None:
    report = import_feed(engine, DEMO_FEED)

    assert report.feed_lang == "zh-TW"
    assert report.counts["stops"] == len(STOPS) >= 30
    assert report.counts["routes"] == len(ROUTES) >= 4
    assert report.counts["route_directions"] == 2 * len(ROUTES)
    assert counts(engine) == {
        "Agency": 1,
        "Stop": len(STOPS),
        "Route": len(ROUTES),
        "RouteDirection": 2 * len(ROUTES),
        "RouteStop": 2 * sum(len(r[4]) for r in ROUTES.values()),
        "Trip": report.counts["trips"],
        "StopTime": report.counts["stop_times"],
        "ShapePoint": 0,
    }
    with Session(engine) as s:
        main = s.get(Stop, "TPE-1001")
        assert main is not None
        assert (main.name_zh, main.name_en) == ("臺北車站", "Taipei Main Station")
        assert (main.tts_name_zh, main.tts_name_en) == (None, None)
        assert main.search_key == "臺北車站\ntaipei main station"
        taipei101 = s.get(Stop, "TPE-1010")
        assert taipei101 is not None
        assert taipei101.tts_name_zh == "臺北一零一，世貿"
        assert taipei101.tts_name_en == "Taipei one oh one, World Trade Center"
        mrt = s.get(Stop, "TPE-1027")
        assert mrt is not None
        assert (mrt.name_en, mrt.tts_name_zh, mrt.tts_name_en) == (
            "MRT Jiantan Sta.",
            None,
            "M R T Jiantan Station",
        )
        taipower = s.get(Stop, "TPE-1020")
        assert taipower is not None
        assert taipower.name_zh == "台電大樓"  # kept as written; 臺 only in the search key
        assert taipower.search_key.startswith("臺電大樓\n")

        red30 = s.get(Route, "R30")
        assert red30 is not None
        assert red30.short_name == "紅30"
        assert red30.short_name_en == "Red 30"
        plain = s.get(Route, "307")
        assert plain is not None
        assert plain.short_name_en is None  # no translation: the same in both languages
        assert (red30.long_name_zh, red30.long_name_en) == (
            "圓山－故宮博物院",
            "Red 30: Yuanshan - National Palace Museum",
        )
        assert red30.color == "E3002C"
        heads = s.exec(select(RouteDirection).where(col(RouteDirection.route_id) == "R30")).all()
        assert sorted((h.direction_id, h.headsign_zh, h.headsign_en) for h in heads) == [
            (0, "故宮博物院", "National Palace Museum"),
            (1, "圓山", "Yuanshan"),
        ]
        agency = s.get(Agency, "TPE-DEMO")
        assert agency is not None
        assert agency.timezone == "Asia/Taipei"
        publisher = s.get(NetworkMeta, "feed_publisher_name")
        assert publisher is not None
        assert "SYNTHETIC" in publisher.value
        # A trip after midnight keeps its GTFS time past 24:00.
        night = s.get(StopTime, ("307-0-2410", 1))
        assert night is not None
        assert night.arrival_s == 24 * 3600 + 10 * 60
        trip = s.get(Trip, "307-0-2410")
        assert trip is not None
        assert (trip.headsign_zh, trip.headsign_en) == ("西門", "Ximen")


def test_route_stops_follow_each_direction(engine: Engine) -> None:
    import_feed(engine, DEMO_FEED)
    with Session(engine) as s:
        for route_id, (*_names, numbers) in ROUTES.items():
            for direction_id, expected in ((0, list(numbers)), (1, list(numbers)[::-1])):
                got = s.exec(
                    select(RouteStop.stop_id)
                    .where(
                        col(RouteStop.route_id) == route_id,
                        col(RouteStop.direction_id) == direction_id,
                    )
                    .order_by(col(RouteStop.position))
                ).all()
                assert list(got) == [f"TPE-{n}" for n in expected]
        # Shared stops: Taipei Main Station is on three routes.
        serving = s.exec(
            select(RouteStop.route_id).where(col(RouteStop.stop_id) == "TPE-1001").distinct()
        ).all()
        assert sorted(serving) == ["262", "307", "ZX"]


# --- the real Cairns feed -----------------------------------------------------------


def test_cairns_feed_arrives_complete(engine: Engine) -> None:
    report = import_feed(engine, CAIRNS)

    routes, stops, trips = zip_rows("routes.txt"), zip_rows("stops.txt"), zip_rows("trips.txt")
    stop_times, shapes = zip_rows("stop_times.txt"), zip_rows("shapes.txt")
    assert (len(routes), len(stops), len(trips), len(stop_times)) == (22, 416, 1339, 37790)
    assert report.counts["stop_times"] == len(stop_times)
    with Session(engine) as s:
        assert {r.route_id for r in s.exec(select(Route)).all()} == {r["route_id"] for r in routes}
        assert {r.stop_id for r in s.exec(select(Stop)).all()} == {r["stop_id"] for r in stops}
        got_trips = {
            (t.trip_id, t.route_id, t.service_id, t.direction_id, t.shape_id)
            for t in s.exec(select(Trip)).all()
        }
        assert got_trips == {
            (t["trip_id"], t["route_id"], t["service_id"], int(t["direction_id"]), t["shape_id"])
            for t in trips
        }
        got_times = {
            (st.trip_id, st.stop_sequence): (st.stop_id, st.arrival_s, st.departure_s)
            for st in s.exec(select(StopTime)).all()
        }
        assert set(got_times) == {(st["trip_id"], int(st["stop_sequence"])) for st in stop_times}
        untimed = 0
        for st in stop_times:
            key = (st["trip_id"], int(st["stop_sequence"]))
            stop_id, arrival_s, departure_s = got_times[key]
            assert stop_id == st["stop_id"]
            if st["arrival_time"]:
                assert (arrival_s, departure_s) == (
                    seconds(st["arrival_time"]),
                    seconds(st["departure_time"]),
                )
            else:
                # 65 stop times have no time in the feed: interpolated between neighbours.
                untimed += 1
                before = max(k for k in got_times if k[0] == key[0] and k[1] < key[1])
                after = min(k for k in got_times if k[0] == key[0] and k[1] > key[1])
                assert got_times[before][2] <= arrival_s <= got_times[after][1]
        assert untimed == 65
        assert count(engine, ShapePoint) == len(shapes)
        # An English-only feed names everything in English in both languages.
        first = s.get(Stop, stops[0]["stop_id"])
        assert first is not None
        assert first.name_zh == first.name_en == stops[0]["stop_name"]
        agency = s.exec(select(Agency)).one()
        assert (agency.agency_id, agency.timezone) == ("agency", "Australia/Brisbane")
    # Every route and direction has its ordered stops and a headsign.
    assert report.counts["route_directions"] == len(
        {(t["route_id"], t["direction_id"]) for t in trips}
    )


def test_cairns_imports_in_a_few_seconds(engine: Engine) -> None:
    report = import_feed(engine, CAIRNS)
    # About 2 s on SQLite on an idle 2-core machine; the bound leaves room for a busy one.
    assert report.seconds < 30


# --- broken feeds: exact error, nothing written ----------------------------------------


def edit(folder: Path, file: str, change: Callable[[list[list[str]]], None]) -> None:
    path = folder / file
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    change(rows)
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def set_cell(file_row: int, column: str, value: str) -> Callable[[list[list[str]]], None]:
    """Change one cell; ``file_row`` is the line number in the file (header = 1)."""

    def change(rows: list[list[str]]) -> None:
        rows[file_row - 1][rows[0].index(column)] = value

    return change


def drop_column(column: str) -> Callable[[list[list[str]]], None]:
    def change(rows: list[list[str]]) -> None:
        i = rows[0].index(column)
        for row in rows:
            del row[i]

    return change


def replace_everywhere(old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        for path in folder.glob("*.txt"):
            path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")

    return change


def remove(file: str) -> Callable[[Path], None]:
    return lambda folder: (folder / file).unlink()


def editing(file: str, change: Callable[[list[list[str]]], None]) -> Callable[[Path], None]:
    return lambda folder: edit(folder, file, change)


BROKEN = [
    pytest.param(remove("stops.txt"), "stops.txt: required file is missing", id="missing-file"),
    pytest.param(
        lambda f: [remove("calendar.txt")(f)],
        "calendar.txt or calendar_dates.txt: required file is missing",
        id="missing-calendar",
    ),
    pytest.param(
        editing("stops.txt", drop_column("stop_lat")),
        "stops.txt line 1, field stop_lat: required column is missing",
        id="missing-column",
    ),
    pytest.param(
        editing("stop_times.txt", set_cell(3, "stop_id", "TPE-9999")),
        "stop_times.txt line 3, field stop_id: unknown stop 'TPE-9999' (not in stops.txt)",
        id="unknown-stop",
    ),
    pytest.param(
        editing("trips.txt", set_cell(2, "route_id", "999")),
        "trips.txt line 2, field route_id: unknown route '999' (not in routes.txt)",
        id="unknown-route",
    ),
    pytest.param(
        editing("stop_times.txt", set_cell(4, "trip_id", "NO-SUCH-TRIP")),
        "stop_times.txt line 4, field trip_id: unknown trip 'NO-SUCH-TRIP' (not in trips.txt)",
        id="unknown-trip",
    ),
    pytest.param(
        replace_everywhere("TPE-1001", "TPE 1001"),
        "stops.txt line 2, field stop_id: stop_id 'TPE 1001' is not allowed: use 1 to 64 of "
        "A-Z a-z 0-9 _ . - (no '/', '+', '#', spaces or empty ids)",
        id="stop-id-charset",
    ),
    pytest.param(
        replace_everywhere("R30,", "紅30,"),
        "routes.txt line 5, field route_id: route_id '紅30' is not allowed: use 1 to 64 of "
        "A-Z a-z 0-9 _ . - (no '/', '+', '#', spaces or empty ids)",
        id="route-id-charset",
    ),
    pytest.param(
        editing("stop_times.txt", set_cell(2, "arrival_time", "05:61:00")),
        "stop_times.txt line 2, field arrival_time: '05:61:00' is not a time "
        "(H:MM:SS; hours may pass 24)",
        id="bad-time",
    ),
    pytest.param(
        editing("stops.txt", set_cell(7, "stop_lat", "north")),
        "stops.txt line 7, field stop_lat: 'north' is not a number",
        id="bad-number",
    ),
    pytest.param(
        editing("stops.txt", set_cell(3, "stop_lon", "221.5")),
        "stops.txt line 3, field stop_lon: 221.5 is outside -180..180",
        id="out-of-range",
    ),
    pytest.param(
        editing("trips.txt", set_cell(5, "direction_id", "2")),
        "trips.txt line 5, field direction_id: '2' is not one of 0, 1",
        id="bad-direction",
    ),
    pytest.param(
        editing("stops.txt", set_cell(3, "stop_id", "TPE-1001")),
        "stops.txt line 3, field stop_id: duplicate stop_id 'TPE-1001'",
        id="duplicate-stop",
    ),
    pytest.param(
        editing("calendar.txt", set_cell(2, "start_date", "2025-01-01")),
        "calendar.txt line 2, field start_date: '2025-01-01' is not a date (YYYYMMDD)",
        id="bad-date",
    ),
    pytest.param(
        editing("trips.txt", set_cell(2, "service_id", "WEEKENDS")),
        "trips.txt line 2, field service_id: unknown service 'WEEKENDS' "
        "(not in calendar.txt or calendar_dates.txt)",
        id="unknown-service",
    ),
    pytest.param(
        lambda f: (f / "stops.txt").write_bytes(
            (f / "stops.txt").read_text(encoding="utf-8").encode("big5", errors="replace")
        ),
        "stops.txt line 2: not UTF-8 text (byte 79)",
        id="not-utf8",
    ),
]


@pytest.mark.parametrize(("breakage", "message"), BROKEN)
def test_broken_feed_is_refused_and_nothing_changes(
    engine: Engine, tmp_path: Path, breakage: Callable[[Path], None], message: str
) -> None:
    import_feed(engine, DEMO_FEED)
    before = counts(engine)
    feed = tmp_path / "broken"
    shutil.copytree(DEMO_FEED, feed)
    breakage(feed)

    with pytest.raises(FeedError) as caught:
        import_feed(engine, feed)

    assert str(caught.value.problems[0]) == message
    assert str(caught.value).startswith(message)
    assert counts(engine) == before
    with Session(engine) as s:
        source = s.get(NetworkMeta, "source")
        assert source is not None
        assert source.value == "taipei_demo"  # not "broken"


def test_every_problem_is_listed(tmp_path: Path) -> None:
    feed = tmp_path / "broken"
    shutil.copytree(DEMO_FEED, feed)
    edit(feed, "stops.txt", set_cell(2, "stop_lat", "x"))
    edit(feed, "stops.txt", set_cell(3, "stop_lon", "y"))
    with pytest.raises(FeedError) as caught:
        load_feed(feed)
    err = caught.value
    assert [str(p) for p in err.problems] == [
        "stops.txt line 2, field stop_lat: 'x' is not a number",
        "stops.txt line 3, field stop_lon: 'y' is not a number",
    ]
    assert (err.file, err.line, err.field) == ("stops.txt", 2, "stop_lat")
    assert str(err) == "stops.txt line 2, field stop_lat: 'x' is not a number (and 1 more problem)"


def test_many_problems_stop_at_a_limit(tmp_path: Path) -> None:
    feed = tmp_path / "broken"
    shutil.copytree(DEMO_FEED, feed)
    replace_everywhere(",TPE-1001,", ",TPE-0000,")(feed)
    with pytest.raises(FeedError) as caught:
        load_feed(feed)
    assert caught.value.truncated
    assert len(caught.value.problems) == 50
    assert str(caught.value).endswith("(and 49 more problems listed; stopped looking after 50)")


def test_not_a_feed(tmp_path: Path) -> None:
    junk = tmp_path / "feed.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(FeedError, match=r"feed.zip: neither a zip file nor a folder"):
        load_feed(junk)
    with pytest.raises(FeedError, match=r"no such file or folder"):
        load_feed(tmp_path / "missing.zip")


# --- feed variants ------------------------------------------------------------------


def test_zip_with_a_folder_and_bom(engine: Engine, tmp_path: Path) -> None:
    archive = tmp_path / "taipei.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in DEMO_FEED.glob("*.txt"):
            data = path.read_bytes()
            if path.name == "stops.txt":
                data = b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")
            z.writestr(f"taipei_demo/{path.name}", data)
    report = import_feed(engine, archive)
    assert report.counts["stops"] == len(STOPS)
    with Session(engine) as s:
        stop = s.get(Stop, "TPE-1001")
        assert stop is not None
        assert stop.name_en == "Taipei Main Station"


def test_legacy_translations_and_missing_times(engine: Engine, tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(DEMO_FEED, feed)
    (feed / "translations.txt").write_text(
        "trans_id,lang,translation\n臺北車站,en,Taipei Main Station\n臺北車站,zh-TW,臺北車站\n",
        encoding="utf-8",
    )
    # Stops without times get evenly spaced ones between their neighbours (05:30:00 and
    # 05:41:30 in the first trip).
    for line in (3, 4):
        edit(feed, "stop_times.txt", set_cell(line, "arrival_time", ""))
        edit(feed, "stop_times.txt", set_cell(line, "departure_time", ""))
    import_feed(engine, feed)
    with Session(engine) as s:
        main = s.get(Stop, "TPE-1001")
        beimen = s.get(Stop, "TPE-1002")
        assert main is not None
        assert beimen is not None
        assert (main.name_zh, main.name_en) == ("臺北車站", "Taipei Main Station")
        assert (beimen.name_zh, beimen.name_en) == ("北門", "北門")  # no translation: as written
        times = [
            (st.arrival_s, st.departure_s)
            for st in s.exec(
                select(StopTime)
                .where(col(StopTime.trip_id) == "ZX-0-0530")
                .order_by(col(StopTime.stop_sequence))
            ).all()[:4]
        ]
    first, fourth = 5 * 3600 + 30 * 60, 5 * 3600 + 41 * 60 + 30
    assert times == [
        (first, first),
        (first + 230, first + 230),
        (first + 460, first + 460),
        (fourth, fourth),
    ]


def test_missing_end_times_are_refused(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(DEMO_FEED, feed)
    edit(feed, "stop_times.txt", set_cell(2, "arrival_time", ""))
    edit(feed, "stop_times.txt", set_cell(2, "departure_time", ""))
    with pytest.raises(FeedError) as caught:
        load_feed(feed)
    assert str(caught.value) == (
        "stop_times.txt line 2, field arrival_time: the first and last stop of a trip need times"
    )


# --- replacing the network ------------------------------------------------------------


def test_reimport_replaces_the_network(engine: Engine) -> None:
    demo = import_feed(engine, DEMO_FEED)
    import_feed(engine, CAIRNS)
    with Session(engine) as s:
        assert s.get(Stop, "TPE-1001") is None
    assert count(engine, Stop) == 416
    again = import_feed(engine, DEMO_FEED)
    assert again.counts == demo.counts
    assert counts(engine)["Stop"] == len(STOPS)
    assert counts(engine)["ShapePoint"] == 0


def demo_with_a_refused_row() -> GtfsNetwork:
    """The demo feed with a stop time the database refuses (its stop does not exist),
    written after the deletes and most inserts."""
    network = load_feed(DEMO_FEED)
    network.rows[StopTime].append(
        {
            "trip_id": "ZX-0-0530",
            "stop_sequence": 99,
            "stop_id": "NOT-A-STOP",
            "arrival_s": 0,
            "departure_s": 0,
            "shape_dist_traveled": None,
        }
    )
    return network


def test_a_failed_write_leaves_the_old_network(engine: Engine) -> None:
    import_feed(engine, CAIRNS)
    before = counts(engine)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        write_network(conn, demo_with_a_refused_row())
    assert counts(engine) == before


async def test_import_from_a_running_app(network_db: str) -> None:
    engine = make_async_engine(network_db)
    try:
        report = await import_feed_async(engine, DEMO_FEED)
    finally:
        await engine.dispose()
    assert report.counts["stops"] == len(STOPS)
    sync = make_sync_engine(network_db)
    try:
        assert count(sync, Stop) == len(STOPS)
    finally:
        sync.dispose()


# --- the streaming import: the same rows as before, in bounded memory -----------------

#: Rows and a digest of every table as the importer wrote them before it streamed (it
#: held the whole feed in memory and inserted through SQLAlchemy); measured on SQLite
#: and PostgreSQL alike. The digest is over the rows in primary-key order (see table_digest).
BEFORE_STREAMING = {
    "cairns": {
        "Agency": (1, "a6bcd0c49a4d3781"),
        "Stop": (416, "cbc10e0004c62218"),
        "Route": (22, "8584ec8450cdd711"),
        "RouteDirection": (40, "03e5e8b3adc8fcf7"),
        "RouteStop": (1172, "1c49059a27f74976"),
        "ServiceCalendar": (4, "95f081f85230bacd"),
        "CalendarDate": (9, "55846d5d898175b9"),
        "ShapePoint": (22784, "032804a03bde413e"),
        "Trip": (1339, "b39a1bab2612d14a"),
        "StopTime": (37790, "42a8e162a6430b3e"),
    },
    "taipei_demo": {
        "Agency": (1, "991ae8bd13117d92"),
        "Stop": (35, "8bd6ced8e626c436"),
        "Route": (5, "95f29e815b0fbac6"),
        "RouteDirection": (10, "1bf64dda4b920d38"),
        "RouteStop": (82, "27c1fc930fa154e6"),
        "ServiceCalendar": (1, "66e120f9991e52f7"),
        "CalendarDate": (0, "e3b0c44298fc1c14"),
        "ShapePoint": (0, "e3b0c44298fc1c14"),
        "Trip": (801, "d24805009e1762ca"),
        "StopTime": (6569, "188632f2dcb15d3c"),
    },
}
_DIGESTED = (
    models.Agency,
    models.Stop,
    models.Route,
    models.RouteDirection,
    models.RouteStop,
    models.ServiceCalendar,
    models.CalendarDate,
    models.ShapePoint,
    models.Trip,
    models.StopTime,
)


def table_digest(engine: Engine, model: type[SQLModel]) -> tuple[int, str]:
    """(rows, the first 16 hex digits of the SHA-256 of their reprs in key order)."""
    table = model.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(*table.columns).order_by(*table.primary_key.columns)).all()
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(tuple(row)).encode())
    return len(rows), digest.hexdigest()[:16]


def digests(engine: Engine) -> dict[str, tuple[int, str]]:
    return {model.__name__: table_digest(engine, model) for model in _DIGESTED}


@pytest.mark.parametrize(("feed", "name"), [(CAIRNS, "cairns"), (DEMO_FEED, "taipei_demo")])
def test_streaming_writes_the_same_rows_as_before(engine: Engine, feed: Path, name: str) -> None:
    import_feed(engine, feed)
    assert digests(engine) == BEFORE_STREAMING[name]
    # A second import over the first replaces it with the same rows.
    import_feed(engine, feed)
    assert digests(engine) == BEFORE_STREAMING[name]


def shuffled_copy(source: Path, folder: Path, *files: str) -> Path:
    """The feed with the rows of ``files`` in a random order (trips' rows apart)."""
    folder.mkdir()
    with zipfile.ZipFile(source) as archive:
        for member in archive.namelist():
            data = archive.read(member).decode("utf-8-sig")
            if member in files:
                header, *rows = data.splitlines()
                random.Random(16).shuffle(rows)
                data = "\n".join([header, *rows]) + "\n"
            (folder / member).write_text(data, encoding="utf-8")
    return folder


def test_a_feed_with_trips_rows_apart_gives_the_same_rows(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feed = shuffled_copy(CAIRNS, tmp_path / "shuffled", "stop_times.txt", "shapes.txt")
    with caplog.at_level(logging.WARNING, logger="rider_api.network.importer"):
        import_feed(engine, feed)
    assert "reading the feed again with every trip held in memory" in caplog.text
    assert digests(engine) == BEFORE_STREAMING["cairns"]


def bigger_cairns(folder: Path, copies: int) -> Path:
    """Cairns with its trips ``copies`` times over (new trip ids): 37,790 x copies stop
    times, each copy's rows together."""
    folder.mkdir()
    with zipfile.ZipFile(CAIRNS) as archive:
        for member in archive.namelist():
            text = archive.read(member).decode("utf-8-sig")
            if member in ("trips.txt", "stop_times.txt"):
                header, *rows = text.splitlines()
                id_at = header.split(",").index("trip_id")
                lines = [header]
                for copy in range(copies):
                    for row in rows:
                        cells = row.split(",")
                        cells[id_at] = f"{cells[id_at]}-{copy}"
                        lines.append(",".join(cells))
                text = "\n".join(lines) + "\n"
            (folder / member).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "arrival_time",
            "25:99:00",
            "field arrival_time: '25:99:00' is not a time (H:MM:SS; hours may pass 24)",
        ),
        ("stop_id", "NOWHERE", "field stop_id: unknown stop 'NOWHERE' (not in stops.txt)"),
        ("stop_sequence", "1", "field stop_sequence: duplicate stop_sequence ("),
    ],
    ids=["bad-time", "unknown-stop", "duplicate-sequence"],
)
def test_a_bad_row_in_the_middle_of_a_big_feed_changes_nothing(
    engine: Engine, tmp_path: Path, column: str, value: str, message: str
) -> None:
    import_feed(engine, DEMO_FEED)
    before = digests(engine)
    with Session(engine) as s:
        version_before = sorted((m.key, m.value) for m in s.exec(select(NetworkMeta)).all())
    feed = bigger_cairns(tmp_path / "big", copies=3)
    # Line 60,000 of 113,371: tens of thousands of rows are written before it is read.
    edit(feed, "stop_times.txt", set_cell(60_000, column, value))

    with pytest.raises(FeedError) as caught:
        import_feed(engine, feed)

    problem = str(caught.value.problems[0])
    assert problem.startswith(f"stop_times.txt line 60000, {message}")
    assert len(caught.value.problems) == 1
    assert digests(engine) == before
    with Session(engine) as s:
        version = sorted((m.key, m.value) for m in s.exec(select(NetworkMeta)).all())
    assert version == version_before  # the running API sees no new network


def test_a_big_feed_imports_whole(engine: Engine, tmp_path: Path) -> None:
    report = import_feed(engine, bigger_cairns(tmp_path / "big", copies=3))
    assert report.counts["stop_times"] == count(engine, StopTime) == 3 * 37790
    assert report.counts["trips"] == count(engine, Trip) == 3 * 1339


def test_the_database_keeps_its_settings_and_indexes(engine: Engine) -> None:
    import_feed(engine, DEMO_FEED)
    indexes = {index["name"] for index in inspect(engine).get_indexes("stoptime")}
    assert "ix_stoptime_stop_id" in indexes
    if engine.dialect.name == "sqlite":
        # The import turned foreign keys off on its connection, and back on after.
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -2000


async def test_every_import_is_a_new_network_version(network_db: str) -> None:
    sync = make_sync_engine(network_db)
    engine = make_async_engine(network_db)
    try:
        versions = []
        for _ in range(2):  # the same feed, twice within a second
            import_feed(sync, DEMO_FEED)
            async with session_factory(engine)() as session:
                versions.append(await NetworkView.current_version(session))
    finally:
        sync.dispose()
        await engine.dispose()
    assert versions[0] != versions[1]


def test_a_trip_cannot_stop_at_a_place_without_coordinates(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(DEMO_FEED, feed)

    def add_walkway_node(rows: list[list[str]]) -> None:
        rows[0].append("location_type")
        for row in rows[1:]:
            row.append("")
        rows.append(["NODE-1", "Walkway node", "", "", "", "", "3"])

    edit(feed, "stops.txt", add_walkway_node)
    load_feed(feed)  # a generic node is no problem in itself: it is left out
    edit(feed, "stop_times.txt", set_cell(3, "stop_id", "NODE-1"))
    with pytest.raises(FeedError) as caught:
        load_feed(feed)
    assert str(caught.value) == (
        "stop_times.txt line 3, field stop_id: stop 'NODE-1' has no place "
        "(location_type 3): a trip stops at a stop or platform"
    )


# --- the streaming CSV reader -----------------------------------------------------------


def test_the_reader_takes_bom_quotes_crlf_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "stops.txt").write_bytes(
        b"\xef\xbb\xbf stop_id , stop_name,stop_desc\r\n"
        b'S1,"Main St, north side","says ""hi"""\r\n'
        b"\r\n"
        b'S2,"Two\r\nlines",\r\n'
        b"S3\r\n"
        b"S4,Far,x,extra\r\n"
    )
    with open_feed(tmp_path) as files, files.stream("stops.txt", ("stop_id",)) as stream:
        assert stream.columns == ("stop_id", "stop_name", "stop_desc")
        rows = [(line, stream.row(values)) for line, values in stream]
    assert rows == [
        (2, {"stop_id": "S1", "stop_name": "Main St, north side", "stop_desc": 'says "hi"'}),
        (5, {"stop_id": "S2", "stop_name": "Two\r\nlines", "stop_desc": ""}),
        (6, {"stop_id": "S3", "stop_name": "", "stop_desc": ""}),
        (7, {"stop_id": "S4", "stop_name": "Far", "stop_desc": "x"}),
    ]


def test_the_reader_finds_a_bad_byte_past_its_first_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small scanning chunk splits the three-byte 臺 across reads.
    monkeypatch.setattr(feed_module, "_SCAN_CHUNK", 7)
    good = "stop_id,stop_name\n" + "".join(f"S{i},臺北{i}\n" for i in range(2000))
    data = b"\xef\xbb\xbf" + good.encode() + b"S9,\xff\n"
    (tmp_path / "stops.txt").write_bytes(data)
    with (
        pytest.raises(FeedError) as caught,
        open_feed(tmp_path) as files,
        files.stream("stops.txt") as stream,
    ):
        for _row in stream:
            pass
    assert len(good.encode()) > 8192  # past what the text layer reads at once
    assert str(caught.value) == (
        f"stops.txt line 2002: not UTF-8 text (byte {len(good.encode()) + 3})"
    )


def test_broken_csv_is_reported_at_its_line(tmp_path: Path) -> None:
    huge = "x" * 200_000  # past the csv module's field size limit
    (tmp_path / "stops.txt").write_text(f"stop_id,stop_name\nS1,ok\nS2,{huge}\n")
    with (
        pytest.raises(FeedError, match=r"stops.txt line 3: not valid CSV \(field larger"),
        open_feed(tmp_path) as files,
    ):
        files.read("stops.txt")
