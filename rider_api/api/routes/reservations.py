"""Reservations of the signed-in rider, and their live event stream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlmodel import col, select

from rider_api.api.deps import CurrentRider, SessionDep, StateDep
from rider_api.core.problems import Problem
from rider_api.models import Reservation
from rider_api.models.schemas import ReservationCreate, ReservationPublic
from rider_api.reservations.booking import (
    cancel_reservation,
    create_reservation,
    get_owned,
    to_public,
)
from rider_api.reservations.lifecycle import ACTIVE_STATUSES

router = APIRouter(prefix="/v1/reservations", tags=["reservations"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Per rider, kept 24 h: a replay answers with the same reservation.",
    ),
]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReservationPublic)
async def book(
    body: ReservationCreate,
    rider: CurrentRider,
    state: StateDep,
    idempotency_key: IdempotencyKey = None,
) -> ReservationPublic:
    """Book a pickup: the stop is told at once, the next bus's driver when one is assigned."""
    if idempotency_key is not None and not idempotency_key.strip():
        raise Problem(422, "Idempotency-Key must not be empty.", code="idempotency-key-empty")
    booked = await create_reservation(
        state, rider=rider, body=body, idempotency_key=idempotency_key
    )
    if booked.public is not None:
        return booked.public
    # A replay: read the first booking back (a new booking needs no session at all).
    async with state.sessions() as session:
        return await to_public(state, session, await get_owned(session, rider, booked.id))


@router.get("", response_model=list[ReservationPublic])
async def list_mine(
    rider: CurrentRider,
    state: StateDep,
    session: SessionDep,
    active: Annotated[bool | None, Query(description="Only active (true) or ended (false)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ReservationPublic]:
    query = select(Reservation).where(col(Reservation.rider_id) == rider.id)
    active_values = [s.value for s in ACTIVE_STATUSES]
    if active is True:
        query = query.where(col(Reservation.status).in_(active_values))
    elif active is False:
        query = query.where(col(Reservation.status).not_in(active_values))
    rows = (
        await session.exec(query.order_by(col(Reservation.created_at).desc()).limit(limit))
    ).all()
    return [await to_public(state, session, r) for r in rows]


@router.get("/{reservation_id}", response_model=ReservationPublic)
async def get_one(
    reservation_id: uuid.UUID, rider: CurrentRider, state: StateDep, session: SessionDep
) -> ReservationPublic:
    return await to_public(state, session, await get_owned(session, rider, reservation_id))


@router.delete("/{reservation_id}", response_model=ReservationPublic)
async def cancel(
    reservation_id: uuid.UUID, rider: CurrentRider, state: StateDep, session: SessionDep
) -> ReservationPublic:
    await cancel_reservation(
        state, reservation_id=reservation_id, rider=rider, cause="cancelled by rider"
    )
    return await to_public(state, session, await get_owned(session, rider, reservation_id))


async def _owned_id(reservation_id: uuid.UUID, rider: CurrentRider, state: StateDep) -> uuid.UUID:
    # Checked before the stream starts, so a stranger gets a 404, not an empty stream.
    async with state.sessions() as session:
        await get_owned(session, rider, reservation_id)
    return reservation_id


OwnedReservationId = Annotated[uuid.UUID, Depends(_owned_id)]


@router.get(
    "/{reservation_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    reservation_id: OwnedReservationId, rider: CurrentRider, state: StateDep
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: the reservation now, then each time it changes, until it ends.

    FastAPI sends a keep-alive comment when nothing was sent for 15 s and stops the
    stream as soon as the client goes away.
    """
    async with state.notifier.listen(reservation_id) as queue:
        last = ""
        while True:
            # A short session per read: one held for the stream's life would drain the
            # pool with a few dozen open streams.
            async with state.sessions() as session:
                res = await get_owned(session, rider, reservation_id)
                public = await to_public(state, session, res)
            data = public.model_dump_json()
            if data != last:
                last = data
                yield ServerSentEvent(raw_data=data, event="reservation", id=str(res.seq))
            if res.status.is_final:
                return
            await queue.get()
