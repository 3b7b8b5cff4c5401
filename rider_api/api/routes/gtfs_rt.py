"""GET /gtfs-rt/{vehicle-positions,trip-updates,alerts}.pb: BusHail's GTFS-Realtime feeds.

Public, like the agency's own feeds: no token, no per-client limit (each feed is built at
most once a second and its bytes served from memory, so a poll a second from many apps
costs one build). ``?format=json`` gives the same feed as JSON for debugging. Weak ETag
and Last-Modified on every answer; ``If-None-Match`` (or, without it,
``If-Modified-Since``) is answered 304 while the content is unchanged.
"""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from rider_api.api.deps import StateDep
from rider_api.feeds.cache import FeedCache, FeedCopy

__all__ = ["router"]

router = APIRouter(prefix="/gtfs-rt", tags=["gtfs-rt"])

Format = Annotated[Literal["pb", "json"], Query(description="json: for debugging")]
PROTOBUF = "application/x-protobuf"
CACHE_CONTROL = "public, max-age=1"


def _not_modified(request: Request, etag: str, last_modified: float) -> bool:
    """RFC 9110 13.1: If-None-Match (weak comparison) decides when present, else
    If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in wanted or etag.removeprefix("W/") in wanted
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            return last_modified <= parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError, OverflowError):
            return False
    return False


async def _serve(request: Request, cache: FeedCache, fmt: str) -> Response:
    copy: FeedCopy = await cache.get()
    json = fmt == "json"
    etag = copy.etag(json=json)
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(copy.last_modified, usegmt=True),
        "Cache-Control": CACHE_CONTROL,
    }
    if _not_modified(request, etag, copy.last_modified):
        return Response(status_code=304, headers=headers)
    if json:
        return Response(copy.json, media_type="application/json", headers=headers)
    return Response(copy.pb, media_type=PROTOBUF, headers=headers)


_PB: dict[int | str, dict[str, Any]] = {
    200: {"content": {PROTOBUF: {}, "application/json": {}}},
    304: {"description": "unchanged"},
}


@router.get("/vehicle-positions.pb", response_class=Response, responses=_PB)
async def vehicle_positions(request: Request, state: StateDep, format: Format = "pb") -> Response:
    """Every bus with a fresh position (onboard units and agency feeds, fresher wins)."""
    return await _serve(request, state.feeds.vehicle_positions, format)


@router.get("/trip-updates.pb", response_class=Response, responses=_PB)
async def trip_updates(request: Request, state: StateDep, format: Format = "pb") -> Response:
    """BusHail's ETA to each stop ahead of every bus on a known trip."""
    return await _serve(request, state.feeds.trip_updates, format)


@router.get("/alerts.pb", response_class=Response, responses=_PB)
async def alerts(request: Request, state: StateDep, format: Format = "pb") -> Response:
    """Stops whose talking gateway is offline, and operators' recent announcements."""
    return await _serve(request, state.feeds.alerts, format)
