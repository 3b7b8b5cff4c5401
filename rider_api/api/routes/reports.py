"""A rider's reports on a booking: "the bus did not stop" (an incident for the operators)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict

from rider_api.api.deps import CurrentRider, StateDep
from rider_api.reservations.reports import report_bus_did_not_stop

__all__ = ["ReportCreate", "ReportPublic", "router"]

router = APIRouter(prefix="/v1/reservations", tags=["reports"])


class ReportCreate(BaseModel):
    """What the rider reports (one kind so far)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bus_did_not_stop"] = "bus_did_not_stop"


class ReportPublic(BaseModel):
    """The stored report: the operators see it among the console's incidents."""

    id: int
    kind: Literal["bus_did_not_stop"]
    reservation_id: uuid.UUID
    vehicle_id: str | None
    route_id: str | None
    stop_id: str | None
    #: When the booking ended without a pickup (when the bus should have stopped).
    at: datetime


@router.post(
    "/{reservation_id}/reports",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportPublic,
    responses={
        200: {"description": "Already reported: the first report", "model": ReportPublic},
        404: {"description": "Not a booking of yours"},
        409: {"description": "The booking is active or ended with a pickup"},
    },
)
async def report(
    reservation_id: uuid.UUID,
    body: ReportCreate,
    rider: CurrentRider,
    state: StateDep,
    response: Response,
) -> ReportPublic:
    """Tell the operators the bus did not stop for this booking (once; a repeat is 200)."""
    stored = await report_bus_did_not_stop(state, rider=rider, reservation_id=reservation_id)
    if not stored.created:
        response.status_code = status.HTTP_200_OK
    return ReportPublic(
        id=stored.id,
        kind=body.kind,
        reservation_id=stored.reservation_id,
        vehicle_id=stored.vehicle_id,
        route_id=stored.route_id,
        stop_id=stored.stop_id,
        at=stored.at,
    )
