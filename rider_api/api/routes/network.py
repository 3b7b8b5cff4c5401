"""The network for riders: find stops, a stop's routes and departures, routes and their
ordered stops (GET /v1/stops, /v1/stops/{stop_id}, /v1/routes, /v1/routes/{route_id})."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from broker_config.const import ID_PATTERN
from rider_api.api.deps import CurrentRider, LatitudeQuery, LongitudeQuery, SessionDep
from rider_api.core.problems import Problem
from rider_api.network.queries import (
    get_route_detail,
    get_stop_detail,
    list_routes,
    next_departures,
    search_stops,
)
from rider_api.network.schemas import (
    RouteDetailPublic,
    RoutePublic,
    StopDetailPublic,
    StopPublic,
)

router = APIRouter(prefix="/v1", tags=["network"])


@router.get("/stops", response_model=list[StopPublic])
async def find_stops(
    rider: CurrentRider,
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Words of the stop's name, zh-TW or English."),
    ] = None,
    lat: LatitudeQuery = None,
    lon: LongitudeQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[StopPublic]:
    """Find stops by name (either language, 台 and 臺 alike) or nearest first."""
    if (lat is None) != (lon is None):
        raise Problem(
            422,
            "Send both lat and lon to find stops near you, or neither.",
            code="lat-lon-together",
        )
    hits = await search_stops(session, query=q, lat=lat, lon=lon, limit=limit)
    return [StopPublic.of_hit(hit) for hit in hits]


@router.get("/stops/{stop_id}", response_model=StopDetailPublic)
async def get_stop(rider: CurrentRider, session: SessionDep, stop_id: str) -> StopDetailPublic:
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
async def get_routes(rider: CurrentRider, session: SessionDep) -> list[RoutePublic]:
    """Every route with its directions."""
    return [RoutePublic.of(summary) for summary in await list_routes(session)]


@router.get("/routes/{route_id}", response_model=RouteDetailPublic)
async def get_route(rider: CurrentRider, session: SessionDep, route_id: str) -> RouteDetailPublic:
    """The route and the ordered stops of each direction."""
    detail = await get_route_detail(session, route_id) if ID_PATTERN.fullmatch(route_id) else None
    if detail is None:
        raise Problem(
            404,
            f"No route with id {route_id!r}. See every route with GET /v1/routes.",
            code="route-not-found",
        )
    return RouteDetailPublic.of(detail)
