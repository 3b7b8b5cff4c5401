"""POST /start: sign up with a name and a language; the token goes into a cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from broker_config.i18n import pick_lang
from rider_api.api.deps import StateDep
from rider_api.core.plain_text import control_character_at
from rider_api.core.security import cookie_secure
from rider_api.models.schemas import RiderCreate
from rider_api.reservations.riders import sign_up
from rider_api.web.rate_limits import SignUpPageLimit
from rider_api.web.strings import t
from rider_api.web.views import COOKIE_MAX_AGE, LANG_COOKIE, TOKEN_COOKIE, render

__all__ = ["router"]

router = APIRouter()


@router.post("/start", dependencies=[SignUpPageLimit])
async def start(
    request: Request,
    state: StateDep,
    display_name: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "zh-TW",
) -> Response:
    lang = pick_lang(language)
    name = display_name.strip()
    if not name or control_character_at(name) is not None:
        key = "err_name" if not name else "err_plain_text"
        errors = [{"field": "display_name", "text": t(key, lang)}]
        return render(request, "start.html", lang, status_code=422, errors=errors, name="")
    created = await sign_up(state, body=RiderCreate(display_name=name[:80], language=lang))
    response = RedirectResponse("/", status_code=303)
    secure = cookie_secure(request.url.scheme, behind_tls_proxy=state.settings.behind_tls_proxy)
    response.set_cookie(
        TOKEN_COOKIE,
        created.token,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    response.set_cookie(LANG_COOKIE, lang, max_age=COOKIE_MAX_AGE, samesite="lax", secure=secure)
    return response
