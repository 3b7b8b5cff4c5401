"""GET /book: review a booking (route, destination, needs, note); POST /book: book it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from broker_config.messages import Lang, RiderNeed
from rider_api.api.deps import SessionDep, StateDep
from rider_api.core.problems import Problem
from rider_api.models.schemas import ReservationCreate
from rider_api.reservations.booking import create_reservation
from rider_api.state import AppState
from rider_api.web.deps import OptionalRider
from rider_api.web.strings import STRINGS, t
from rider_api.web.views import (
    choice_value,
    page_lang,
    parse_choice,
    render,
    render_stop,
    route_label,
    to_start,
)

__all__ = ["router"]

router = APIRouter()


def _review_context(
    state: AppState, lang: Lang, stop_id: str, route_id: str, direction_id: int
) -> dict[str, Any] | None:
    """The review page's stop, route and later stops, or None if the route does not stop."""
    network = state.network
    stop = network.stops.get(stop_id)
    direction = network.direction(route_id, direction_id)
    if stop is None or direction is None or stop_id not in direction.positions:
        return None
    after = direction.stop_ids[direction.positions[stop_id] + 1 :]
    destinations = [
        {"stop_id": s, "name": network.stops[s].name.get(lang)} for s in after if s in network.stops
    ]
    return {
        "stop_id": stop_id,
        "stop_name": stop.name.get(lang),
        "choice": choice_value(route_id, direction_id),
        "route_label": route_label(state, route_id, direction_id, lang),
        "destinations": destinations,
        "need_codes": [n.value for n in RiderNeed],
    }


@router.get("/book")
async def review(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    session: SessionDep,
    stop: Annotated[str, Query(max_length=64)] = "",
    choice: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    parsed = parse_choice(choice)
    context = _review_context(state, lang, stop, *parsed) if parsed else None
    if context is None:
        errors = [{"field": "choice-0", "text": t("err_route", lang)}]
        return await render_stop(
            request, state=state, session=session, lang=lang, stop_id=stop, errors=errors
        )
    return render(request, "review.html", lang, errors=[], dest="", note="", needs=[], **context)


@router.post("/book")
async def book(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    session: SessionDep,
    stop: Annotated[str, Form(max_length=64)],
    choice: Annotated[str, Form(max_length=80)],
    destination: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
    needs: Annotated[list[str] | None, Form()] = None,
) -> Response:
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    parsed = parse_choice(choice)
    context = _review_context(state, lang, stop, *parsed) if parsed else None
    if parsed is None or context is None:
        errors = [{"field": "choice-0", "text": t("err_route", lang)}]
        return await render_stop(
            request, state=state, session=session, lang=lang, stop_id=stop, errors=errors
        )
    try:
        body = _booking_body(stop, parsed, destination, note, needs or [])
        reservation_id = (await create_reservation(state, rider=rider, body=body, source="web")).id
    except Problem as problem:
        key = f"err_{problem.code}"
        field = "confirm"
        if problem.code.startswith("destination"):
            field = "destination"
        elif problem.code == "needs":
            field = f"need-{next(iter(RiderNeed)).value}"
        error = {"field": field, "text": t(key if key in STRINGS else "err_generic", lang)}
        existing = problem.extra.get("reservation_id")
        if existing:
            error["href"] = f"/trip/{existing}"
            error["link"] = t("see_existing", lang)
        return render(
            request,
            "review.html",
            lang,
            status_code=problem.status,
            errors=[error],
            dest=destination,
            note=note,
            needs=needs or [],
            **context,
        )
    return RedirectResponse(f"/trip/{reservation_id}?booked=1", status_code=303)


def _booking_body(
    stop: str, parsed: tuple[str, int], destination: str, note: str, needs: list[str]
) -> ReservationCreate:
    """The booking the form asks for; a field the API would refuse becomes a Problem."""
    try:
        return ReservationCreate(
            stop_id=stop,
            route_id=parsed[0],
            direction_id=1 if parsed[1] == 1 else 0,
            destination_stop_id=destination or None,
            note=note.strip() or None,
            needs=needs or None,
        )
    except ValidationError as exc:
        fields = {str(part) for error in exc.errors() for part in error["loc"]}
        if "note" in fields:
            raise Problem(422, "The note must be one line of plain text.", code="note") from exc
        if "needs" in fields:
            raise Problem(422, "Choose needs from the list.", code="needs") from exc
        raise Problem(
            404, "There is no such destination stop.", code="destination-not-found"
        ) from exc
