"""POST /ops/bookings/{id}/cancel: an operator cancels a booking at risk from the board.

The cancellation and its audit row commit together (as DELETE /v1/ops/reservations/{id});
the board then shows it gone, or says why it could not be cancelled.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broker_config.i18n import pick_lang
from rider_api.api.deps import StateDep
from rider_api.console.audit import AuditAction, record
from rider_api.console.deps import ConsolePageOperator, LangQuery
from rider_api.console.i18n import t
from rider_api.console.rendering import render
from rider_api.core.problems import Problem
from rider_api.reservations.booking import cancel

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()
CAUSE = "cancelled by operator"


@router.post("/bookings/{reservation_id}/cancel", response_class=HTMLResponse, response_model=None)
async def cancel_booking(
    request: Request,
    reservation_id: uuid.UUID,
    op: ConsolePageOperator,
    state: StateDep,
    lang: LangQuery = None,
) -> Response:
    lang_ = pick_lang(lang)
    try:
        async with state.unit_of_work() as uow:
            await cancel(state, uow, reservation_id=reservation_id, rider=None, cause=CAUSE)
            record(
                uow.session,
                action=AuditAction.CANCEL,
                operator=op,
                target=f"reservation:{reservation_id}",
                detail=CAUSE,
            )
    except Problem as exc:
        logger.info("console cancel of %s refused: %s", reservation_id, exc)
        return render(
            request,
            state,
            lang_,
            "message.html",
            code=exc.status if 400 <= exc.status < 500 else 409,
            title=t("risk.cancel", lang_),
            error=t("risk.cancel_failed", lang_),
        )
    logger.info("booking %s cancelled from the console by %s", reservation_id, op.label)
    target = "/ops?lang=en" if lang_ == "en" else "/ops"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
