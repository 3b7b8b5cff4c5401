"""Rendering helpers of the rider web app: the page language, texts, mixed-language spans."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from broker_config.i18n import LANGS, other_lang, pick_lang
from broker_config.messages import Lang, Localized
from rider_api.models import Rider
from rider_api.web.strings import STRINGS, html_lang, t

__all__ = ["LANG_COOKIE", "TOKEN_COOKIE", "mark", "page_lang", "render", "safe_next", "text"]

TOKEN_COOKIE = "bushail_token"  # noqa: S105 - the cookie's name, not a secret
LANG_COOKIE = "bushail_lang"
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
