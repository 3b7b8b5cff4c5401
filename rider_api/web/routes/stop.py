"""GET /stop/{stop_id}: a stop and the routes to book there."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rider_api.api.deps import SessionDep, StateDep
from rider_api.web.deps import OptionalRider
from rider_api.web.views import page_lang, render_stop, to_start

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
