"""GET /stop/{stop_id}: a stop, the routes to book there and the next bus of each;
GET /stop/{stop_id}/next: those next buses again, for the page's script to refresh."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from rider_api.api.deps import SessionDep, StateDep
from rider_api.network.queries import get_stop_detail
from rider_api.web.deps import OptionalRider
from rider_api.web.views import next_buses, page_lang, render_stop, to_start

__all__ = ["router"]

router = APIRouter()


@router.get("/stop/{stop_id}")
async def stop_page(
    request: Request, rider: OptionalRider, state: StateDep, session: SessionDep, stop_id: str
) -> Response:
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    return await render_stop(
        request, state=state, session=session, lang=lang, stop_id=stop_id, errors=[]
    )


@router.get("/stop/{stop_id}/next")
async def stop_next(
    request: Request, rider: OptionalRider, state: StateDep, session: SessionDep, stop_id: str
) -> Response:
    """The next bus of each route direction, with its text in the page's language."""
    if rider is None:
        return JSONResponse({"routes": []}, status_code=401)
    lang = page_lang(request, rider)
    detail = await get_stop_detail(session, stop_id)
    if detail is None:
        return JSONResponse({"routes": []}, status_code=404)
    choices = [
        (s.route.route_id, s.direction.direction_id) for s in detail.routes if not s.is_last_stop
    ]
    return JSONResponse(
        {"routes": next_buses(state, stop_id, choices, lang)},
        headers={"Cache-Control": "no-store"},
    )
