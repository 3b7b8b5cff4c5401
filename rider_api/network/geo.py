"""Distances and directions on the Earth for "nearest stop first" and "how do I walk
there" (pure maths, no I/O)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "COMPASS_NAMES",
    "COMPASS_POINTS",
    "DETOUR_FACTOR",
    "EARTH_RADIUS_M",
    "WALK_M_PER_MIN",
    "Box",
    "PointIndex",
    "Walk",
    "bearing_deg",
    "bounding_box",
    "clock_hour",
    "compass_point",
    "haversine_m",
    "spoken_metres",
    "walk_to",
]

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Box:
    """Every point within the radius lies inside; ``min_lon`` is None when the box
    spans every longitude (near a pole, across the antimeridian, or very large)."""

    min_lat: float
    max_lat: float
    min_lon: float | None
    max_lon: float | None


def bounding_box(lat: float, lon: float, radius_m: float) -> Box:
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        return Box(max(min_lat, -90.0), min(max_lat, 90.0), None, None)
    # Exact half-width in longitude of a circle on the sphere (J. Matuschek's method).
    angle = radius_m / EARTH_RADIUS_M
    ratio = math.sin(angle) / math.cos(math.radians(lat))
    if angle >= math.pi / 2 or ratio >= 1:
        return Box(min_lat, max_lat, None, None)
    dlon = math.degrees(math.asin(ratio))
    if lon - dlon < -180 or lon + dlon > 180:
        return Box(min_lat, max_lat, None, None)
    return Box(min_lat, max_lat, lon - dlon, lon + dlon)


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The initial great-circle bearing from point 1 to point 2: 0 north, 90 east."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


#: The eight compass points, clockwise from north (what riders are told without a heading).
COMPASS_POINTS = ("n", "ne", "e", "se", "s", "sw", "w", "nw")
#: How each is said: (zh-TW, en).
COMPASS_NAMES: dict[str, tuple[str, str]] = {
    "n": ("北方", "north"),
    "ne": ("東北方", "north-east"),
    "e": ("東方", "east"),
    "se": ("東南方", "south-east"),
    "s": ("南方", "south"),
    "sw": ("西南方", "south-west"),
    "w": ("西方", "west"),
    "nw": ("西北方", "north-west"),
}


def compass_point(bearing: float) -> str:
    """The nearest of the eight compass points ("n", "ne" ...) to a bearing in degrees."""
    return COMPASS_POINTS[math.floor((bearing % 360.0) / 45.0 + 0.5) % 8]


def clock_hour(bearing: float, heading: float) -> int:
    """Where a bearing lies for someone facing ``heading``, as a clock hour (12 ahead,
    3 to the right, 6 behind, 9 to the left)."""
    hour = math.floor(((bearing - heading) % 360.0) / 30.0 + 0.5) % 12  # halves round up
    return hour or 12


#: Streets do not run straight to the stop: the walk is taken as this much longer than
#: the straight line (a usual urban detour factor; said as "about").
DETOUR_FACTOR = 1.3
#: A careful walking pace, metres a minute (about 3.6 km/h: slower than the usual 5 km/h,
#: for a rider with a cane or a guide dog crossing at signals).
WALK_M_PER_MIN = 60.0


@dataclass(frozen=True, slots=True)
class Walk:
    """The way to a stop as a rider is told it."""

    distance_m: float  # straight line
    bearing_deg: float  # from the rider to the stop
    compass: str  # one of COMPASS_POINTS
    clock: int | None  # 1..12 when the rider's heading is known
    walk_m: int  # the straight line times DETOUR_FACTOR, rounded
    walk_min: int  # at WALK_M_PER_MIN, at least 1

    def direction_words(self) -> tuple[str, str]:
        """(zh-TW, en): "2 點鐘方向" / "at 2 o'clock" with a heading, else "東北方" /
        "north-east"."""
        if self.clock is not None:
            return f"{self.clock} 點鐘方向", f"at {self.clock} o'clock"
        return COMPASS_NAMES[self.compass]


def walk_to(
    lat: float, lon: float, stop_lat: float, stop_lon: float, *, heading: float | None = None
) -> Walk:
    """Distance, direction and an honest estimate of the walk from a rider to a stop."""
    distance = haversine_m(lat, lon, stop_lat, stop_lon)
    bearing = bearing_deg(lat, lon, stop_lat, stop_lon)
    walk_m = distance * DETOUR_FACTOR
    return Walk(
        distance_m=distance,
        bearing_deg=bearing,
        compass=compass_point(bearing),
        clock=clock_hour(bearing, heading) if heading is not None else None,
        walk_m=round(walk_m),
        walk_min=max(1, math.ceil(walk_m / WALK_M_PER_MIN)),
    )


def spoken_metres(metres: float) -> int:
    """A distance as it is worth saying: to 10 m under a kilometre, to 100 m above."""
    step = 10 if metres < 1000 else 100
    return max(step, round(metres / step) * step)


@dataclass(frozen=True)
class PointIndex:
    """Named points sorted by latitude: "within r metres" reads only a band of them."""

    _lats: list[float]
    _points: list[tuple[float, float, str]]  # (lat, lon, id), sorted by lat

    @classmethod
    def build(cls, points: Iterable[tuple[str, float, float]]) -> PointIndex:
        ordered = sorted((lat, lon, point_id) for point_id, lat, lon in points)
        return cls([lat for lat, _, _ in ordered], ordered)

    def __len__(self) -> int:
        return len(self._points)

    def within(self, lat: float, lon: float, radius_m: float) -> list[tuple[float, str]]:
        """(distance, id) of the points within ``radius_m``, nearest first."""
        box = bounding_box(lat, lon, radius_m)
        start = bisect.bisect_left(self._lats, box.min_lat)
        end = bisect.bisect_right(self._lats, box.max_lat)
        found: list[tuple[float, str]] = []
        for p_lat, p_lon, point_id in self._points[start:end]:
            if box.min_lon is not None and box.max_lon is not None:
                if not box.min_lon <= p_lon <= box.max_lon:
                    continue
            distance = haversine_m(lat, lon, p_lat, p_lon)
            if distance <= radius_m:
                found.append((distance, point_id))
        found.sort()
        return found

    def nearest(self, lat: float, lon: float, limit: int) -> list[tuple[float, str]]:
        """(distance, id) of the ``limit`` nearest points, however far, nearest first."""
        radius = 400.0
        while True:
            whole_earth = radius >= math.pi * EARTH_RADIUS_M
            found = self.within(lat, lon, math.pi * EARTH_RADIUS_M if whole_earth else radius)
            if len(found) >= limit or whole_earth:
                return found[:limit]
            radius *= 4
