"""GET/POST /ops/broadcast: an announcement to one stop, a route's stops or every stop."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from broker_config.i18n import pick_lang
from broker_config.messages import Localized
from rider_api.api.deps import PageOperatorDep, StateDep
from rider_api.console.deps import LangQuery
from rider_api.console.i18n import t
from rider_api.console.rendering import render
from rider_api.core.plain_text import control_character_at
from rider_api.mqtt.announcements import UnknownTargetError, announce, stops_of

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()


@router.get("/broadcast", response_class=HTMLResponse)
async def broadcast_form(
    request: Request, _op: PageOperatorDep, state: StateDep, lang: LangQuery = None
) -> HTMLResponse:
    return render(request, state, pick_lang(lang), "broadcast.html", form={}, error=None, sent=None)


@router.post("/broadcast", response_class=HTMLResponse)
async def broadcast(
    request: Request,
    _op: PageOperatorDep,
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
    texts = (text_zh.strip(), text_en.strip())
    if not all(texts) or any(control_character_at(x) is not None for x in texts):
        error = "broadcast.err.text"
    else:
        try:
            stops = stops_of(
                state.network, target, stop_id=stop_id.strip(), route_id=route_id.strip()
            )
        except UnknownTargetError as exc:
            error = f"broadcast.err.{exc.kind}"
        if not stops and error is None:
            error = "broadcast.err.none"
    if error is not None:
        return render(
            request,
            state,
            lang_,
            "broadcast.html",
            code=422,
            form=form,
            error=t(error, lang_),
            sent=None,
        )
    message_text = Localized.model_validate({"zh-TW": text_zh.strip(), "en": text_en.strip()})
    await announce(state, stop_ids=stops, text=message_text, priority=priority)
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
    )
