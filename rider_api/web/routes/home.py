"""GET /: the start form for a newcomer; a rider's active trips and recent routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import col, select

from broker_config.messages import Lang
from rider_api.api.deps import SessionDep, StateDep
from rider_api.models import Reservation
from rider_api.reservations.booking import to_public
from rider_api.reservations.lifecycle import ACTIVE_STATUSES
from rider_api.state import AppState
from rider_api.web.deps import OptionalRider
from rider_api.web.views import page_lang, render, route_label

__all__ = ["router"]

router = APIRouter()
RECENT_LIMIT = 5


def _recent(state: AppState, rows: Sequence[Reservation], lang: Lang) -> list[dict[str, Any]]:
    """The rider's last distinct stop+route choices still served, to book again in one tap."""
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
                "route": route_label(state, r.route_id, r.direction_id, lang),
                "href": f"/book?stop={r.stop_id}&choice={r.route_id}:{r.direction_id}",
            }
        )
        if len(recent) >= RECENT_LIMIT:
            break
    return recent


@router.get("/")
async def home(
    request: Request, rider: OptionalRider, state: StateDep, session: SessionDep
) -> Response:
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
    return render(
        request,
        "home.html",
        lang,
        rider=rider,
        active=active,
        recent=_recent(state, rows, lang),
        label=lambda res: route_label(state, res.route_id, res.direction_id, lang),
        errors=[],
    )
