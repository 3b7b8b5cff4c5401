"""Near me, pure: bearings, compass words, clock hours, the walk, the radius that widens
once, and how a stop is worded in both languages (no database, no HTTP)."""

from __future__ import annotations

import pytest

from broker_config.messages import Localized
from rider_api.network.geo import (
    COMPASS_NAMES,
    DETOUR_FACTOR,
    PointIndex,
    bearing_deg,
    clock_hour,
    compass_point,
    haversine_m,
    spoken_metres,
    walk_to,
)
from rider_api.network.queries import NEAR_RADIUS_M, NEAR_WIDER_M, find_stops, stops_near
from rider_api.network.view import NetworkView, StopInfo
from rider_api.web.routes.find import walk_text

HERE = (25.0415, 121.5438)  # 忠孝復興
#: About 111 m of latitude and 101 m of longitude per 0.001 degree in Taipei.
DEG = 0.001


def test_bearing_of_the_four_quarters() -> None:
    lat, lon = HERE
    assert bearing_deg(lat, lon, lat + DEG, lon) == pytest.approx(0, abs=0.1)
    assert bearing_deg(lat, lon, lat, lon + DEG) == pytest.approx(90, abs=0.1)
    assert bearing_deg(lat, lon, lat - DEG, lon) == pytest.approx(180, abs=0.1)
    assert bearing_deg(lat, lon, lat, lon - DEG) == pytest.approx(270, abs=0.1)
    north_east = bearing_deg(lat, lon, lat + DEG, lon + DEG * 1.1)
    assert 40 < north_east < 50


@pytest.mark.parametrize(
    ("bearing", "point"),
    [(0, "n"), (22, "n"), (23, "ne"), (45, "ne"), (90, "e"), (135, "se"), (180, "s"),
     (225, "sw"), (270, "w"), (315, "nw"), (337, "nw"), (338, "n"), (359.9, "n"), (360, "n")],
)  # fmt: skip
def test_compass_point(bearing: float, point: str) -> None:
    assert compass_point(bearing) == point


@pytest.mark.parametrize(
    ("bearing", "heading", "hour"),
    [(0, 0, 12), (60, 0, 2), (90, 0, 3), (180, 0, 6), (270, 0, 9), (10, 350, 1),
     (350, 10, 11), (90, 90, 12), (0, 90, 9), (14, 0, 12), (16, 0, 1)],
)  # fmt: skip
def test_clock_hour(bearing: float, heading: float, hour: int) -> None:
    assert clock_hour(bearing, heading) == hour


def test_walk_is_the_straight_line_with_a_detour_and_a_careful_pace() -> None:
    lat, lon = HERE
    walk = walk_to(lat, lon, lat + DEG, lon + DEG * 1.1)
    assert walk.compass == "ne"
    assert walk.clock is None
    assert walk.walk_m == round(walk.distance_m * DETOUR_FACTOR)
    assert walk.walk_min == 4  # about 155 m straight, 202 m walked, at 60 m a minute
    assert walk.direction_words() == ("東北方", "north-east")
    facing_east = walk_to(lat, lon, lat + DEG, lon + DEG * 1.1, heading=90)
    assert facing_east.clock == 10  # 45 degrees to the left of ahead
    assert facing_east.direction_words() == ("10 點鐘方向", "at 10 o'clock")
    assert walk_to(lat, lon, lat, lon).walk_min == 1  # never "0 min"


def test_spoken_metres() -> None:
    assert spoken_metres(0) == 10
    assert spoken_metres(123) == 120
    assert spoken_metres(996) == 1000
    assert spoken_metres(1260) == 1300
    assert spoken_metres(3240) == 3200


def test_every_compass_point_has_words_in_both_languages() -> None:
    assert set(COMPASS_NAMES) == {"n", "ne", "e", "se", "s", "sw", "w", "nw"}
    assert all(zh.endswith("方") and en.isascii() for zh, en in COMPASS_NAMES.values())


@pytest.mark.parametrize(
    ("lang", "heading", "expected"),
    [
        ("en", None, "120 m north-east, about 3 min walk"),
        ("zh-TW", None, "東北方 120 公尺，步行約 3 分鐘"),
        ("en", 0.0, "120 m, at 2 o'clock, about 3 min walk"),
        ("zh-TW", 0.0, "2 點鐘方向 120 公尺，步行約 3 分鐘"),
    ],
)
def test_walk_in_words(lang: str, heading: float | None, expected: str) -> None:
    lat, lon = HERE
    # 120 m away at a bearing of 50 degrees.
    north, east = 120 * 0.6428 / 111_000, 120 * 0.766 / 100_900
    walk = walk_to(lat, lon, lat + north, lon + east, heading=heading)
    assert walk_text(walk, "en" if lang == "en" else "zh-TW") == expected


def _view(stops: dict[str, tuple[float, float]]) -> NetworkView:
    view = NetworkView()
    for stop_id, (lat, lon) in stops.items():
        name = Localized.model_validate({"zh-TW": f"站{stop_id}", "en": f"Stop {stop_id}"})
        view.stops[stop_id] = StopInfo(stop_id, name, None, lat, lon)
    view.index_stops()
    return view


def test_near_me_is_nearest_first_within_the_radius() -> None:
    lat, lon = HERE
    view = _view(
        {
            "A": (lat + 3 * DEG, lon),  # about 330 m north
            "B": (lat, lon - 1 * DEG),  # about 100 m west
            "C": (lat - 6 * DEG, lon),  # about 670 m south
            "FAR": (lat + 20 * DEG, lon),  # about 2.2 km: never "near"
        }
    )
    near = stops_near(view, lat=lat, lon=lon)
    assert [f.stop.stop_id for f in near.stops] == ["B", "A", "C"]
    assert (near.radius_m, near.widened) == (NEAR_RADIUS_M, False)
    assert [f.walk.compass for f in near.stops if f.walk] == ["w", "n", "s"]


def test_near_me_widens_once_and_says_so() -> None:
    lat, lon = HERE
    view = _view({"A": (lat + 12 * DEG, lon), "FAR": (lat + 40 * DEG, lon)})
    near = stops_near(view, lat=lat, lon=lon)
    assert [f.stop.stop_id for f in near.stops] == ["A"]
    assert (near.radius_m, near.widened) == (NEAR_WIDER_M, True)
    nothing = stops_near(_view({"FAR": (lat + 40 * DEG, lon)}), lat=lat, lon=lon)
    assert nothing.stops == []
    assert (nothing.radius_m, nothing.widened) == (NEAR_WIDER_M, True)


def test_point_index_matches_a_full_scan() -> None:
    lat, lon = HERE
    points = {
        f"P{i}": (lat + (i % 7 - 3) * DEG * 2, lon + (i % 5 - 2) * DEG * 3) for i in range(40)
    }
    index = PointIndex.build((pid, p_lat, p_lon) for pid, (p_lat, p_lon) in points.items())
    scan = sorted((haversine_m(lat, lon, *p), pid) for pid, p in points.items())
    assert index.within(lat, lon, 500) == [(d, pid) for d, pid in scan if d <= 500]
    assert index.nearest(lat, lon, 7) == scan[:7]
    assert index.nearest(lat, lon, 100) == scan  # fewer points than asked: all of them
    assert len(index) == 40


def test_find_stops_adds_the_heading_as_a_clock_hour() -> None:
    lat, lon = HERE
    view = _view({"E": (lat, lon + DEG)})
    (east,) = find_stops(view, lat=lat, lon=lon, heading=180)
    assert east.walk is not None
    assert (east.walk.compass, east.walk.clock) == ("e", 9)
