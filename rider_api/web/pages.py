"""The rider web app's pages: plain forms with POST and redirect; a script adds live
updates, the nearest-stop button and the microphone (progressive enhancement)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlmodel import col, select

from broker_config.i18n import pick_lang
from broker_config.messages import Lang
from rider_api.api.deps import SessionDep, StateDep, current_rider
from rider_api.api.routes.voice import propose
from rider_api.core.problems import Problem
from rider_api.models import Reservation, Rider
from rider_api.models.schemas import ReservationCreate, RiderCreate
from rider_api.network.queries import get_stop_detail, search_stops
from rider_api.reservations.booking import (
    cancel_reservation,
    create_reservation,
    get_owned,
    to_public,
)
from rider_api.reservations.lifecycle import ACTIVE_STATUSES
from rider_api.reservations.riders import sign_up
from rider_api.state import AppState
from rider_api.web.strings import STRINGS, t
from rider_api.web.views import LANG_COOKIE, TOKEN_COOKIE, page_lang, render, safe_next

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {"app.css": "text/css", "app.js": "text/javascript"}
_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
RECENT_LIMIT = 5


async def optional_rider(request: Request, state: StateDep) -> Rider | None:
    try:
        return await current_rider(request, state)
    except Problem:
        return None


def _to_start() -> RedirectResponse:
    return RedirectResponse("/", status_code=303)


def _choice_value(route_id: str, direction_id: int) -> str:
    return f"{route_id}:{direction_id}"


def _parse_choice(choice: str | None) -> tuple[str, int] | None:
    route_id, _, direction = (choice or "").rpartition(":")
    if not route_id or direction not in ("0", "1"):
        return None
    return route_id, int(direction)


def _route_label(state: AppState, route_id: str, direction_id: int, lang: Lang) -> str:
    """'307 往 撫遠街' / '307 towards Fuyuan St.': how a rider says a route and direction."""
    route = state.network.routes.get(route_id)
    direction = state.network.direction(route_id, direction_id)
    if route is None or direction is None:
        return route_id
    return t(
        "headsign",
        lang,
        route=route.display_name.get(lang),
        headsign=direction.headsign.get(lang),
    )


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in _STATIC_FILES:
        raise Problem(404, "No such file.", code="not-found")
    return FileResponse(
        _STATIC / name, media_type=_STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
    )


@router.get("/")
async def home(request: Request, state: StateDep, session: SessionDep) -> Response:
    rider = await optional_rider(request, state)
    lang = page_lang(request, rider)
    if rider is None:
        return render(request, "start.html", lang, errors=[], name="")
    rows = (
        await session.exec(
            select(Reservation)
            .where(col(Reservation.rider_id) == rider.id)
            .order_by(col(Reservation.created_at).desc())
            .limit(50)
        )
    ).all()
    active = [await to_public(state, session, r) for r in rows if r.status in ACTIVE_STATUSES]
    recent: list[dict[str, Any]] = []
    seen: set[tuple[str, str, int]] = set()
    for r in rows:
        key = (r.stop_id, r.route_id, r.direction_id)
        stop = state.network.stops.get(r.stop_id)
        if key in seen or stop is None or not state.network.serves(*key[1:], r.stop_id):
            continue
        seen.add(key)
        recent.append(
            {
                "stop": stop.name.get(lang),
                "route": _route_label(state, r.route_id, r.direction_id, lang),
                "href": f"/book?stop={r.stop_id}&choice={r.route_id}:{r.direction_id}",
            }
        )
        if len(recent) >= RECENT_LIMIT:
            break
    return render(
        request,
        "home.html",
        lang,
        rider=rider,
        active=active,
        recent=recent,
        label=lambda res: _route_label(state, res.route_id, res.direction_id, lang),
        errors=[],
    )


@router.post("/start")
async def start(
    request: Request,
    state: StateDep,
    display_name: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "zh-TW",
) -> Response:
    lang = pick_lang(language)
    if not display_name.strip():
        errors = [{"field": "display_name", "text": t("err_name", lang)}]
        return render(request, "start.html", lang, status_code=422, errors=errors, name="")
    created = await sign_up(
        state, body=RiderCreate(display_name=display_name.strip()[:80], language=lang)
    )
    response = RedirectResponse("/", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        TOKEN_COOKIE,
        created.token,
        max_age=_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    response.set_cookie(LANG_COOKIE, lang, max_age=_COOKIE_MAX_AGE, samesite="lax", secure=secure)
    return response


@router.post("/language")
async def switch_language(
    request: Request,
    state: StateDep,
    session: SessionDep,
    language: Annotated[str, Form()],
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    lang = pick_lang(language)
    rider = await optional_rider(request, state)
    if rider is not None:
        # The rider's language is also the one the stop speaks first.
        rider.language = lang
        session.add(rider)
        await session.commit()
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=_COOKIE_MAX_AGE,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/find")
async def find(
    request: Request,
    state: StateDep,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> Response:
    rider = await optional_rider(request, state)
    if rider is None:
        return _to_start()
    lang = page_lang(request, rider)
    near = lat is not None and lon is not None
    if not q.strip() and not near:
        errors = [{"field": "q", "text": t("err_query", lang)}]
        return render(request, "find.html", lang, status_code=422, errors=errors, q="")
    hits = await search_stops(
        session, query=q or None, lat=lat if near else None, lon=lon if near else None, limit=20
    )
    return render(request, "results.html", lang, hits=hits, q=q.strip(), near=near, errors=[])


async def _stop_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    lang: Lang,
    stop_id: str,
    errors: list[dict[str, str]],
) -> Response:
    detail = await get_stop_detail(session, stop_id)
    if detail is None:
        return render(request, "not_found.html", lang, status_code=404, errors=[])
    options = [
        {
            "value": _choice_value(s.route.route_id, s.direction.direction_id),
            "label": _route_label(state, s.route.route_id, s.direction.direction_id, lang),
        }
        for s in detail.routes
        if not s.is_last_stop
    ]
    stop_name = detail.stop.name_en if lang == "en" else detail.stop.name_zh
    return render(
        request,
        "stop.html",
        lang,
        status_code=422 if errors else 200,
        stop_id=stop_id,
        stop_name=stop_name,
        options=options,
        errors=errors,
    )


@router.get("/stop/{stop_id}")
async def stop_page(
    request: Request, state: StateDep, session: SessionDep, stop_id: str
) -> Response:
    rider = await optional_rider(request, state)
    if rider is None:
        return _to_start()
    return await _stop_page(request, state, session, page_lang(request, rider), stop_id, [])


def _review_context(
    state: AppState, lang: Lang, stop_id: str, route_id: str, direction_id: int
) -> dict[str, Any] | None:
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
        "choice": _choice_value(route_id, direction_id),
        "route_label": _route_label(state, route_id, direction_id, lang),
        "destinations": destinations,
    }


@router.get("/book")
async def review(
    request: Request,
    state: StateDep,
    session: SessionDep,
    stop: Annotated[str, Query(max_length=64)] = "",
    choice: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    rider = await optional_rider(request, state)
    if rider is None:
        return _to_start()
    lang = page_lang(request, rider)
    parsed = _parse_choice(choice)
    context = _review_context(state, lang, stop, *parsed) if parsed else None
    if context is None:
        errors = [{"field": "choice-0", "text": t("err_route", lang)}]
        return await _stop_page(request, state, session, lang, stop, errors)
    return render(request, "review.html", lang, errors=[], dest="", note="", **context)


@router.post("/book")
async def book(
    request: Request,
    state: StateDep,
    session: SessionDep,
    stop: Annotated[str, Form(max_length=64)],
    choice: Annotated[str, Form(max_length=80)],
    destination: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    rider = await optional_rider(request, state)
    if rider is None:
        return _to_start()
    lang = page_lang(request, rider)
    parsed = _parse_choice(choice)
    context = _review_context(state, lang, stop, *parsed) if parsed else None
    if parsed is None or context is None:
        errors = [{"field": "choice-0", "text": t("err_route", lang)}]
        return await _stop_page(request, state, session, lang, stop, errors)
    try:
        body = ReservationCreate(
            stop_id=stop,
            route_id=parsed[0],
            direction_id=1 if parsed[1] == 1 else 0,
            destination_stop_id=destination or None,
            note=note.strip() or None,
        )
        reservation_id = (await create_reservation(state, rider=rider, body=body, source="web")).id
    except Problem as problem:
        key = f"err_{problem.code}"
        field = "destination" if problem.code.startswith("destination") else "confirm"
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
            **context,
        )
    return RedirectResponse(f"/trip/{reservation_id}?booked=1", status_code=303)


@router.get("/trip/{reservation_id}")
async def trip(
    request: Request,
    state: StateDep,
    session: SessionDep,
    reservation_id: uuid.UUID,
    booked: bool = False,
    cancelled: bool = False,
) -> Response:
    rider = await optional_rider(request, state)
    if rider is None:
        return _to_start()
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
        route_label=_route_label(state, res.route_id, res.direction_id, lang),
        booked=booked,
        cancelled=cancelled,
        live_texts=live_texts,
        initial=initial,
        errors=[],
    )


@router.post("/trip/{reservation_id}/cancel")
async def cancel(
    request: Request, state: StateDep, session: SessionDep, reservation_id: uuid.UUID
) -> Response:
    rider = await optional_rider(request, state)
    if rider is None:
        return _to_start()
    lang = page_lang(request, rider)
    try:
        await cancel_reservation(
            state, reservation_id=reservation_id, rider=rider, cause="cancelled by rider (web)"
        )
    except Problem as problem:
        if problem.code != "reservation-final":
            return render(request, "not_found.html", lang, status_code=404, errors=[])
    return RedirectResponse(f"/trip/{reservation_id}?cancelled=1", status_code=303)


@router.get("/voice")
async def voice(
    request: Request,
    state: StateDep,
    session: SessionDep,
    text: Annotated[str, Query(max_length=500)] = "",
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> Response:
    """The read-back of a spoken or typed request; booking needs the explicit yes (a POST)."""
    rider = await optional_rider(request, state)
    if rider is None:
        return _to_start()
    lang = page_lang(request, rider)
    if not text.strip():
        errors = [{"field": "voice-text", "text": t("err_voice_text", lang)}]
        return render(request, "voice.html", lang, status_code=422, errors=errors, proposal=None)
    proposal = propose(request, state.network, text.strip(), lang=lang, lat=lat, lon=lon)
    complete = None
    if proposal.stop_id and proposal.route_id and proposal.direction_id is not None:
        complete = {
            "stop": proposal.stop_id,
            "choice": _choice_value(proposal.route_id, proposal.direction_id),
        }
    choices = [
        {
            "stop": c.stop_id,
            "choice": _choice_value(c.route_id, c.direction_id),
            "label": c.label.get(lang),
        }
        for c in proposal.choices
        if complete is None
        or (c.stop_id, _choice_value(c.route_id, c.direction_id))
        != (complete["stop"], complete["choice"])
    ]
    return render(
        request,
        "voice.html",
        lang,
        errors=[],
        proposal=proposal,
        prompt=proposal.prompt.get(lang),
        complete=complete,
        choices=choices,
        text=text.strip(),
    )
