"""POST /language: switch the app's language (and the signed-in rider's), then go back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from broker_config.i18n import pick_lang
from rider_api.api.deps import StateDep
from rider_api.core.security import cookie_secure
from rider_api.reservations.riders import set_language
from rider_api.web.deps import OptionalRider
from rider_api.web.views import COOKIE_MAX_AGE, LANG_COOKIE, safe_next

__all__ = ["router"]

router = APIRouter()


@router.post("/language")
async def switch_language(
    request: Request,
    rider: OptionalRider,
    state: StateDep,
    language: Annotated[str, Form()],
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    lang = pick_lang(language)
    if rider is not None:
        await set_language(state, rider=rider, lang=lang)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=COOKIE_MAX_AGE,
        samesite="lax",
        secure=cookie_secure(request.url.scheme, behind_tls_proxy=state.settings.behind_tls_proxy),
    )
    return response
