"""The live board: the page (GET /ops), its data (/ops/live.json) and its event stream.

The page opens with what is at risk, then the map (its base drawn once per network
import, see ``console.netmap``), the agency feeds and the tables. The stream sends every
section's HTML and the map's live layer whenever one of them changes.
"""

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
from rider_api.api.deps import OperatorDep, StateDep
from rider_api.console.deps import ConsolePageOperator, LangQuery, SettingsDep
from rider_api.console.i18n import TEXTS
from rider_api.console.live import Snapshot, build_snapshot
from rider_api.console.netmap import MapBase, build_base, live_layer, load_shapes, map_items
from rider_api.console.rendering import page_context, render, templates
from rider_api.network.view import NetworkView
from rider_api.state import AppState

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()
#: The board's sections, each rendered from its ``_<part>.html`` template.
SECTIONS = ("risks", "summary", "incidents", "bookings", "devices", "feeds", "maptable")
_SNAPSHOT = TypeAdapter(Snapshot)
#: How often a live stream checks that its console session still holds.
SESSION_RECHECK_S = 15.0


#: The drawn network by (network view, language): a new import (a new view) draws it
#: again. The view is kept with its drawing, so an id is never mistaken for another's.
_BASES: dict[tuple[int, Lang], tuple[NetworkView, MapBase]] = {}
_BASES_KEPT = 4


async def map_base(state: AppState, lang: Lang) -> MapBase:
    """The network's base drawing (route lines, stops), drawn on first use."""
    network = state.network
    key = (id(network), lang)
    cached = _BASES.get(key)
    if cached is not None and cached[0] is network:
        return cached[1]
    async with state.sessions() as session:
        shapes = await load_shapes(session)

    def stop_href(stop_id: str) -> str:
        lang_arg = "&lang=en" if lang == "en" else ""
        return f"/ops/broadcast?target=stop&stop_id={stop_id}{lang_arg}"

    base = build_base(
        network,
        shapes,
        t=lambda key, **v: TEXTS.t(key, lang, **v),
        lang=lang,
        stop_href=stop_href,
        focusable_stops=state.console.map_focusable_stops,
    )
    _BASES.pop(key, None)
    while len(_BASES) >= _BASES_KEPT:
        _BASES.pop(next(iter(_BASES)))
    _BASES[key] = (network, base)
    return base


def _fragments(
    request: Request, state: AppState, lang: Lang, snap: Snapshot, base: MapBase
) -> dict[str, str]:
    ctx = page_context(request, state, lang, snap=snap)
    items = map_items(snap, state.network, base.projection, t=ctx["t"], lang=lang, dur=ctx["dur"])
    ctx["map_items"] = items
    ctx["feeds"] = state.feeds.status()
    parts = {part: templates.get_template(f"_{part}.html").render(ctx) for part in SECTIONS}
    parts["maplive"] = str(live_layer(items))
    return parts


# The router is mounted under /ops: "" is the console's front page.
@router.get("", response_class=HTMLResponse)
async def live_page(
    request: Request,
    _op: ConsolePageOperator,
    state: StateDep,
    settings: SettingsDep,
    lang: LangQuery = None,
) -> HTMLResponse:
    lang_ = pick_lang(lang)
    snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
    base = await map_base(state, lang_)
    return render(
        request,
        state,
        lang_,
        "live.html",
        snap=snap,
        base=base,
        fragments=_fragments(request, state, lang_, snap, base),
    )


@router.get("/live.json")
async def live_json(_op: OperatorDep, state: StateDep, settings: SettingsDep) -> dict[str, Any]:
    """The live board as data: devices, bookings, offline stops with bookings, incidents."""
    snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
    data: dict[str, Any] = _SNAPSHOT.dump_python(snap, mode="json", by_alias=True)
    data["unacknowledged"] = snap.unacknowledged
    data["feeds"] = [
        {
            "name": f.name,
            "kind": f.kind,
            "last_fetch_at": f.last_fetch_at.isoformat() if f.last_fetch_at else None,
            "last_success_at": f.last_success_at.isoformat() if f.last_success_at else None,
            "entities": f.entities,
            "applied": f.applied,
            "feed_age_s": f.feed_age_s,
            "errors": f.errors,
            "last_error": f.last_error,
        }
        for f in state.feeds.status()
    ]
    return data


@router.get("/live/events", response_class=EventSourceResponse)
async def live_events(
    request: Request,
    op: OperatorDep,
    state: StateDep,
    settings: SettingsDep,
    lang: LangQuery = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the board's sections (HTML, as one JSON object) whenever they
    change, checked every ``refresh_s``.

    The operator is checked by the dependency, before the stream starts, and a console
    session again every ``SESSION_RECHECK_S``: the stream ends with the session (signed
    out, or too old), and keeps it alive meanwhile (an open board is in use). FastAPI
    sends a keep-alive comment when nothing was sent for 15 s and stops the stream as
    soon as the client goes away.
    """
    lang_ = pick_lang(lang)
    last = ""
    n = 0
    loop = asyncio.get_running_loop()
    checked = loop.time()
    while True:
        if op.session is not None and loop.time() - checked >= SESSION_RECHECK_S:
            checked = loop.time()
            still = await state.operator_sessions.check(
                op.session, operators=state.operator_token_hashes, client=op.client
            )
            if still is None:
                logger.info("live stream of %s ended with its session", op.label)
                return
        try:
            snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
            base = await map_base(state, lang_)
            data = json.dumps(_fragments(request, state, lang_, snap, base), ensure_ascii=False)
        except Exception:
            logger.exception("console snapshot failed")
            data = last
        if data != last:
            last = data
            n += 1
            yield ServerSentEvent(raw_data=data, event="live", id=str(n))
        await asyncio.sleep(settings.refresh_s)
