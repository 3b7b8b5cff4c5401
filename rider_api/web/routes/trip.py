"""One booking, updated live by the script, and what a rider does with it.

GET /trip/{id}: the booking; once it has ended, its ending and the next step.
GET /trip/{id}/cancel, POST /trip/{id}/cancel: cancelling asks first (a page of its own,
with or without the script; no time limit to answer), then cancels.
POST /trip/{id}/again: book the next bus, same stop, route, direction and destination.
POST /trip/{id}/report: "the bus did not stop", an incident for the operators.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import Lang, ReservationStatus
from rider_api.api.deps import SessionDep, StateDep
from rider_api.core.problems import Problem
from rider_api.models import Reservation, Rider
from rider_api.models.schemas import ReservationCreate
from rider_api.reservations.booking import (
    cancel_reservation,
    create_reservation,
    get_owned,
    to_public,
)
from rider_api.reservations.reports import (
    REPORTABLE_STATUSES,
    find_report,
    report_bus_did_not_stop,
)
from rider_api.state import AppState
from rider_api.web.deps import OptionalRider
from rider_api.web.strings import STRINGS, t
from rider_api.web.views import local_time, page_lang, render, route_label, service_tz, to_start

__all__ = ["router"]

router = APIRouter()

#: The texts the page's script fills in (live messages, statuses, ETAs, the ending).
LIVE_PREFIXES = ("live_", "st_", "eta_", "end_")


async def _trip_page(
    request: Request,
    *,
    state: AppState,
    session: AsyncSession,
    rider: Rider,
    lang: Lang,
    res: Reservation,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
    **flags: Any,
) -> Response:
    public = await to_public(state, session, res)
    tz = service_tz(state)
    final = public.status.is_final
    report = await find_report(session, res.id)
    reported = None
    if report is not None:
        when = local_time(report.at, tz, seconds=False)
        reported = (
            t("reported_done", lang, vehicle=report.vehicle_id, time=when)
            if report.vehicle_id
            else t("reported_done_unknown", lang, time=when)
        )
    initial = {
        "status": public.status.value,
        "eta_s": public.eta_s,
        "vehicle_id": public.vehicle_id,
        "history": len(public.history),
    }
    stop_name = public.stop_name.get(lang) if public.stop_name else res.stop_id
    dest_name = public.destination_name.get(lang) if public.destination_name else ""
    return render(
        request,
        "trip.html",
        lang,
        status_code=status_code,
        res=public,
        final=final,
        route_label=route_label(state, res.route_id, res.direction_id, lang),
        stop_name=stop_name,
        dest_name=dest_name,
        history=[
            {"at": h.at.isoformat(), "time": local_time(h.at, tz), "status": h.status.value}
            for h in public.history
        ],
        timezone=getattr(tz, "key", "UTC"),
        reportable=" ".join(sorted(s.value for s in REPORTABLE_STATUSES)),
        can_report=public.status in REPORTABLE_STATUSES,
        reported=reported,
        live_texts=STRINGS.templates(lang, *LIVE_PREFIXES),
        initial=initial,
        errors=errors or [],
        booked=flags.get("booked", False),
        cancelled=flags.get("cancelled", False),
        just_reported=flags.get("just_reported", False),
        ended=flags.get("ended", False),
        confirm_cancel=flags.get("confirm_cancel", False),
    )


async def _owned(
    request: Request, rider: Rider | None, session: AsyncSession, reservation_id: uuid.UUID
) -> tuple[Rider, Lang, Reservation] | Response:
    """The signed-in rider's own booking with the page's language, or the page to show
    instead (the start page, or not found)."""
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    try:
        return rider, lang, await get_owned(session, rider, reservation_id)
    except Problem:
        return render(request, "not_found.html", lang, status_code=404, errors=[])


@router.get("/trip/{reservation_id}")
async def trip(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    session: SessionDep,
    reservation_id: uuid.UUID,
    booked: bool = False,
    cancelled: bool = False,
    reported: bool = False,
    ended: bool = False,
) -> Response:
    owned = await _owned(request, rider, session, reservation_id)
    if isinstance(owned, Response):
        return owned
    rider, lang, res = owned
    return await _trip_page(
        request,
        state=state,
        session=session,
        rider=rider,
        lang=lang,
        res=res,
        booked=booked and not res.status.is_final,
        cancelled=cancelled and res.status is ReservationStatus.CANCELLED,
        just_reported=reported,
        ended=ended and res.status.is_final,
    )


@router.get("/trip/{reservation_id}/cancel")
async def confirm_cancel(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    session: SessionDep,
    reservation_id: uuid.UUID,
) -> Response:
    """Ask before cancelling: one Enter must never cancel a booking by mistake."""
    owned = await _owned(request, rider, session, reservation_id)
    if isinstance(owned, Response):
        return owned
    rider, lang, res = owned
    if res.status.is_final:
        return RedirectResponse(f"/trip/{reservation_id}?ended=1", status_code=303)
    return await _trip_page(
        request, state=state, session=session, rider=rider, lang=lang, res=res, confirm_cancel=True
    )


@router.post("/trip/{reservation_id}/cancel")
async def cancel(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    reservation_id: uuid.UUID,
) -> Response:
    """Cancel: the answer of the confirmation page (the trip page only links to that)."""
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
        return RedirectResponse(f"/trip/{reservation_id}?ended=1", status_code=303)
    return RedirectResponse(f"/trip/{reservation_id}?cancelled=1", status_code=303)


@router.post("/trip/{reservation_id}/again")
async def book_again(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    session: SessionDep,
    reservation_id: uuid.UUID,
) -> Response:
    """Book the next bus in one action: the same stop, route, direction and destination."""
    owned = await _owned(request, rider, session, reservation_id)
    if isinstance(owned, Response):
        return owned
    rider, lang, res = owned
    body = ReservationCreate(
        stop_id=res.stop_id,
        route_id=res.route_id,
        direction_id=1 if res.direction_id == 1 else 0,
        destination_stop_id=res.destination_stop_id,
        note=res.note,
    )
    try:
        booked = await create_reservation(
            state, rider=rider, body=body, source="web", cause="booked again by rider"
        )
    except Problem as problem:
        key = f"err_{problem.code}"
        error = {"field": "book-next", "text": t(key if key in STRINGS else "err_generic", lang)}
        existing = problem.extra.get("reservation_id")
        if existing:
            error["href"] = f"/trip/{existing}"
            error["link"] = t("see_existing", lang)
        return await _trip_page(
            request,
            state=state,
            session=session,
            rider=rider,
            lang=lang,
            res=res,
            status_code=problem.status,
            errors=[error],
        )
    return RedirectResponse(f"/trip/{booked.id}?booked=1", status_code=303)


@router.post("/trip/{reservation_id}/report")
async def report(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    session: SessionDep,
    reservation_id: uuid.UUID,
) -> Response:
    """The bus did not stop: the operators see it among the console's incidents."""
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    try:
        await report_bus_did_not_stop(state, rider=rider, reservation_id=reservation_id)
    except Problem as problem:
        if problem.status == 404:
            return render(request, "not_found.html", lang, status_code=404, errors=[])
        res = await get_owned(session, rider, reservation_id)
        error = {"field": "report", "text": t("err_report-not-allowed", lang)}
        return await _trip_page(
            request,
            state=state,
            session=session,
            rider=rider,
            lang=lang,
            res=res,
            status_code=problem.status,
            errors=[error],
        )
    return RedirectResponse(f"/trip/{reservation_id}?reported=1", status_code=303)
