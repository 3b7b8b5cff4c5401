"""FastAPI dependencies of the console pages: its settings, the ``lang`` query and the
page operator check that keeps the page's language through the sign-in.

Who is calling is checked with ``OperatorDep`` from :mod:`rider_api.api.deps` (one
operator check for the API and the console); ``ConsolePageOperator`` is that check for
pages, whose redirect to the sign-in form keeps ``?lang=en``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from broker_config.i18n import pick_lang
from broker_config.messages import Lang
from rider_api.api.deps import StateDep, page_operator
from rider_api.console.sessions import Operator
from rider_api.settings import ConsoleSettings

__all__ = ["ConsolePageOperator", "LangQuery", "SettingsDep", "console_settings"]


def console_settings(state: StateDep) -> ConsoleSettings:
    """The console's settings, built with the application."""
    return state.console


SettingsDep = Annotated[ConsoleSettings, Depends(console_settings)]
#: ``?lang=en`` shows a page in English; without it, zh-TW.
LangQuery = Annotated[Lang | None, Query()]


async def console_page_operator(request: Request, state: StateDep) -> Operator:
    """The operator of a console page; without one, the sign-in form in the page's
    language (``/ops?lang=en`` leads to the English form, which leads back in English)."""
    try:
        return await page_operator(request, state)
    except HTTPException as exc:
        location = (exc.headers or {}).get("Location")
        if location is None or pick_lang(request.query_params.get("lang")) != "en":
            raise
        raise HTTPException(exc.status_code, headers={"Location": f"{location}?lang=en"}) from None


ConsolePageOperator = Annotated[Operator, Depends(console_page_operator)]
