"""GET /static/{name}: the web app's stylesheet and script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from rider_api.core.problems import Problem

__all__ = ["router"]

router = APIRouter()
STATIC_DIR = Path(__file__).parents[1] / "static"
STATIC_FILES = {
    "app.css": "text/css",
    "app.js": "text/javascript",
    "push.js": "text/javascript",
    "voice.js": "text/javascript",
}


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise Problem(404, "No such file.", code="not-found")
    return FileResponse(
        STATIC_DIR / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
    )
