"""Rendering helpers of the rider web app: the page language, texts, mixed-language spans,
how a route is named and chosen, and the pages more than one form comes back to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.i18n import LANGS, other_lang, pick_lang
from broker_config.messages import Lang, Localized
from rider_api.models import Rider
from rider_api.network.queries import get_stop_detail
from rider_api.state import AppState
from rider_api.web.strings import STRINGS, html_lang, t

__all__ = [
    "COOKIE_MAX_AGE",
    "LANG_COOKIE",
    "TOKEN_COOKIE",
    "choice_value",
    "mark",
    "page_lang",
    "parse_choice",
    "render",
    "render_stop",
    "route_label",
    "safe_next",
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


async def render_stop(
    request: Request,
    *,
    state: AppState,
    session: AsyncSession,
    lang: Lang,
    stop_id: str,
    errors: list[dict[str, str]],
) -> Response:
    """The stop page (pick a route); also where a booking without a valid route returns."""
    detail = await get_stop_detail(session, stop_id)
    if detail is None:
        return render(request, "not_found.html", lang, status_code=404, errors=[])
    options = [
        {
            "value": choice_value(s.route.route_id, s.direction.direction_id),
            "label": route_label(state, s.route.route_id, s.direction.direction_id, lang),
        }
        for s in detail.routes
        if not s.is_last_stop
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
