"""The operator console at /ops: sign-in, live board (SSE), service quality, broadcast.

Every page and endpoint here needs an operator token (``Authorization: Bearer`` or the
``bushail_ops_token`` cookie set by /ops/login); a rider token gets 403. Pages without
any token redirect to the sign-in form; data endpoints answer 401.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker_config.i18n import other_lang, pick_lang
from broker_config.messages import Lang, Localized, utcnow
from rider_api.api.deps import OperatorDep, PageOperatorDep, StateDep, operator_digest
from rider_api.console import charts
from rider_api.console.i18n import TEXTS, t
from rider_api.console.live import Snapshot, build_snapshot
from rider_api.console.quality import QualityFigures, QualityReport, compute_quality
from rider_api.console.queries import load_quality_inputs
from rider_api.core.problems import Problem
from rider_api.core.security import OPERATOR_COOKIE
from rider_api.mqtt.announcements import UnknownTargetError, announce, stops_of
from rider_api.state import AppState

__all__ = ["COOKIE", "ConsoleSettings", "router"]

logger = logging.getLogger(__name__)

COOKIE = OPERATOR_COOKIE
HERE = Path(__file__).parent
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
templates = Jinja2Templates(directory=HERE / "templates")

router = APIRouter(prefix="/ops", tags=["operator console"], include_in_schema=False)


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUSHAIL_CONSOLE_")

    #: A device online by the broker's word but silent this long is marked stale.
    heartbeat_s: float = 90.0
    #: How often the live board is recomputed and pushed.
    refresh_s: float = 1.0
    #: Longest period of the quality page.
    max_quality_days: int = 92


def _settings(request: Request) -> ConsoleSettings:
    cached = getattr(request.app.state, "console_settings", None)
    if cached is None:
        cached = request.app.state.console_settings = ConsoleSettings()
    assert isinstance(cached, ConsoleSettings)  # noqa: S101 - set just above
    return cached


SettingsDep = Annotated[ConsoleSettings, Depends(_settings)]


# -- who is calling ----------------------------------------------------------------------


LangQuery = Annotated[Lang | None, Query()]


# -- rendering helpers -------------------------------------------------------------------


def _context(request: Request, state: AppState, lang: Lang, **extra: Any) -> dict[str, Any]:
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

    def url(path: str) -> str:
        return f"{path}?lang=en" if lang == "en" else path

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
        "path": request.url.path,
        **extra,
    }


def _render(
    request: Request, state: AppState, lang: Lang, name: str, code: int = 200, **extra: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        _context(request, state, lang, **extra),
        status_code=code,
        headers={"Cache-Control": "no-store"},
    )


def _fragments(request: Request, state: AppState, lang: Lang, snap: Snapshot) -> dict[str, str]:
    ctx = _context(request, state, lang, snap=snap)
    return {
        part: templates.get_template(f"_{part}.html").render(ctx)
        for part in ("summary", "incidents", "bookings", "devices")
    }


# -- sign-in -----------------------------------------------------------------------------


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    """The console's stylesheet and script (nothing secret; the sign-in page uses them)."""
    if name not in STATIC_FILES:
        raise Problem(404, "No such file.", code="not-found")
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name])


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, state: StateDep, lang: LangQuery = None) -> HTMLResponse:
    return _render(request, state, pick_lang(lang), "login.html", error=None)


@router.post("/login", response_class=HTMLResponse, response_model=None)
async def login(
    request: Request,
    state: StateDep,
    token: Annotated[str, Form(max_length=500)],
    lang: LangQuery = None,
) -> Response:
    lang_ = pick_lang(lang)
    if operator_digest(state, token) is None:
        return _render(request, state, lang_, "login.html", code=403, error=t("login.bad", lang_))
    target = "/ops?lang=en" if lang_ == "en" else "/ops"
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ops",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
async def logout(_op: PageOperatorDep) -> RedirectResponse:
    response = RedirectResponse("/ops/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/ops", httponly=True, samesite="strict")
    return response


# -- live board --------------------------------------------------------------------------


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
    return _render(
        request,
        state,
        lang_,
        "live.html",
        snap=snap,
        fragments=_fragments(request, state, lang_, snap),
    )


_SNAPSHOT = TypeAdapter(Snapshot)


@router.get("/live.json")
async def live_json(_op: OperatorDep, state: StateDep, settings: SettingsDep) -> dict[str, Any]:
    """The live board as data: devices, bookings, offline stops with bookings, incidents."""
    snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
    data: dict[str, Any] = _SNAPSHOT.dump_python(snap, mode="json", by_alias=True)
    data["unacknowledged"] = snap.unacknowledged
    return data


@router.get("/live/events", response_class=StreamingResponse, response_model=None)
async def live_events(
    request: Request,
    _op: OperatorDep,
    state: StateDep,
    settings: SettingsDep,
    lang: LangQuery = None,
) -> StreamingResponse:
    """Server-Sent Events: the board's sections (HTML) whenever they change."""
    lang_ = pick_lang(lang)

    async def stream() -> AsyncIterator[str]:
        last = ""
        n = 0
        while not await request.is_disconnected():
            try:
                snap = await build_snapshot(state, heartbeat_s=settings.heartbeat_s)
                data = json.dumps(_fragments(request, state, lang_, snap), ensure_ascii=False)
            except Exception:
                logger.exception("console snapshot failed")
                data = last
            if data != last:
                last = data
                n += 1
                yield f"event: live\nid: {n}\ndata: {data}\n\n"
            else:
                yield ": keep-alive\n\n"
            await asyncio.sleep(settings.refresh_s)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- service quality ---------------------------------------------------------------------


def _period(
    state: AppState, settings: ConsoleSettings, start: date | None, end: date | None
) -> tuple[date, date, datetime, datetime, ZoneInfo]:
    tz = ZoneInfo(state.settings.service_timezone)
    today = utcnow().astimezone(tz).date()
    end = end or today
    start = start or end - timedelta(days=6)
    if start > end:
        raise Problem(422, "The period starts after it ends.", code="period-reversed")
    if (end - start).days + 1 > settings.max_quality_days:
        raise Problem(
            422,
            f"The period is longer than {settings.max_quality_days} days.",
            code="period-too-long",
        )
    lo = datetime.combine(start, time(), tz)
    hi = datetime.combine(end + timedelta(days=1), time(), tz)
    return start, end, lo, hi, tz


async def _quality(
    state: AppState, settings: ConsoleSettings, start: date | None, end: date | None
) -> tuple[date, date, QualityReport]:
    start, end, lo, hi, tz = _period(state, settings, start, end)
    async with state.sessions() as session:
        bookings, incidents = await load_quality_inputs(session, start=lo, end=hi)
    return start, end, compute_quality(bookings, incidents, tz=tz)


DateQuery = Annotated[date | None, Query()]
FIGURE_FIELDS = (
    "bookings",
    "ended",
    "served",
    "served_share",
    "ack_count",
    "ack_p50_s",
    "ack_p95_s",
    "missed",
    "no_shows",
    "help",
    "unacknowledged",
)


def _figures(f: QualityFigures) -> dict[str, Any]:
    return {name: getattr(f, name) for name in FIGURE_FIELDS}


def _charts(report: QualityReport, lang: Lang) -> list[dict[str, Any]]:
    """The charts of the quality page, each with its table rows."""

    def chart(key: str, key_label: str, bars: list[charts.Bar]) -> dict[str, Any]:
        title = t(key, lang)
        top = max((b.value for b in bars), default=0)
        desc = t("chart.desc", lang, n=len(bars), max=f"{top:g}")
        return {
            "title": title,
            "key_label": key_label,
            "svg": charts.bar_chart(title, desc, bars),
            "rows": [(b.label, f"{b.value:g}") for b in bars],
        }

    day, hour, route, vehicle = (
        t("q.day", lang),
        t("q.hour", lang),
        t("col.route", lang),
        t("col.vehicle", lang),
    )
    by_day = report.by_day.items()
    by_hour = [(f"{h:02d}:00", f) for h, f in report.by_hour.items()]
    share = "q.served_share"
    return [
        chart(
            share,
            day,
            [
                charts.Bar(d, round(100 * f.served_share, 1))
                for d, f in by_day
                if f.served_share is not None
            ],
        ),
        chart(
            "q.ack_p50",
            day,
            [charts.Bar(d, f.ack_p50_s) for d, f in by_day if f.ack_p50_s is not None],
        ),
        chart(
            "q.ack_p95",
            day,
            [charts.Bar(d, f.ack_p95_s) for d, f in by_day if f.ack_p95_s is not None],
        ),
        chart("q.missed", day, [charts.Bar(d, f.missed) for d, f in by_day]),
        chart("q.no_shows", day, [charts.Bar(d, f.no_shows) for d, f in by_day]),
        chart("q.bookings", hour, [charts.Bar(h, f.bookings) for h, f in by_hour]),
        chart("q.missed", hour, [charts.Bar(h, f.missed) for h, f in by_hour]),
        chart(
            "q.missed_by_route",
            route,
            [charts.Bar(k, v) for k, v in report.missed_by_route.items()],
        ),
        chart(
            "q.missed_by_vehicle",
            vehicle,
            [charts.Bar(k, v) for k, v in report.missed_by_vehicle.items()],
        ),
        chart(
            "q.no_shows_by_route",
            route,
            [charts.Bar(k, v) for k, v in report.no_shows_by_route.items()],
        ),
    ]


@router.get("/quality", response_class=HTMLResponse)
async def quality_page(
    request: Request,
    _op: PageOperatorDep,
    state: StateDep,
    settings: SettingsDep,
    start: DateQuery = None,
    end: DateQuery = None,
    lang: LangQuery = None,
) -> HTMLResponse:
    lang_ = pick_lang(lang)
    start_, end_, report = await _quality(state, settings, start, end)
    return _render(
        request,
        state,
        lang_,
        "quality.html",
        start=start_,
        end=end_,
        report=report,
        charts=_charts(report, lang_),
        fields=FIGURE_FIELDS,
    )


@router.get("/quality.json")
async def quality_json(
    _op: OperatorDep,
    state: StateDep,
    settings: SettingsDep,
    start: DateQuery = None,
    end: DateQuery = None,
) -> dict[str, Any]:
    start_, end_, r = await _quality(state, settings, start, end)
    return {
        "start": start_.isoformat(),
        "end": end_.isoformat(),
        "overall": _figures(r.overall),
        "by_day": {k: _figures(v) for k, v in r.by_day.items()},
        "by_hour": {str(k): _figures(v) for k, v in r.by_hour.items()},
        "missed_by_route": r.missed_by_route,
        "missed_by_vehicle": r.missed_by_vehicle,
        "no_shows_by_route": r.no_shows_by_route,
        "no_shows_by_vehicle": r.no_shows_by_vehicle,
    }


def quality_csv_text(report: QualityReport) -> str:
    """One row per scope (overall, each day, each hour) and per route/vehicle count."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["scope", "key", *FIGURE_FIELDS])

    def row(scope: str, key: str, f: QualityFigures) -> None:
        values = _figures(f)
        out.writerow([scope, key, *("" if values[n] is None else values[n] for n in FIGURE_FIELDS)])

    row("overall", "", report.overall)
    for d, f in report.by_day.items():
        row("day", d, f)
    for h, f in report.by_hour.items():
        row("hour", f"{h:02d}", f)
    for scope, counts, column in (
        ("route", report.missed_by_route, "missed"),
        ("vehicle", report.missed_by_vehicle, "missed"),
        ("route", report.no_shows_by_route, "no_shows"),
        ("vehicle", report.no_shows_by_vehicle, "no_shows"),
    ):
        for key, n in counts.items():
            out.writerow([scope, key, *(n if c == column else "" for c in FIGURE_FIELDS)])
    return buf.getvalue()


@router.get("/quality.csv", response_class=Response)
async def quality_csv(
    _op: OperatorDep,
    state: StateDep,
    settings: SettingsDep,
    start: DateQuery = None,
    end: DateQuery = None,
) -> Response:
    start_, end_, report = await _quality(state, settings, start, end)
    name = f"bushail-quality-{start_.isoformat()}-{end_.isoformat()}.csv"
    return Response(
        quality_csv_text(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- broadcast ---------------------------------------------------------------------------


@router.get("/broadcast", response_class=HTMLResponse)
async def broadcast_form(
    request: Request, _op: PageOperatorDep, state: StateDep, lang: LangQuery = None
) -> HTMLResponse:
    return _render(
        request, state, pick_lang(lang), "broadcast.html", form={}, error=None, sent=None
    )


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
    if not text_zh.strip() or not text_en.strip():
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
        return _render(
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
    return _render(
        request,
        state,
        lang_,
        "broadcast.html",
        code=202,
        form={},
        error=None,
        sent=t("broadcast.sent", lang_, n=len(stops)),
    )
