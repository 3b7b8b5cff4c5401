"""GET /voice: the read-back of a spoken or typed request, with the choices to book."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from rider_api.api.deps import LatitudeQuery, LongitudeQuery, StateDep
from rider_api.web.deps import OptionalRider
from rider_api.web.strings import t
from rider_api.web.views import choice_value, page_lang, render, to_start

__all__ = ["router"]

router = APIRouter()


@router.get("/voice")
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
    if not text.strip():
        errors = [{"field": "voice-text", "text": t("err_voice_text", lang)}]
        return render(request, "voice.html", lang, status_code=422, errors=errors, proposal=None)
    proposal = state.voice.propose(state.network, text.strip(), lang=lang, lat=lat, lon=lon)
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
