"""GET /voice: the read-back of a spoken or typed request, with the choices to book as
buttons (the form's script, voice.js, is served with the other static files)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from rider_api.api.deps import LatitudeQuery, LongitudeQuery, StateDep
from rider_api.voice.proposal import IntentProposal
from rider_api.web.deps import OptionalRider
from rider_api.web.rate_limits import VoicePageLimit
from rider_api.web.strings import t
from rider_api.web.views import choice_value, page_lang, render, to_start

__all__ = ["router"]

router = APIRouter()


def _choice_kind(proposal: IntentProposal) -> str:
    """What the choices are: routes at a known stop, candidate stops of one route and
    direction, or alternatives of several parts."""
    if proposal.route_id is None and proposal.stop_id is not None:
        return "routes"
    if len({(c.route_id, c.direction_id) for c in proposal.choices}) == 1:
        return "stops"
    return "any"


@router.get("/voice", dependencies=[VoicePageLimit])
async def voice(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    text: Annotated[str, Query(max_length=500)] = "",
    lat: LatitudeQuery = None,
    lon: LongitudeQuery = None,
) -> Response:
    """The read-back of a spoken or typed request; booking needs the explicit yes (a POST)."""
    if rider is None:
        return to_start()
    lang = page_lang(request, rider)
    located = lat is not None and lon is not None
    where: dict[str, Any] = {"lat": lat, "lon": lon} if located else {}
    if not text.strip():
        errors = [{"field": "voice-text", "text": t("err_voice_text", lang)}]
        return render(
            request, "voice.html", lang, status_code=422, errors=errors, proposal=None, **where
        )
    proposal = state.voice.propose(
        state.network,
        text.strip(),
        lang=lang,
        lat=lat if located else None,
        lon=lon if located else None,
    )
    complete = None
    if proposal.stop_id and proposal.route_id and proposal.direction_id is not None:
        complete = {
            "stop": proposal.stop_id,
            "choice": choice_value(proposal.route_id, proposal.direction_id),
        }
    choices = [
        {
            "stop": c.stop_id,
            "choice": choice_value(c.route_id, c.direction_id),
            "label": c.label.get(lang),
        }
        for c in proposal.choices
        if complete is None
        or (c.stop_id, choice_value(c.route_id, c.direction_id))
        != (complete["stop"], complete["choice"])
    ]
    stop_page: dict[str, Any] | None = None
    if proposal.route_id is None and proposal.stop_id in state.network.stops:
        stop = state.network.stops[proposal.stop_id]
        stop_page = {"href": f"/stop/{stop.stop_id}", "name": stop.name.get(lang)}
    return render(
        request,
        "voice.html",
        lang,
        errors=[],
        proposal=proposal,
        prompt=proposal.prompt.get(lang),
        complete=complete,
        choices=choices,
        choice_kind=_choice_kind(proposal),
        stop_page=stop_page,
        text=text.strip(),
        **where,
    )
