"""Rendering helpers of the rider web app: the page language, texts, mixed-language spans,
how a route is named and chosen, and the pages more than one form comes back to."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.i18n import LANGS, other_lang, pick_lang
from broker_config.messages import Lang, Localized
from rider_api.dispatch.arrivals import NextBus, NextBusKind, next_bus, service_zone
from rider_api.models import Rider
from rider_api.network.queries import get_stop_detail
from rider_api.state import AppState
from rider_api.web.strings import STRINGS, html_lang, t

__all__ = [
    "COOKIE_MAX_AGE",
    "LANG_COOKIE",
    "TOKEN_COOKIE",
    "choice_value",
    "local_time",
    "mark",
    "next_buses",
    "page_lang",
    "parse_choice",
    "render",
    "render_stop",
    "route_label",
    "safe_next",
    "service_tz",
    "text",
    "to_start",
]

TOKEN_COOKIE = "bushail_token"  # noqa: S105 - the cookie's name, not a secret
LANG_COOKIE = "bushail_lang"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
_TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def page_lang(request: Request, rider: Rider | None) -> Lang:
    """The language chosen with the switch, else the rider's, else the browser's."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return pick_lang(chosen)
    if rider is not None:
        return pick_lang(rider.language)
    return pick_lang(request.headers.get("accept-language"))


def mark(value: str, lang: Lang) -> Markup:
    """``value`` escaped; wrapped in its own ``lang`` when it is Chinese on an English page."""
    if lang == "en" and _CJK.search(value):
        return Markup('<span lang="zh-Hant-TW">{}</span>').format(value)
    return escape(value)


def text(key: str, lang: Lang, **values: object) -> Markup:
    """The text ``key`` as HTML; str values are escaped and language-marked."""
    template = escape(STRINGS.template(key, lang, **values))
    marked = {k: mark(v, lang) if isinstance(v, str) else v for k, v in values.items()}
    return template.format(**marked)


def loc(value: Localized | None, lang: Lang) -> str:
    return "" if value is None else value.get(lang)


def safe_next(path: str | None) -> str:
    """Only a local path may follow a form (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def render(
    request: Request, template: str, lang: Lang, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    def _t(key: str, **values: object) -> Markup:
        return text(key, lang, **values)

    def _plain(key: str, **values: object) -> str:
        return t(key, lang, **values)

    def _mark(value: str) -> Markup:
        return mark(value, lang)

    def _loc(value: Localized | None) -> str:
        return loc(value, lang)

    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context.update(
        lang=lang,
        html_lang=html_lang(lang),
        other_lang=other_lang(lang),
        other_html_lang=html_lang(other_lang(lang)),
        t=_t,
        plain=_plain,
        mark=_mark,
        loc=_loc,
        here=here,
    )
    response = _TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def to_start() -> RedirectResponse:
    """Where a page that needs a rider sends a visitor who has not started yet."""
    return RedirectResponse("/", status_code=303)


def choice_value(route_id: str, direction_id: int) -> str:
    """A route and direction as one form value, ``"R1:0"``."""
    return f"{route_id}:{direction_id}"


def parse_choice(choice: str | None) -> tuple[str, int] | None:
    """The route and direction of a :func:`choice_value`, or None if it is not one."""
    route_id, _, direction = (choice or "").rpartition(":")
    if not route_id or direction not in ("0", "1"):
        return None
    return route_id, int(direction)


def route_label(state: AppState, route_id: str, direction_id: int, lang: Lang) -> str:
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


def service_tz(state: AppState) -> dt.tzinfo:
    """The agency's time zone: every time shown to a rider is in it."""
    return service_zone(state.network)


def local_time(at: dt.datetime, tz: dt.tzinfo, *, seconds: bool = True) -> str:
    """``at`` on the service's clock, 24-hour (the script formats its times the same)."""
    return at.astimezone(tz).strftime("%H:%M:%S" if seconds else "%H:%M")


def next_bus_text(bus: NextBus, lang: Lang, now: dt.datetime, tz: dt.tzinfo) -> str:
    """'Next bus: about 4 min away (live)' or '... 06:04 (scheduled, not live)'."""
    if bus.kind is NextBusKind.LIVE and bus.in_s is not None:
        if bus.in_s < 60:
            return t("next_live_now", lang)
        return t("next_live", lang, n=-(-bus.in_s // 60))
    if bus.kind is NextBusKind.SCHEDULED and bus.departs_at is not None:
        when = local_time(bus.departs_at, tz, seconds=False)
        if bus.departs_at.astimezone(tz).date() != now.astimezone(tz).date():
            return t("next_scheduled_tomorrow", lang, time=when)
        return t("next_scheduled", lang, time=when)
    return t("next_none", lang)


def next_buses(
    state: AppState, stop_id: str, choices: list[tuple[str, int]], lang: Lang
) -> list[dict[str, Any]]:
    """The next bus of each route direction at the stop: live from the fleet view, else
    the timetable's (``dispatch.arrivals``)."""
    now = dt.datetime.now(dt.UTC)
    tz = service_tz(state)
    fleet, staleness = state.dispatcher.fleet, state.settings.position_staleness_s
    out: list[dict[str, Any]] = []
    for route_id, direction_id in choices:
        candidates = fleet.fresh_on(route_id, direction_id, time.monotonic(), staleness)
        bus = next_bus(state.network, candidates, route_id, direction_id, stop_id, now)
        out.append(
            {
                "choice": choice_value(route_id, direction_id),
                "route": route_label(state, route_id, direction_id, lang),
                "kind": bus.kind.value,
                "in_s": bus.in_s,
                "text": next_bus_text(bus, lang, now, tz),
            }
        )
    return out


async def render_stop(
    request: Request,
    *,
    state: AppState,
    session: AsyncSession,
    lang: Lang,
    stop_id: str,
    errors: list[dict[str, str]],
) -> Response:
    """The stop page (pick a route, with the next bus of each); also where a booking
    without a valid route returns."""
    detail = await get_stop_detail(session, stop_id)
    if detail is None:
        return render(request, "not_found.html", lang, status_code=404, errors=[])
    choices = [
        (s.route.route_id, s.direction.direction_id) for s in detail.routes if not s.is_last_stop
    ]
    options = [
        {
            "value": bus["choice"],
            "label": bus["route"],
            "next": bus["text"],
            "kind": bus["kind"],
            "in_s": bus["in_s"],
        }
        for bus in next_buses(state, stop_id, choices, lang)
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
