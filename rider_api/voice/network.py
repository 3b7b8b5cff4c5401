"""The slice of the transit network the intent parser needs, as one frozen value.

The caller (rider_api) builds it from the loaded GTFS network, once per network load::

    index = NetworkIndex(
        stops=(
            Stop("TPE-1001", name_zh="捷運市政府站", name_en="MRT City Hall Sta.",
                 lat=25.0408, lon=121.5650),
            ...
        ),
        routes=(
            Route("307", short_name="307",
                  long_name_zh="板橋－撫遠街", long_name_en="Banqiao - Fuyuan St.",
                  directions=(
                      RouteDirection(0, headsign_zh="撫遠街", headsign_en="Fuyuan St.",
                                     stop_ids=("TPE-2001", ..., "TPE-1001", ...)),
                      RouteDirection(1, headsign_zh="板橋", headsign_en="Banqiao",
                                     stop_ids=(...)),
                  )),
            ...
        ),
    )

``short_name`` is the route as riders say it (GTFS ``route_short_name``: "307", "紅30",
"棕9", "信義幹線"); ``short_name_en`` is its English form when the feed has one ("R30",
"Xinyi Main Line"), otherwise it is derived ("Red 30"). ``stop_ids`` is the ordered
stop pattern of the direction (the stops of its representative trip). Building the
index normalises every name once; it raises ValueError on an inconsistent network.
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from rider_api.network.search import ALIASES
from rider_api.voice.lexicon import (
    BOARD_POST_STRONG,
    BOARD_POST_WEAK,
    BOARD_PRE,
    COLOR_PREFIXES,
    DIRECTION_POST,
    DIRECTION_PRE,
)
from rider_api.voice.normalize import (
    match_key,
    name_keys,
    normalize,
    sound_keys,
    strip_name_affixes,
)

__all__ = [
    "NetworkIndex",
    "Route",
    "RouteDirection",
    "RouteKey",
    "Stop",
    "StopGroup",
    "distance_m",
    "is_cjk",
]

_NUMBERED = re.compile("^(" + "|".join(COLOR_PREFIXES) + r")?色?\s*(\d+)\s*(.*)$")
_NUMERAL_CHARS = re.compile(r"[\d〇○零一二兩三四五六七八九十百千]")
_ONLY_NUMERALS = re.compile(r"[\d〇○零一二兩三四五六七八九十百千\s]+")
_CHUNK = re.compile(r"[^\W_]+")
_ZH_CUES = tuple(
    cue
    for cue in (*BOARD_PRE, *DIRECTION_PRE, *BOARD_POST_STRONG, *BOARD_POST_WEAK, *DIRECTION_POST)
    if not cue.isascii()
)


def is_cjk(text: str) -> bool:
    return any("\u3400" <= char <= "\u9fff" for char in text)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


@dataclass(frozen=True, slots=True)
class Stop:
    stop_id: str
    name_zh: str
    name_en: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class RouteDirection:
    direction_id: int
    headsign_zh: str
    headsign_en: str
    stop_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    short_name: str
    long_name_zh: str
    long_name_en: str
    directions: tuple[RouteDirection, ...]
    short_name_en: str = ""

    def direction(self, direction_id: int) -> RouteDirection | None:
        return next((d for d in self.directions if d.direction_id == direction_id), None)


RouteKey = tuple[str, str, str]
"""(colour prefix or "", number without leading zeros, suffix such as 區 or "")."""


@dataclass(frozen=True, slots=True)
class StopGroup:
    """Stops that share a name (Taipei gives each route and side of the road its own id)."""

    key: str
    name_zh: str
    name_en: str
    keys: frozenset[str]
    stop_ids: tuple[str, ...]


@dataclass(frozen=True)
class NetworkIndex:
    """Stops and routes, plus the lookups the parser needs (derived, not compared)."""

    stops: tuple[Stop, ...]
    routes: tuple[Route, ...]

    stop_by_id: Mapping[str, Stop] = field(init=False, repr=False, compare=False)
    route_by_id: Mapping[str, Route] = field(init=False, repr=False, compare=False)
    groups: Mapping[str, StopGroup] = field(init=False, repr=False, compare=False)
    group_of: Mapping[str, str] = field(init=False, repr=False, compare=False)
    serving: Mapping[str, tuple[tuple[str, int, int], ...]] = field(
        init=False, repr=False, compare=False
    )
    """stop_id -> (route_id, direction_id, position in the direction's pattern)."""
    numbered_routes: Mapping[RouteKey, tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )
    suffixes: Mapping[tuple[str, str], tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )
    """(colour, number) -> known suffixes, longest first ("" for the plain route)."""
    named_routes: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    """(normalised name, route_id) for routes without a number, longest first."""
    headsign_keys: Mapping[tuple[str, int], frozenset[str]] = field(
        init=False, repr=False, compare=False
    )
    protected_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Normalised names holding numerals or cue words, kept whole by the parser."""
    _grams: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        stop_by_id = {stop.stop_id: stop for stop in self.stops}
        if len(stop_by_id) != len(self.stops):
            raise ValueError("NetworkIndex: duplicate stop_id")
        route_by_id = {route.route_id: route for route in self.routes}
        if len(route_by_id) != len(self.routes):
            raise ValueError("NetworkIndex: duplicate route_id")

        members: dict[str, list[Stop]] = defaultdict(list)
        for stop in self.stops:
            members[match_key(stop.name_zh) or match_key(stop.name_en) or stop.stop_id].append(stop)
        groups = {
            key: StopGroup(
                key=key,
                name_zh=same[0].name_zh,
                name_en=same[0].name_en,
                keys=_stop_keys(same[0].name_zh, same[0].name_en),
                stop_ids=tuple(stop.stop_id for stop in same),
            )
            for key, same in members.items()
        }
        group_of = {stop_id: group.key for group in groups.values() for stop_id in group.stop_ids}

        serving: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        headsign_keys: dict[tuple[str, int], frozenset[str]] = {}
        numbered: dict[RouteKey, list[str]] = defaultdict(list)
        named: list[tuple[str, str]] = []
        for route in self.routes:
            for direction in route.directions:
                for position, stop_id in enumerate(direction.stop_ids):
                    if stop_id not in stop_by_id:
                        raise ValueError(
                            f"NetworkIndex: route {route.route_id} direction "
                            f"{direction.direction_id} has unknown stop {stop_id}"
                        )
                    serving[stop_id].append((route.route_id, direction.direction_id, position))
                keys = _headsign_keys(direction.headsign_zh) | _headsign_keys(direction.headsign_en)
                if direction.stop_ids:
                    keys |= groups[group_of[direction.stop_ids[-1]]].keys
                headsign_keys[(route.route_id, direction.direction_id)] = keys
            route_key = parse_route_name(route.short_name)
            if route_key is not None:
                numbered[route_key].append(route.route_id)
            for alias in {route.short_name, route.short_name_en}:
                if alias and parse_route_name(alias) is None:
                    named.append((normalize(alias), route.route_id))

        suffixes: dict[tuple[str, str], list[str]] = defaultdict(list)
        for color, number, suffix in numbered:
            suffixes[(color, number)].append(suffix)

        grams: dict[str, set[str]] = defaultdict(set)
        for group in groups.values():
            for key in group.keys:
                for gram in _grams(key):
                    grams[gram].add(group.key)

        set_ = object.__setattr__
        set_(self, "stop_by_id", stop_by_id)
        set_(self, "route_by_id", route_by_id)
        set_(self, "groups", groups)
        set_(self, "group_of", group_of)
        set_(self, "serving", {k: tuple(v) for k, v in serving.items()})
        set_(self, "numbered_routes", {k: tuple(v) for k, v in numbered.items()})
        set_(
            self,
            "suffixes",
            {k: tuple(sorted(v, key=len, reverse=True)) for k, v in suffixes.items()},
        )
        set_(self, "named_routes", tuple(sorted(named, key=lambda item: -len(item[0]))))
        set_(self, "headsign_keys", headsign_keys)
        set_(self, "protected_names", _protected_names(self.stops, self.routes))
        set_(self, "_grams", {k: frozenset(v) for k, v in grams.items()})

    def candidate_groups(self, keys: frozenset[str], limit: int = 40) -> list[StopGroup]:
        """Stop groups sharing the most character n-grams with ``keys`` (a prefilter)."""
        counts: dict[str, int] = defaultdict(int)
        for key in keys:
            for gram in _grams(key):
                for group_key in self._grams.get(gram, ()):
                    counts[group_key] += 1
        ranked = sorted(counts, key=lambda group_key: -counts[group_key])
        return [self.groups[group_key] for group_key in ranked[:limit]]

    def route_ids_for(self, color: str, number: str, suffix: str) -> tuple[str, ...]:
        return self.numbered_routes.get((color, number, suffix), ())


def parse_route_name(name: str) -> RouteKey | None:
    """ "紅30" -> ("紅", "30", ""); "307" -> ("", "307", ""); "信義幹線" -> None."""
    match = _NUMBERED.match(normalize(name))
    if match is None:
        return None
    color, number, suffix = match.groups()
    return (color or "", str(int(number)), suffix.strip())


def _headsign_keys(headsign: str) -> frozenset[str]:
    text = normalize(headsign)
    for prefix in ("往", "towards ", "toward ", "to "):
        text = text.removeprefix(prefix)
    return name_keys(text) | sound_keys(text) if text else frozenset()


def _stop_keys(name_zh: str, name_en: str) -> frozenset[str]:
    """A stop name's written and sound keys, and those of the other names riders use for
    it (a landmark, a short form: ``search.ALIASES``)."""
    keys = name_keys(name_zh) | name_keys(name_en) | sound_keys(name_zh) | sound_keys(name_en)
    zh = normalize(name_zh)
    for value, alias_keys in _alias_keys():
        if value in zh:
            keys |= alias_keys
    return keys


@functools.cache
def _alias_keys() -> tuple[tuple[str, frozenset[str]], ...]:
    """(normalised name, keys of the alias) for every alias, computed once."""
    return tuple(
        (normalize(value), name_keys(alias) | sound_keys(alias)) for alias, value in ALIASES.items()
    )


def _grams(key: str) -> set[str]:
    # Chinese characters carry meaning one by one; Latin letters in trigrams.
    if is_cjk(key):
        return {char for char in key if is_cjk(char)}
    return {key[i : i + 3] for i in range(max(1, len(key) - 2))}


def _protected_names(stops: tuple[Stop, ...], routes: tuple[Route, ...]) -> tuple[str, ...]:
    names = [name for stop in stops for name in (stop.name_zh, stop.name_en)]
    names += [
        name
        for route in routes
        for direction in route.directions
        for name in (direction.headsign_zh, direction.headsign_en)
    ]
    protected: set[str] = set()
    for name in names:
        text = normalize(name)
        if not _at_risk(text):
            continue
        for variant in (text, strip_name_affixes(text), *_CHUNK.findall(text)):
            # A bare number ("Exit 3" stripped to "3") must stay free to be a route.
            if _at_risk(variant) and _ONLY_NUMERALS.fullmatch(variant) is None:
                protected.add(variant)
                protected.add(variant.removeprefix("捷運"))
    return tuple(sorted(protected, key=len, reverse=True))


def _at_risk(text: str) -> bool:
    """A name the parser could tear apart: it holds a numeral or a Chinese cue word."""
    return _NUMERAL_CHARS.search(text) is not None or any(cue in text for cue in _ZH_CUES)
