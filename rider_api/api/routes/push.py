"""Web Push for riders: the server's key, and each browser's subscription.

The same endpoints serve programs with ``Authorization: Bearer <token>`` and the rider
web app's script with the rider cookie (``CurrentRider`` reads either); state changes
from a page pass the Origin check of ``core.web_security`` as same-origin fetches.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from rider_api.api.deps import CurrentRider, SessionDep, StateDep
from rider_api.core.problems import Problem
from rider_api.models.push import (
    PushKeyPublic,
    PushSubscriptionCreate,
    PushSubscriptionDelete,
    PushSubscriptionPublic,
)
from rider_api.push.service import WebPush
from rider_api.push.subscriptions import (
    list_subscriptions,
    remove_subscription,
    save_subscription,
)
from rider_api.state import AppState

__all__ = ["router"]

router = APIRouter(prefix="/v1/push", tags=["push"])


def _push(state: AppState) -> WebPush:
    if state.push is None:
        raise Problem(404, "This server does not send notifications.", code="push-disabled")
    return state.push


@router.get("/key", response_model=PushKeyPublic)
async def key(state: StateDep, _rider: CurrentRider) -> PushKeyPublic:
    """The VAPID public key (base64url): ``applicationServerKey`` for
    ``PushManager.subscribe``."""
    return PushKeyPublic(public_key=_push(state).public_key)


@router.get("/subscriptions", response_model=list[PushSubscriptionPublic])
async def subscriptions(
    state: StateDep, rider: CurrentRider, session: SessionDep
) -> list[PushSubscriptionPublic]:
    """This rider's subscribed browsers."""
    _push(state)
    return [
        PushSubscriptionPublic(
            endpoint=s.endpoint, created_at=s.created_at, updated_at=s.updated_at
        )
        for s in await list_subscriptions(session, rider=rider)
    ]


@router.post(
    "/subscriptions", status_code=status.HTTP_201_CREATED, response_model=PushSubscriptionPublic
)
async def subscribe(
    body: PushSubscriptionCreate, state: StateDep, rider: CurrentRider
) -> PushSubscriptionPublic:
    """Store the browser's PushSubscription JSON (``{endpoint, keys: {p256dh, auth}}``).

    Posting the same endpoint again updates it. 422 for an endpoint that is not a push
    service's https URL or keys that are not a browser's."""
    push = _push(state)
    row = await save_subscription(
        state.unit_of_work, settings=state.settings, rider=rider, body=body
    )
    push.sender.subscribed(rider.id)
    return PushSubscriptionPublic(
        endpoint=row.endpoint, created_at=row.created_at, updated_at=row.updated_at
    )


@router.delete("/subscriptions", status_code=status.HTTP_204_NO_CONTENT)
async def unsubscribe(
    body: PushSubscriptionDelete, state: StateDep, rider: CurrentRider
) -> Response:
    """Stop notifying this browser (``{endpoint}``). 204 whether or not it was stored."""
    _push(state)
    await remove_subscription(state.unit_of_work, rider=rider, endpoint=body.endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
