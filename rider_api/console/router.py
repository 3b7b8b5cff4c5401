"""The operator console's one router: every page under ``/ops``, none in the API schema.

Every page and endpoint needs an operator: ``Authorization: Bearer <operator token>``, or
the console session whose id /ops/login puts in the ``bushail_ops_token`` cookie (never
the token itself), except sign-in and the static files; a rider token gets 403 and the
rider app's cookie is never read. Pages without a credential, or with a session that has
ended, redirect to the sign-in form; data endpoints answer 401.
"""

from __future__ import annotations

from fastapi import APIRouter

from rider_api.console.routes import (
    audit,
    auth,
    bookings,
    broadcast,
    devices,
    live,
    quality,
    report,
    static,
)

__all__ = ["router"]

router = APIRouter()
for _page in (static, auth, live, quality, report, broadcast, bookings, devices, audit):
    router.include_router(
        _page.router, prefix="/ops", tags=["operator console"], include_in_schema=False
    )
