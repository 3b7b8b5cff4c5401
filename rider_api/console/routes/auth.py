"""Operator sign-in and sign-out: /ops/login opens a console session, /ops/logout ends it.

The cookie carries the session's random id, never the operator token (see
``console.sessions``); failed sign-ins are throttled per address and in all (see
``console.throttle``); each sign-in, sign-out and failed sign-in is in the audit log.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broker_config.i18n import pick_lang
from broker_config.messages import Lang
from rider_api.api.deps import StateDep, client_address, operator_digest
from rider_api.api.rate_limits import request_client_key
from rider_api.console.audit import AuditAction, record
from rider_api.console.deps import LangQuery
from rider_api.console.i18n import t
from rider_api.console.rendering import render
from rider_api.console.sessions import Operator, operator_label
from rider_api.console.throttle import Lockout
from rider_api.core.security import OPERATOR_COOKIE, cookie_secure
from rider_api.state import AppState

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()


def _login_page(
    request: Request,
    state: AppState,
    lang: Lang,
    *,
    code: int = 200,
    error: str | None = None,
    locked: bool = False,
) -> HTMLResponse:
    console = state.console
    return render(
        request,
        state,
        lang,
        "login.html",
        code=code,
        error=error,
        locked=locked,
        idle_min=math.ceil(console.session_idle_s / 60),
        absolute_h=math.ceil(console.session_absolute_s / 3600),
    )


def _locked(request: Request, state: AppState, lang: Lang, lockout: Lockout) -> HTMLResponse:
    """429 with ``Retry-After``, and the wait in words on the sign-in page."""
    minutes = math.ceil(lockout.retry_after_s / 60)
    error = t(f"login.locked.{lockout.scope}", lang, n=minutes)
    response = _login_page(request, state, lang, code=429, error=error, locked=True)
    response.headers["Retry-After"] = str(lockout.retry_after_s)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, state: StateDep, lang: LangQuery = None) -> HTMLResponse:
    return _login_page(request, state, pick_lang(lang))


@router.post("/login", response_class=HTMLResponse, response_model=None)
async def login(
    request: Request,
    state: StateDep,
    token: Annotated[str, Form(max_length=500)],
    lang: LangQuery = None,
) -> Response:
    lang_ = pick_lang(lang)
    client = client_address(request)
    # The same key as the other per-client limits: behind the trusted proxies, the
    # forwarded client, not the proxy every rider shares.
    address = request_client_key(request, state.settings)
    throttle = state.login_throttle
    # No await between the check and the count: concurrent guesses cannot slip past it.
    lockout = throttle.lockout(address)
    if lockout is not None:
        # Not a warning: refusals cost nothing, and must not flood the log either.
        logger.debug("console sign-in from %s refused: locked (%s)", address, lockout.scope)
        return _locked(request, state, lang_, lockout)
    digest = operator_digest(state, token)
    if digest is None:
        lockout = throttle.failed(address)
        async with state.unit_of_work() as uow:
            record(uow.session, action=AuditAction.LOGIN_FAILED, operator=None, client=client)
        if lockout is not None:
            logger.warning("console sign-in from %s locked (%s)", address, lockout.scope)
            return _locked(request, state, lang_, lockout)
        return _login_page(request, state, lang_, code=403, error=t("login.bad", lang_))
    throttle.succeeded(address)
    async with state.unit_of_work() as uow:
        previous = request.cookies.get(OPERATOR_COOKIE)
        if previous:
            await state.operator_sessions.revoke(uow, previous)
        session_id = await state.operator_sessions.open(uow, operator_digest=digest)
        operator = Operator(digest=digest, session=None, client=client)
        record(uow.session, action=AuditAction.LOGIN, operator=operator)
    logger.info("console sign-in by %s from %s", operator_label(digest), address)
    target = "/ops?lang=en" if lang_ == "en" else "/ops"
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        OPERATOR_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request.url.scheme, behind_tls_proxy=state.settings.behind_tls_proxy),
        path="/ops",
        max_age=int(state.console.session_absolute_s),
    )
    return response


@router.post("/logout")
async def logout(request: Request, state: StateDep, lang: LangQuery = None) -> RedirectResponse:
    """End the session server-side (a copy of the cookie stops working too) and drop the
    cookie. Without a live session there is nothing to end: the cookie is dropped all
    the same."""
    session_id = request.cookies.get(OPERATOR_COOKIE)
    if session_id:
        async with state.unit_of_work() as uow:
            ended = await state.operator_sessions.revoke(uow, session_id)
            if ended is not None:
                operator = Operator(
                    digest=ended.operator_digest,
                    session=ended.session_hash,
                    client=client_address(request),
                )
                record(uow.session, action=AuditAction.LOGOUT, operator=operator)
    target = "/ops/login?lang=en" if pick_lang(lang) == "en" else "/ops/login"
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(
        OPERATOR_COOKIE,
        path="/ops",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request.url.scheme, behind_tls_proxy=state.settings.behind_tls_proxy),
    )
    return response
