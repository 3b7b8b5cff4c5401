"""The live map of the network: an SVG drawn from the GTFS stops and shapes, no tiles.

Two layers. The **base** (route lines and stops) is drawn once per network import and
language and cached: a city of thousands of stops costs its markup once, not on every
update. The **live layer** (stop gateways by health, buses, bookings) is a few items
rendered on every board update; the page's script moves the items it already has
(matched by ``data-key``) instead of replacing them, so a focused item keeps focus.

Route lines follow the feed's shapes (shapes.txt, the most used shape of each route and
direction) and, where the feed has none, run through the direction's stops in order.
Every live item is a link with a text name, and the same items are listed in a table
next to the map. Each state has its own shape as well as its colour (a gateway online
is a circle, silent a triangle, offline a crossed square; a bus whose position is stale
is dashed), and the legend says so in words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from markupsafe import Markup, escape
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import Lang
from rider_api.console.live import Snapshot
from rider_api.models import ShapePoint, Trip
from rider_api.network.view import NetworkView

__all__ = [
    "MapBase",
    "MapItem",
    "Projection",
    "build_base",
    "item_id",
    "live_layer",
    "load_shapes",
    "map_items",
]

#: The drawing's width in SVG units (its height follows the network's shape).
WIDTH: Final = 1000.0
PAD: Final = 24.0
#: Points of a route line closer than this (SVG units) to the previous one are dropped.
STEP: Final = 0.75

ItemKind = Literal["gateway", "bus", "booking"]
Text = Callable[..., str]


@dataclass(frozen=True, slots=True)
class Projection:
    """Longitude/latitude to SVG units: equirectangular around the network's middle
    latitude (a city is small enough for it)."""

    min_lon: float
    max_lat: float
    kx: float
    scale: float
    width: float
    height: float

    @classmethod
    def fit(cls, points: Iterable[tuple[float, float]]) -> Projection:
        lats, lons = [], []
        for lat, lon in points:
            lats.append(lat)
            lons.append(lon)
        if not lats:
            return cls(0.0, 0.0, 1.0, 1.0, WIDTH, WIDTH / 2)
        kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
        span_x = (max(lons) - min(lons)) * kx
        span_y = max(lats) - min(lats)
        inner = WIDTH - 2 * PAD
        scale = inner / max(span_x, span_y, 1e-6)
        width = span_x * scale + 2 * PAD if span_x >= span_y else WIDTH
        height = max(span_y * scale + 2 * PAD, 2 * PAD + 40)
        width = max(width, 2 * PAD + 40)
        return cls(min(lons), max(lats), kx, scale, round(width, 1), round(height, 1))

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        x = PAD + (lon - self.min_lon) * self.kx * self.scale
        y = PAD + (self.max_lat - lat) * self.scale
        return round(x, 1), round(y, 1)

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width:g} {self.height:g}"


@dataclass(frozen=True, slots=True)
class MapBase:
    """The drawn network of one import, in one language."""

    version: str
    projection: Projection
    svg: Markup
    stops: int
    routes: int
    #: Whether each stop is a focusable link (up to ``map_focusable_stops``).
    stops_focusable: bool
    #: Route directions drawn along the feed's shapes (the rest through their stops).
    shaped: int


@dataclass(frozen=True, slots=True)
class MapItem:
    """A live item: where it is, its state (a class and a shape) and its name."""

    key: str
    kind: ItemKind
    x: float
    y: float
    state: str
    label: str
    #: Where activating it leads (its row in the table next to the map).
    href: str
    #: The table's words: what it is and its state.
    name: str
    state_text: str


def item_id(key: str) -> str:
    """The HTML id of an item's table row (``bus:V 1`` -> ``m-bus-V-1``)."""
    return "m-" + re.sub(r"[^A-Za-z0-9_-]+", "-", key)


async def load_shapes(session: AsyncSession) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """The most used shape of each route direction, as (lat, lon) points in order."""
    used: dict[tuple[str, int], Counter[str]] = {}
    rows = await session.exec(
        select(Trip.route_id, Trip.direction_id, Trip.shape_id).where(
            col(Trip.shape_id).is_not(None)
        )
    )
    for route_id, direction_id, shape_id in rows:
        if shape_id:
            used.setdefault((route_id, direction_id), Counter())[shape_id] += 1
    chosen = {key: c.most_common(1)[0][0] for key, c in used.items()}
    wanted = sorted(set(chosen.values()))
    points: dict[str, list[tuple[float, float]]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found = await session.exec(
            select(ShapePoint.shape_id, ShapePoint.lat, ShapePoint.lon)
            .where(col(ShapePoint.shape_id).in_(chunk))
            .order_by(col(ShapePoint.shape_id), col(ShapePoint.sequence))
        )
        for shape_id, lat, lon in found:
            points.setdefault(shape_id, []).append((lat, lon))
    return {key: points[s] for key, s in chosen.items() if len(points.get(s, ())) >= 2}


def _line(proj: Projection, points: Sequence[tuple[float, float]]) -> str:
    """An SVG path through ``points``, without the points a pixel would not show."""
    parts: list[str] = []
    last: tuple[float, float] | None = None
    for lat, lon in points:
        x, y = proj.xy(lat, lon)
        if last is not None and abs(x - last[0]) < STEP and abs(y - last[1]) < STEP:
            continue
        parts.append(f"{'L' if parts else 'M'}{x:g} {y:g}")
        last = (x, y)
    return "".join(parts) if len(parts) >= 2 else ""


def build_base(
    network: NetworkView,
    shapes: dict[tuple[str, int], list[tuple[float, float]]],
    *,
    t: Text,
    lang: Lang,
    stop_href: Callable[[str], str],
    focusable_stops: int,
) -> MapBase:
    """Route lines and stops (drawn once per import and language)."""
    stops = network.stops
    proj = Projection.fit(
        [(s.lat, s.lon) for s in stops.values()]
        + [p for line in shapes.values() for p in (line[0], line[-1])]
    )
    lines: list[str] = []
    shaped = 0
    for key, direction in sorted(network.directions.items()):
        shape = shapes.get(key)
        if shape is not None:
            shaped += 1
            d = _line(proj, shape)
        else:
            d = _line(
                proj, [(stops[s].lat, stops[s].lon) for s in direction.stop_ids if s in stops]
            )
        if d:
            lines.append(f'<path class="m-route" d="{d}"/>')
    parts = [f'<g class="m-routes" aria-hidden="true">{"".join(lines)}</g>']
    focusable = len(stops) <= focusable_stops
    if focusable:
        marks = []
        for s in sorted(stops.values(), key=lambda s: s.stop_id):
            x, y = proj.xy(s.lat, s.lon)
            label = t("map.stop", name=s.name.get(lang), id=s.stop_id)
            marks.append(
                f'<a class="m-stop" href="{escape(stop_href(s.stop_id))}" '
                f'aria-label="{escape(label)}"><circle cx="{x:g}" cy="{y:g}" r="3.5"/></a>'
            )
        parts.append(f'<g class="m-stops">{"".join(marks)}</g>')
    else:
        # One shape for every stop: thousands of links would be thousands of tab stops.
        dots = "".join(
            f"M{x:g} {y:g}h0" for x, y in (proj.xy(s.lat, s.lon) for s in stops.values())
        )
        parts.append(f'<path class="m-stops-all" aria-hidden="true" d="{dots}"/>')
    return MapBase(
        version=network.version,
        projection=proj,
        svg=Markup("".join(parts)),  # noqa: S704 - ids and names are escaped above
        stops=len(stops),
        routes=len(network.routes),
        stops_focusable=focusable,
        shaped=shaped,
    )


#: Each state's shape (drawn around the item's position), never its colour alone.
_SHAPES: Final[dict[tuple[ItemKind, str], str]] = {
    ("gateway", "online"): '<circle r="7" class="m-shape"/>',
    ("gateway", "stale"): '<path d="M0 -9L8.5 6H-8.5Z" class="m-shape"/>',
    ("gateway", "offline"): (
        '<rect x="-7" y="-7" width="14" height="14" class="m-shape"/>'
        '<path d="M-5 -5L5 5M5 -5L-5 5" class="m-cross"/>'
    ),
    ("bus", "fresh"): '<rect x="-10" y="-6" width="20" height="12" rx="3" class="m-shape"/>',
    ("bus", "stale"): '<rect x="-10" y="-6" width="20" height="12" rx="3" class="m-shape"/>',
    ("booking", "waiting"): '<path d="M0 -20L7 -13L0 -6L-7 -13Z" class="m-shape"/>',
    ("booking", "risk"): (
        '<path d="M0 -22L9 -13L0 -4L-9 -13Z" class="m-shape"/>'
        '<path d="M0 -17V-12" class="m-cross"/>'
    ),
}


def live_layer(items: Iterable[MapItem]) -> Markup:
    """The live items as SVG links (``data-key`` lets the page move what it has)."""
    out = []
    for i in items:
        shape = _SHAPES[(i.kind, i.state)]
        out.append(
            f'<a class="m-item m-{i.kind} st-{i.state}" data-key="{escape(i.key)}" '
            f'data-shape="{i.kind}-{i.state}" href="{escape(i.href)}" '
            f'transform="translate({i.x:g} {i.y:g})" aria-label="{escape(i.label)}">'
            f"{shape}</a>"
        )
    return Markup("".join(out))  # noqa: S704 - keys, links and labels are escaped


def map_items(
    snap: Snapshot, network: NetworkView, proj: Projection, *, t: Text, lang: Lang, dur: Text
) -> list[MapItem]:
    """The live items of the board now: stop gateways, bookings (one mark a stop), buses."""
    items: list[MapItem] = []
    stops = network.stops

    def add(
        key: str, kind: ItemKind, lat: float, lon: float, state: str, name: str, st: str
    ) -> None:
        x, y = proj.xy(lat, lon)
        label = f"{name}: {st}"
        items.append(MapItem(key, kind, x, y, state, label, f"#{item_id(key)}", name, st))

    seen_gateways: set[str] = set()
    for d in snap.devices:
        stop = stops.get(d.device_id) if d.kind == "stop" else None
        if stop is None:
            continue
        seen_gateways.add(d.device_id)
        name = t("map.gateway", name=stop.name.get(lang), id=d.device_id)
        add(
            f"gateway:{d.device_id}",
            "gateway",
            stop.lat,
            stop.lon,
            d.state,
            name,
            t(f"state.{d.state}"),
        )
    at_risk = {r.reservation_id for r in snap.risks if r.reservation_id is not None}
    by_stop: dict[str, list[bool]] = {}
    for b in snap.bookings:
        by_stop.setdefault(b.stop_id, []).append(b.id in at_risk)
    for stop_id, risky in by_stop.items():
        stop = stops.get(stop_id)
        if stop is None:
            continue
        if stop_id not in seen_gateways:
            name = t("map.gateway", name=stop.name.get(lang), id=stop_id)
            add(
                f"gateway:{stop_id}",
                "gateway",
                stop.lat,
                stop.lon,
                "offline",
                name,
                t("map.never_seen"),
            )
        state = "risk" if any(risky) else "waiting"
        name = t("map.bookings", n=len(risky), name=stop.name.get(lang), id=stop_id)
        add(
            f"booking:{stop_id}",
            "booking",
            stop.lat,
            stop.lon,
            state,
            name,
            t(f"map.booking.{state}"),
        )
    for v in snap.vehicles:
        route = network.routes.get(v.route_id)
        route_name = route.display_name.get(lang) if route else v.route_id
        name = t("map.bus", id=v.vehicle_id, route=route_name)
        st = t("map.bus.stale" if v.stale else "map.bus.fresh", age=dur(v.age_s))
        add(f"bus:{v.vehicle_id}", "bus", v.lat, v.lon, "stale" if v.stale else "fresh", name, st)
    return items
