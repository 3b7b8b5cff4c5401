"""GET /trip/{id}: one booking, updated live by the script; POST /trip/{id}/cancel."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from rider_api.api.deps import SessionDep, StateDep
from rider_api.core.problems import Problem
from rider_api.reservations.booking import cancel_reservation, get_owned, to_public
from rider_api.web.deps import OptionalRider
from rider_api.web.strings import STRINGS
from rider_api.web.views import page_lang, render, route_label, to_start

__all__ = ["router"]

router = APIRouter()


@router.get("/trip/{reservation_id}")
async def trip(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    session: SessionDep,
    reservation_id: uuid.UUID,
    booked: bool = False,
    cancelled: bool = False,
) -> Response:
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    try:
        res = await get_owned(session, rider, reservation_id)
    except Problem:
        return render(request, "not_found.html", lang, status_code=404, errors=[])
    public = await to_public(state, session, res)
    live_texts = STRINGS.templates(lang, "live_", "st_", "eta_")
    initial = {
        "status": public.status.value,
        "eta_s": public.eta_s,
        "vehicle_id": public.vehicle_id,
        "history": len(public.history),
    }
    return render(
        request,
        "trip.html",
        lang,
        res=public,
        route_label=route_label(state, res.route_id, res.direction_id, lang),
        booked=booked,
        cancelled=cancelled,
        live_texts=live_texts,
        initial=initial,
        errors=[],
    )


@router.post("/trip/{reservation_id}/cancel")
async def cancel(
    request: Request, rider: OptionalRider, state: StateDep, reservation_id: uuid.UUID
) -> Response:
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    try:
        await cancel_reservation(
            state, reservation_id=reservation_id, rider=rider, cause="cancelled by rider (web)"
        )
    except Problem as problem:
        if problem.code != "reservation-final":
            return render(request, "not_found.html", lang, status_code=404, errors=[])
    return RedirectResponse(f"/trip/{reservation_id}?cancelled=1", status_code=303)
