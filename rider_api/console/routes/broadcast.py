"""GET/POST /ops/broadcast: an announcement to one stop, a route's stops or every stop.

The stop is picked by name or id: the form suggests stops as the operator types
(GET /ops/stops.json, the network's in-memory stop search), and the server takes a name
that names one stop, or answers with the stops it may mean.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from broker_config.i18n import pick_lang
from broker_config.messages import Lang, Localized
from rider_api.api.deps import OperatorDep, StateDep
from rider_api.console.audit import AuditAction, announcement_detail, record
from rider_api.console.deps import ConsolePageOperator, LangQuery
from rider_api.console.i18n import t
from rider_api.console.rendering import render
from rider_api.core.plain_text import control_character_at
from rider_api.mqtt.announcements import UnknownTargetError, enqueue_announcements, stops_of
from rider_api.network.search import Match
from rider_api.network.view import NetworkView, StopInfo

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()


def _audience(target: str, *, stops: list[str], route_id: str) -> str:
    """The audit log's target of a broadcast: ``stop:S1``, ``route:R1`` or ``all``."""
    if target == "stop":
        return f"stop:{stops[0]}"
    return f"route:{route_id}" if target == "route" else "all"


#: "站名 (S1)", as a suggestion is shown: the id in brackets at the end.
_ID_IN_BRACKETS = re.compile(r"\(([^()]+)\)\s*$")
SUGGESTIONS = 10


def matching_stops(network: NetworkView, text: str, *, limit: int = SUGGESTIONS) -> list[StopInfo]:
    """The stops ``text`` may mean: the one with that id first, then by name."""
    text = text.strip()
    if not text:
        return []
    found: list[StopInfo] = []
    if text in network.stops:
        found.append(network.stops[text])
    for hit in network.stop_search.search(text, limit=limit):
        stop = network.stops.get(hit.stop_id)
        if stop is not None and stop not in found:
            found.append(stop)
    return found[:limit]


def resolve_stop(network: NetworkView, text: str) -> tuple[str | None, list[StopInfo]]:
    """The stop id ``text`` names (an id, "name (id)", or a name only one stop has), or
    None with the stops it may mean (none: no such stop)."""
    text = text.strip()
    if text in network.stops:
        return text, []
    bracketed = _ID_IN_BRACKETS.search(text)
    if bracketed and bracketed.group(1).strip() in network.stops:
        return bracketed.group(1).strip(), []
    hits = network.stop_search.search(text, limit=SUGGESTIONS) if text else []
    exact = [h for h in hits if h.match is Match.EXACT]
    if len(exact) == 1:
        return exact[0].stop_id, []
    if len(hits) == 1:
        return hits[0].stop_id, []
    return None, [network.stops[h.stop_id] for h in hits if h.stop_id in network.stops]


def suggestion(stop: StopInfo, lang: Lang) -> dict[str, str]:
    """One suggestion: the id (what the form sends) and the name to show."""
    other: Lang = "en" if lang == "zh-TW" else "zh-TW"
    name, alt = stop.name.get(lang), stop.name.get(other)
    label = name if name == alt else f"{name} · {alt}"
    return {"stop_id": stop.stop_id, "name": name, "label": f"{label} ({stop.stop_id})"}


@router.get("/broadcast", response_class=HTMLResponse)
async def broadcast_form(
    request: Request,
    _op: ConsolePageOperator,
    state: StateDep,
    target: Annotated[Literal["stop", "route", "all"], Query()] = "stop",
    stop_id: Annotated[str, Query(max_length=64)] = "",
    route_id: Annotated[str, Query(max_length=64)] = "",
    lang: LangQuery = None,
) -> HTMLResponse:
    """The form; ``?target=stop&stop_id=S1`` (the board's links) fills it in."""
    form = {"target": target, "stop_id": stop_id, "route_id": route_id}
    lang_ = pick_lang(lang)
    stop = state.network.stops.get(stop_id)
    options = [suggestion(stop, lang_)] if stop is not None else []
    return render(
        request, state, lang_, "broadcast.html", form=form, error=None, sent=None, options=options
    )


@router.get("/stops.json")
async def stop_suggestions(
    _op: OperatorDep,
    state: StateDep,
    q: Annotated[str, Query(max_length=100)] = "",
    lang: LangQuery = None,
) -> list[dict[str, Any]]:
    """Stops whose name or id matches ``q``, best first, for the broadcast form."""
    lang_ = pick_lang(lang)
    return [suggestion(s, lang_) for s in matching_stops(state.network, q)]


@router.post("/broadcast", response_class=HTMLResponse)
async def broadcast(
    request: Request,
    op: ConsolePageOperator,
    state: StateDep,
    target: Annotated[Literal["stop", "route", "all"], Form()],
    text_zh: Annotated[str, Form(max_length=500)] = "",
    text_en: Annotated[str, Form(max_length=500)] = "",
    priority: Annotated[Literal["info", "urgent"], Form()] = "info",
    stop_id: Annotated[str, Form(max_length=64)] = "",
    route_id: Annotated[str, Form(max_length=64)] = "",
    lang: LangQuery = None,
) -> HTMLResponse:
    """Send an announcement to one stop, a route's stops or every stop, in both languages."""
    lang_ = pick_lang(lang)
    form = {
        "target": target,
        "text_zh": text_zh,
        "text_en": text_en,
        "priority": priority,
        "stop_id": stop_id,
        "route_id": route_id,
    }
    error: str | None = None
    stops: list[str] = []
    options: list[dict[str, str]] = []
    texts = (text_zh.strip(), text_en.strip())
    stop_text = stop_id.strip()
    if target == "stop":
        resolved, maybe = resolve_stop(state.network, stop_text)
        if resolved is not None:
            stop_id = resolved
            form["stop_id"] = resolved
        options = [suggestion(s, lang_) for s in maybe]
        if resolved is None and len(maybe) > 1:
            error = t("broadcast.err.stop_ambiguous", lang_, q=stop_text)
    if error is None and (
        not all(texts) or any(control_character_at(x) is not None for x in texts)
    ):
        error = t("broadcast.err.text", lang_)
    elif error is None:
        try:
            stops = stops_of(
                state.network, target, stop_id=stop_id.strip(), route_id=route_id.strip()
            )
        except UnknownTargetError as exc:
            error = t(f"broadcast.err.{exc.kind}", lang_)
        if not stops and error is None:
            error = t("broadcast.err.none", lang_)
    if error is not None:
        return render(
            request,
            state,
            lang_,
            "broadcast.html",
            code=422,
            form=form,
            error=error,
            sent=None,
            options=options,
        )
    message_text = Localized.model_validate({"zh-TW": text_zh.strip(), "en": text_en.strip()})
    async with state.unit_of_work() as uow:
        enqueue_announcements(
            uow, state.topics, stop_ids=stops, text=message_text, priority=priority
        )
        record(
            uow.session,
            action=AuditAction.BROADCAST,
            operator=op,
            target=_audience(target, stops=stops, route_id=route_id.strip()),
            detail=announcement_detail(message_text, priority=priority, stops=len(stops)),
        )
    logger.info("broadcast to %d stops (%s)", len(stops), target)
    return render(
        request,
        state,
        lang_,
        "broadcast.html",
        code=202,
        form={},
        error=None,
        sent=t("broadcast.sent", lang_, n=len(stops)),
        options=[],
    )
