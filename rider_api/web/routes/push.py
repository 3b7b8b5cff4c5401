"""GET /sw.js: the service worker, at the root so that its scope is the whole app (the
opt-in's script, push.js, is served with the other static files).

The web app's script calls the JSON API under /v1/push with the rider cookie
(``api.routes.push``); nothing else is needed here.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["router"]

router = APIRouter()
STATIC_DIR = Path(__file__).parents[1] / "static"
_JS = "text/javascript; charset=utf-8"


@router.get("/sw.js")
async def service_worker() -> FileResponse:
    # no-cache: the browser checks for a new worker at every registration.
    return FileResponse(
        STATIC_DIR / "sw.js",
        media_type=_JS,
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
