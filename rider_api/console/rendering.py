"""Rendering of the console's pages: the Jinja2 templates and the helpers they all get."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from broker_config.i18n import other_lang
from broker_config.messages import Lang, Localized
from rider_api.console.i18n import TEXTS
from rider_api.state import AppState

__all__ = ["page_context", "render", "templates"]

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def page_context(request: Request, state: AppState, lang: Lang, **extra: Any) -> dict[str, Any]:
    """What every template may use: texts, formatters and links in the page's language."""
    tz = ZoneInfo(state.settings.service_timezone)

    def t(key: str, **values: object) -> str:
        return TEXTS.t(key, lang, **values)

    def loc(value: Localized | None, fallback: str = "") -> str:
        return value.get(lang) if value is not None else fallback

    def when(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else t("never")

    def dur(seconds: float | None) -> str:
        if seconds is None:
            return ""
        s = int(seconds)
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"

    def url(path: str, **params: object) -> str:
        """``path`` with ``params`` (None left out) and the page's language."""
        query = {k: str(v) for k, v in params.items() if v is not None}
        if lang == "en":
            query["lang"] = "en"
        return f"{path}?{urlencode(query)}" if query else path

    def label(prefix: str, value: str) -> str:
        """The text of ``prefix.value`` (a kind, a reason), or the value itself for one
        the console has no text for yet: a new kind never breaks the board."""
        key = f"{prefix}.{value}"
        return TEXTS.t(key, lang) if key in TEXTS else value

    def num(value: float | None, digits: int = 1) -> str:
        if value is None:
            return "-"
        return str(int(value)) if float(value).is_integer() else f"{value:.{digits}f}"

    return {
        "request": request,
        "lang": lang,
        "other_lang": other_lang(lang),
        "t": t,
        "texts": TEXTS,
        "loc": loc,
        "when": when,
        "dur": dur,
        "url": url,
        "num": num,
        "label": label,
        "path": request.url.path,
        **extra,
    }


def render(
    request: Request, state: AppState, lang: Lang, name: str, *, code: int = 200, **extra: Any
) -> HTMLResponse:
    """The page ``name``, never cached (it shows live data and needs a signed-in operator)."""
    return templates.TemplateResponse(
        request,
        name,
        page_context(request, state, lang, **extra),
        status_code=code,
        headers={"Cache-Control": "no-store"},
    )
