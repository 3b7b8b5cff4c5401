"""GET /find: stops by name or near the rider's position."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from rider_api.api.deps import LatitudeQuery, LongitudeQuery, SessionDep
from rider_api.network.queries import search_stops
from rider_api.web.deps import OptionalRider
from rider_api.web.strings import t
from rider_api.web.views import page_lang, render, to_start

__all__ = ["router"]

router = APIRouter()


@router.get("/find")
async def find(
    request: Request,
    rider: OptionalRider,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    lat: LatitudeQuery = None,
    lon: LongitudeQuery = None,
) -> Response:
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    near = lat is not None and lon is not None
    if not q.strip() and not near:
        errors = [{"field": "q", "text": t("err_query", lang)}]
        return render(request, "find.html", lang, status_code=422, errors=errors, q="")
    hits = await search_stops(
        session, query=q or None, lat=lat if near else None, lon=lon if near else None, limit=20
    )
    return render(request, "results.html", lang, hits=hits, q=q.strip(), near=near, errors=[])
