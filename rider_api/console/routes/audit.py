"""GET /ops/audit: the operator audit log, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from broker_config.i18n import pick_lang
from rider_api.api.deps import StateDep
from rider_api.console.audit import audit_page
from rider_api.console.deps import ConsolePageOperator, LangQuery, SettingsDep
from rider_api.console.rendering import render

__all__ = ["router"]

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    _op: ConsolePageOperator,
    state: StateDep,
    settings: SettingsDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    lang: LangQuery = None,
) -> HTMLResponse:
    """Sign-ins, sign-outs, failed sign-ins, broadcasts, cancellations, device changes."""
    async with state.sessions() as session:
        log = await audit_page(session, page=page, size=settings.audit_page_size)
    return render(request, state, pick_lang(lang), "audit.html", log=log)
