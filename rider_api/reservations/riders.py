"""Rider accounts: signing up without a password (WCAG 3.3.8)."""

from __future__ import annotations

import uuid

from broker_config.messages import Lang, utcnow
from rider_api.core.security import hash_token, new_rider_token
from rider_api.models import Rider
from rider_api.models.schemas import RiderCreate, RiderCreated
from rider_api.state import AppState

__all__ = ["set_language", "sign_up"]


async def sign_up(state: AppState, *, body: RiderCreate) -> RiderCreated:
    """Create a rider; the token is returned once and only its hash is stored."""
    token = new_rider_token()
    digest = hash_token(token)
    rider = Rider(
        id=uuid.uuid4(),
        display_name=body.display_name,
        language=body.language,
        token_hash=digest,
        created_at=utcnow(),
    )
    async with state.unit_of_work() as uow:
        uow.session.add(rider)
    # A new rider books next, as a rule: no query to find them by their token then.
    state.riders.put(digest, rider)
    return RiderCreated(
        rider_id=rider.id, token=token, display_name=rider.display_name, language=body.language
    )


async def set_language(state: AppState, *, rider: Rider, lang: Lang) -> None:
    """The rider's language: the app's, and the one the stop speaks first."""
    if rider.language == lang:
        return
    async with state.unit_of_work() as uow:
        stored = await uow.session.get(Rider, rider.id)
        if stored is not None:
            stored.language = lang
            uow.session.add(stored)
    # The same object is cached by token hash: keep it in step.
    rider.language = lang
