"""The rider web app's one router: plain forms with POST and redirect; a script adds live
updates, the nearest-stop button and the microphone (progressive enhancement)."""

from __future__ import annotations

from fastapi import APIRouter

from rider_api.web.routes import (
    book,
    find,
    home,
    language,
    push,
    start,
    static,
    stop,
    trip,
    voice,
)

__all__ = ["router"]

router = APIRouter()
# push first: its /static/push.js comes before the generic /static/{name}.
for _page in (push, static, home, start, language, find, stop, book, trip, voice):
    router.include_router(_page.router, include_in_schema=False)
