"""POST /v1/riders: a rider account without a password (WCAG 3.3.8)."""

from __future__ import annotations

from fastapi import APIRouter, status

from rider_api.api.deps import StateDep
from rider_api.api.rate_limits import SignUpLimit
from rider_api.models.schemas import RiderCreate, RiderCreated
from rider_api.reservations.riders import sign_up

router = APIRouter(prefix="/v1/riders", tags=["riders"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RiderCreated,
    dependencies=[SignUpLimit],
)
async def create_rider(body: RiderCreate, state: StateDep) -> RiderCreated:
    """Create a rider; the bearer token is shown once and kept on the rider's device."""
    return await sign_up(state, body=body)
