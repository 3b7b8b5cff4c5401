"""POST /v1/riders: a rider account without a password (WCAG 3.3.8)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, status

from rider_api.api.deps import StateDep, hash_token
from rider_api.models import Rider
from rider_api.models.schemas import RiderCreate, RiderCreated

router = APIRouter(prefix="/v1/riders", tags=["riders"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RiderCreated)
async def create_rider(body: RiderCreate, state: StateDep) -> RiderCreated:
    """Create a rider; the bearer token is shown once and kept on the rider's device."""
    token = "bh_" + secrets.token_urlsafe(32)
    rider = Rider(
        display_name=body.display_name, language=body.language, token_hash=hash_token(token)
    )
    async with state.unit_of_work() as uow:
        uow.session.add(rider)
    return RiderCreated(
        rider_id=rider.id, token=token, display_name=rider.display_name, language=body.language
    )
