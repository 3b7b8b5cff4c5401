"""POST /v1/voice/intents: a spoken or typed request -> a booking proposal (books nothing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from broker_config.messages import Lang, Localized
from rider_api.api.deps import CurrentRider, StateDep
from rider_api.api.rate_limits import VoiceLimit
from rider_api.core.plain_text import ONE_LINE
from rider_api.voice.intents import MAX_CHOICES, MAX_ROUTE_CHOICES

__all__ = ["IntentChoice", "IntentProposalPublic", "VoiceIntentRequest", "router"]

router = APIRouter(prefix="/v1/voice", tags=["voice"])


class VoiceIntentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), ONE_LINE
    ]
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
    #: Complete alternatives to offer as buttons: the candidates of an unsure stop or
    #: direction, or every route boarding at the stop when the route is not known.
    choices: list[IntentChoice] = Field(
        default_factory=list, max_length=max(MAX_CHOICES, MAX_ROUTE_CHOICES)
    )


@router.post("/intents", response_model=IntentProposalPublic, dependencies=[VoiceLimit])
async def intents(
    body: VoiceIntentRequest, rider: CurrentRider, state: StateDep
) -> IntentProposalPublic:
    """Parse a spoken or typed request into ``{stop_id, route_id, direction_id, confidence,
    prompt, choices}``; nothing is booked until the rider confirms with POST /v1/reservations."""
    proposal = state.voice.propose(
        state.network, body.text, lang=body.lang, lat=body.lat, lon=body.lon
    )
    return IntentProposalPublic.model_validate(proposal.as_dict())
