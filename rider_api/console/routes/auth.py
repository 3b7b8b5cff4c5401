"""Operator sign-in and sign-out: /ops/login sets the console's cookie, /ops/logout drops it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broker_config.i18n import pick_lang
from rider_api.api.deps import PageOperatorDep, StateDep, operator_digest
from rider_api.console.deps import LangQuery
from rider_api.console.i18n import t
from rider_api.console.rendering import render
from rider_api.core.security import OPERATOR_COOKIE

__all__ = ["router"]

router = APIRouter()
#: How long a sign-in lasts (one long shift).
COOKIE_MAX_AGE_S = 12 * 3600


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, state: StateDep, lang: LangQuery = None) -> HTMLResponse:
    return render(request, state, pick_lang(lang), "login.html", error=None)


@router.post("/login", response_class=HTMLResponse, response_model=None)
async def login(
    request: Request,
    state: StateDep,
    token: Annotated[str, Form(max_length=500)],
    lang: LangQuery = None,
) -> Response:
    lang_ = pick_lang(lang)
    if operator_digest(state, token) is None:
        return render(request, state, lang_, "login.html", code=403, error=t("login.bad", lang_))
    target = "/ops?lang=en" if lang_ == "en" else "/ops"
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        OPERATOR_COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ops",
        max_age=COOKIE_MAX_AGE_S,
    )
    return response


@router.post("/logout")
async def logout(_op: PageOperatorDep) -> RedirectResponse:
    response = RedirectResponse("/ops/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(OPERATOR_COOKIE, path="/ops", httponly=True, samesite="strict")
    return response
