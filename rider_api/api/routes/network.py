"""The network for riders: find stops, a stop's routes and departures, routes and their
ordered stops (GET /v1/stops, /v1/stops/{stop_id}, /v1/routes, /v1/routes/{route_id}).

Operators read it too, with their bearer token (the console and scripts).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from broker_config.const import ID_PATTERN
from broker_config.messages import Localized
from rider_api.api.deps import (
    LatitudeQuery,
    LongitudeQuery,
    RiderOrOperator,
    SessionDep,
    StateDep,
)
from rider_api.api.rate_limits import SearchLimit
from rider_api.core.problems import Problem
from rider_api.network.geo import DETOUR_FACTOR, WALK_M_PER_MIN
from rider_api.network.queries import (
    FoundStop,
    get_route_detail,
    get_stop_detail,
    list_routes,
    next_departures,
)
from rider_api.network.queries import find_stops as find_in_network
from rider_api.network.schemas import (
    RouteDetailPublic,
    RoutePublic,
    StopDetailPublic,
    StopPublic,
    localized,
)

__all__ = ["StopFoundPublic", "router"]

router = APIRouter(prefix="/v1", tags=["network"])


class StopFoundPublic(StopPublic):
    """A Stop of the v1 contract, with fields added in v1.x: how the name matched, and
    from a given position the way there (all null when they do not apply)."""

    match: Literal["exact", "prefix", "words", "sound", "fuzzy"] | None = Field(
        default=None,
        description="How the name matched the query, best first: the exact name, a name "
        "starting with the query, a name holding every word, the same sound (pinyin, older "
        "romanisations), a near spelling.",
    )
    bearing_deg: float | None = Field(
        default=None, description="Direction from the given lat/lon to the stop, 0 north, 90 east."
    )
    compass: Literal["n", "ne", "e", "se", "s", "sw", "w", "nw"] | None = None
    clock: int | None = Field(
        default=None,
        ge=1,
        le=12,
        description="The stop's direction as a clock hour for a rider facing `heading` "
        "(12 ahead, 3 right); only when `heading` was given.",
    )
    direction: Localized | None = Field(
        default=None,
        description="The direction in words: 'north-east' / '東北方', or 'at 2 o'clock' / "
        "'2 點鐘方向' when `heading` was given.",
    )
    walk_m: int | None = Field(
        default=None,
        description="An estimate of the walk: the straight line times a detour factor of "
        f"{DETOUR_FACTOR} (streets do not run straight).",
    )
    walk_min: int | None = Field(
        default=None, description=f"Minutes of walk_m at a careful {WALK_M_PER_MIN:.0f} m/min."
    )

    @classmethod
    def of_found(cls, found: FoundStop) -> StopFoundPublic:
        stop, walk = found.stop, found.walk
        spoken = stop.spoken
        fields: dict[str, object] = {}
        if walk is not None:
            fields = {
                "distance_m": round(walk.distance_m, 1),
                "bearing_deg": round(walk.bearing_deg, 1),
                "compass": walk.compass,
                "clock": walk.clock,
                "direction": localized(*walk.direction_words()),
                "walk_m": walk.walk_m,
                "walk_min": walk.walk_min,
            }
        return cls.model_validate(
            {
                "stop_id": stop.stop_id,
                "name": stop.name,
                "spoken_name": localized(spoken.zh_tw, spoken.en),
                "lat": stop.lat,
                "lon": stop.lon,
                "match": found.match.name.lower() if found.match is not None else None,
                **fields,
            }
        )


@router.get("/stops", response_model=list[StopFoundPublic], dependencies=[SearchLimit])
async def find_stops(
    _caller: RiderOrOperator,
    state: StateDep,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Words of the stop's name, zh-TW or English."),
    ] = None,
    lat: LatitudeQuery = None,
    lon: LongitudeQuery = None,
    heading: Annotated[
        float | None,
        Query(
            ge=0,
            lt=360,
            description="The rider's heading in degrees (0 north, 90 east), from the "
            "device's compass: directions come as clock hours.",
        ),
    ] = None,
    radius_m: Annotated[
        float | None,
        Query(
            gt=0,
            le=50_000,
            description="Only stops within this many metres of lat/lon (default: the "
            "`limit` nearest, however far).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[StopFoundPublic]:
    """Find stops by name (either language, 台 and 臺 alike, simplified or traditional,
    with 站 or "station", in pinyin or an older romanisation, with a typo) or nearest
    first, each with its distance, bearing and walk from lat/lon."""
    if (lat is None) != (lon is None):
        raise Problem(
            422,
            "Send both lat and lon to find stops near you, or neither.",
            code="lat-lon-together",
        )
    found = find_in_network(
        state.network,
        query=q,
        lat=lat,
        lon=lon,
        heading=heading,
        radius_m=radius_m,
        limit=limit,
    )
    return [StopFoundPublic.of_found(f) for f in found]


@router.get("/stops/{stop_id}", response_model=StopDetailPublic)
async def get_stop(_caller: RiderOrOperator, session: SessionDep, stop_id: str) -> StopDetailPublic:
    """The stop, the routes and directions serving it, and its next scheduled departures."""
    # An id outside the contract's charset cannot exist; no need to ask the database.
    detail = await get_stop_detail(session, stop_id) if ID_PATTERN.fullmatch(stop_id) else None
    if detail is None:
        raise Problem(
            404,
            f"No stop with id {stop_id!r}. Search stops with GET /v1/stops?q=...",
            code="stop-not-found",
        )
    departures = await next_departures(session, stop_id=stop_id, now=dt.datetime.now(dt.UTC))
    return StopDetailPublic.of_detail(detail, departures)


@router.get("/routes", response_model=list[RoutePublic])
async def get_routes(_caller: RiderOrOperator, session: SessionDep) -> list[RoutePublic]:
    """Every route with its directions."""
    return [RoutePublic.of(summary) for summary in await list_routes(session)]


@router.get("/routes/{route_id}", response_model=RouteDetailPublic)
async def get_route(
    _caller: RiderOrOperator, session: SessionDep, route_id: str
) -> RouteDetailPublic:
    """The route and the ordered stops of each direction."""
    detail = await get_route_detail(session, route_id) if ID_PATTERN.fullmatch(route_id) else None
    if detail is None:
        raise Problem(
            404,
            f"No route with id {route_id!r}. See every route with GET /v1/routes.",
            code="route-not-found",
        )
    return RouteDetailPublic.of(detail)
