"""The daily report: the page (GET /ops/report?date=YYYY-MM-DD) and its CSV
(GET /ops/report.csv?date=...): served, missed with reasons, no-shows, riders' reports
and acknowledgement times per route and per driver (see ``console.daily``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from broker_config.i18n import pick_lang
from broker_config.messages import utcnow
from rider_api.api.deps import OperatorDep, StateDep
from rider_api.console.daily import DAILY_FIELDS, DailyReport, compute_daily, daily_csv_text
from rider_api.console.deps import ConsolePageOperator, LangQuery
from rider_api.console.queries import load_quality_inputs
from rider_api.console.rendering import render
from rider_api.state import AppState

__all__ = ["router"]

router = APIRouter()
# ``date`` as the query's name: /ops/report?date=2026-12-02.
DayQuery = Annotated[date | None, Query(alias="date")]


async def _report(state: AppState, day: date | None) -> DailyReport:
    tz = ZoneInfo(state.settings.service_timezone)
    day = day or utcnow().astimezone(tz).date()
    lo = datetime.combine(day, time(), tz)
    hi = datetime.combine(day + timedelta(days=1), time(), tz)
    async with state.sessions() as session:
        bookings, incidents = await load_quality_inputs(session, start=lo, end=hi)
    return compute_daily(day.isoformat(), bookings, incidents)


@router.get("/report", response_class=HTMLResponse)
async def report_page(
    request: Request,
    _op: ConsolePageOperator,
    state: StateDep,
    day: DayQuery = None,
    lang: LangQuery = None,
) -> HTMLResponse:
    report = await _report(state, day)
    return render(
        request, state, pick_lang(lang), "report.html", report=report, fields=DAILY_FIELDS
    )


@router.get("/report.csv", response_class=Response)
async def report_csv(_op: OperatorDep, state: StateDep, day: DayQuery = None) -> Response:
    report = await _report(state, day)
    return Response(
        daily_csv_text(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="bushail-day-{report.day}.csv"'},
    )
