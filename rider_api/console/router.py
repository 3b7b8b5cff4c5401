"""The operator console's one router: every page under ``/ops``, none in the API schema.

Every page and endpoint needs an operator token (``Authorization: Bearer`` or the
``bushail_ops_token`` cookie set by /ops/login), except sign-in and the static files; a
rider token gets 403. Pages without any token redirect to the sign-in form; data
endpoints answer 401.
"""

from __future__ import annotations

from fastapi import APIRouter

from rider_api.console.routes import auth, broadcast, live, quality, static

__all__ = ["router"]

router = APIRouter()
for _page in (static, auth, live, quality, broadcast):
    router.include_router(
        _page.router, prefix="/ops", tags=["operator console"], include_in_schema=False
    )
