"""Service quality for a period: the page (GET /ops/quality), its JSON and its CSV export."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from broker_config.i18n import pick_lang
from broker_config.messages import Lang, utcnow
from rider_api.api.deps import OperatorDep, StateDep
from rider_api.console import charts
from rider_api.console.deps import ConsolePageOperator, LangQuery, SettingsDep
from rider_api.console.i18n import t
from rider_api.console.quality import (
    FIGURE_FIELDS,
    QualityReport,
    compute_quality,
    figure_values,
    quality_csv_text,
)
from rider_api.console.queries import load_quality_inputs
from rider_api.console.rendering import render
from rider_api.core.problems import Problem
from rider_api.settings import ConsoleSettings
from rider_api.state import AppState

__all__ = ["router"]

router = APIRouter()
DateQuery = Annotated[date | None, Query()]


def _period(
    state: AppState, settings: ConsoleSettings, start: date | None, end: date | None
) -> tuple[date, date, datetime, datetime, ZoneInfo]:
    """The asked-for days (default: the last seven), and their bounds in local time."""
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
    _op: ConsolePageOperator,
    state: StateDep,
    settings: SettingsDep,
    start: DateQuery = None,
    end: DateQuery = None,
    lang: LangQuery = None,
) -> HTMLResponse:
    lang_ = pick_lang(lang)
    start_, end_, report = await _quality(state, settings, start, end)
    return render(
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
        "overall": figure_values(r.overall),
        "by_day": {k: figure_values(v) for k, v in r.by_day.items()},
        "by_hour": {str(k): figure_values(v) for k, v in r.by_hour.items()},
        "missed_by_route": r.missed_by_route,
        "missed_by_vehicle": r.missed_by_vehicle,
        "no_shows_by_route": r.no_shows_by_route,
        "no_shows_by_vehicle": r.no_shows_by_vehicle,
    }


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
