"""The live board: the page (GET /ops), its data (/ops/live.json) and its event stream."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import TypeAdapter

from broker_config.i18n import pick_lang
from broker_config.messages import Lang
from rider_api.api.deps import OperatorDep, PageOperatorDep, StateDep
from rider_api.console.deps import LangQuery, SettingsDep
from rider_api.console.live import Snapshot, build_snapshot
from rider_api.console.rendering import page_context, render, templates
from rider_api.state import AppState

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()
#: The board's sections, each rendered from its ``_<part>.html`` template.
SECTIONS = ("summary", "incidents", "bookings", "devices")
_SNAPSHOT = TypeAdapter(Snapshot)


def _fragments(request: Request, state: AppState, lang: Lang, snap: Snapshot) -> dict[str, str]:
    ctx = page_context(request, state, lang, snap=snap)
    return {part: templates.get_template(f"_{part}.html").render(ctx) for part in SECTIONS}


# The router is mounted under /ops: "" is the console's front page.
@router.get("", response_class=HTMLResponse)
async def live_page(
    request: Request,
    _op: PageOperatorDep,
    state: StateDep,
    settings: SettingsDep,
    lang: LangQuery = None,
) -> HTMLResponse:
    lang_ = pick_lang(lang)
    snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
    return render(
        request,
        state,
        lang_,
        "live.html",
        snap=snap,
        fragments=_fragments(request, state, lang_, snap),
    )


@router.get("/live.json")
async def live_json(_op: OperatorDep, state: StateDep, settings: SettingsDep) -> dict[str, Any]:
    """The live board as data: devices, bookings, offline stops with bookings, incidents."""
    snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
    data: dict[str, Any] = _SNAPSHOT.dump_python(snap, mode="json", by_alias=True)
    data["unacknowledged"] = snap.unacknowledged
    return data


@router.get("/live/events", response_class=EventSourceResponse)
async def live_events(
    request: Request,
    _op: OperatorDep,
    state: StateDep,
    settings: SettingsDep,
    lang: LangQuery = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the board's sections (HTML, as one JSON object) whenever they
    change, checked every ``refresh_s``.

    The operator is checked by the dependency, before the stream starts. FastAPI sends a
    keep-alive comment when nothing was sent for 15 s and stops the stream as soon as the
    client goes away.
    """
    lang_ = pick_lang(lang)
    last = ""
    n = 0
    while True:
        try:
            snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
            data = json.dumps(_fragments(request, state, lang_, snap), ensure_ascii=False)
        except Exception:
            logger.exception("console snapshot failed")
            data = last
        if data != last:
            last = data
            n += 1
            yield ServerSentEvent(raw_data=data, event="live", id=str(n))
        await asyncio.sleep(settings.refresh_s)
