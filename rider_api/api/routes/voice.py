"""POST /v1/voice/intents: a spoken or typed request -> a booking proposal (books nothing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from broker_config.messages import Lang, Localized
from rider_api.api.deps import CurrentRider, StateDep
from rider_api.network.view import NetworkView
from rider_api.voice import IntentProposal, NetworkIndex, Route, RouteDirection, Stop, parse_intent

__all__ = ["IntentChoice", "IntentProposalPublic", "VoiceIntentRequest", "propose", "router"]

router = APIRouter(prefix="/v1/voice", tags=["voice"])


class VoiceIntentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    lang: Lang = "zh-TW"
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None


class IntentChoice(BaseModel):
    stop_id: str
    route_id: str
    direction_id: int
    label: Localized


class IntentProposalPublic(BaseModel):
    """Unknown parts are null; ``prompt`` is the read-back (or question) for the rider."""

    stop_id: str | None
    route_id: str | None
    direction_id: int | None
    confidence: float
    prompt: Localized
    choices: list[IntentChoice] = Field(default_factory=list, max_length=3)


def build_index(network: NetworkView) -> NetworkIndex:
    """The parser's view of the loaded network."""
    stops = tuple(
        Stop(s.stop_id, name_zh=s.name.zh_tw, name_en=s.name.en, lat=s.lat, lon=s.lon)
        for s in network.stops.values()
    )
    directions: dict[str, list[RouteDirection]] = {}
    for (route_id, direction_id), info in sorted(network.directions.items()):
        directions.setdefault(route_id, []).append(
            RouteDirection(
                direction_id,
                headsign_zh=info.headsign.zh_tw,
                headsign_en=info.headsign.en,
                stop_ids=tuple(s for s in info.stop_ids if s in network.stops),
            )
        )
    routes = tuple(
        Route(
            r.route_id,
            short_name=r.short_name,
            long_name_zh=r.long_name.zh_tw,
            long_name_en=r.long_name.en,
            directions=tuple(directions.get(r.route_id, ())),
            short_name_en=r.short_name_en or "",
        )
        for r in network.routes.values()
    )
    return NetworkIndex(stops=stops, routes=routes)


def voice_index(request: Request, network: NetworkView) -> NetworkIndex:
    """The index for ``network``, built once per NetworkView (a new import makes a new one)."""
    app_state: Any = request.app.state
    cached: tuple[NetworkView, NetworkIndex] | None = getattr(app_state, "voice_index", None)
    if cached is None or cached[0] is not network:
        cached = (network, build_index(network))
        app_state.voice_index = cached
    return cached[1]


def propose(
    request: Request,
    network: NetworkView,
    text: str,
    *,
    lang: Lang,
    lat: float | None = None,
    lon: float | None = None,
) -> IntentProposal:
    """Parse ``text`` against the current network (used by this endpoint and the web app)."""
    return parse_intent(text, voice_index(request, network), lang=lang, lat=lat, lon=lon)


@router.post("/intents", response_model=IntentProposalPublic)
async def intents(
    body: VoiceIntentRequest, request: Request, rider: CurrentRider, state: StateDep
) -> IntentProposalPublic:
    """Parse a spoken or typed request into ``{stop_id, route_id, direction_id, confidence,
    prompt, choices}``; nothing is booked until the rider confirms with POST /v1/reservations."""
    proposal = propose(
        request, state.network, body.text, lang=body.lang, lat=body.lat, lon=body.lon
    )
    return IntentProposalPublic.model_validate(proposal.as_dict())
