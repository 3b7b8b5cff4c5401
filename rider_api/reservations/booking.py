"""Create, read and cancel reservations, with the contract's checks and limits."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from sqlalchemy import bindparam, or_
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import ReservationStatus, utcnow
from rider_api.core.driver_sql import DriverSelect
from rider_api.core.problems import Problem
from rider_api.db.unit_of_work import UnitOfWork
from rider_api.models import IdempotencyRecord, Reservation, ReservationEvent, Rider
from rider_api.models.reservations import needs_column, needs_from_column
from rider_api.models.schemas import HistoryItem, ReservationCreate, ReservationPublic
from rider_api.reservations.lifecycle import ACTIVE_STATUSES, Trigger
from rider_api.state import AppState

__all__ = [
    "Booked",
    "HistoryRow",
    "book",
    "cancel",
    "cancel_reservation",
    "create_reservation",
    "get_owned",
    "public_of",
    "to_public",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Booked:
    """A booking's id, and its view when this call created it."""

    id: uuid.UUID
    public: ReservationPublic | None


class HistoryRow(Protocol):
    """A history row: stored (``ReservationEvent``) or just written (``HistoryEntry``)."""

    @property
    def status(self) -> ReservationStatus: ...
    @property
    def at(self) -> datetime: ...
    @property
    def cause(self) -> str: ...


#: The rider's active bookings and those of the last minute, for both limits: the
#: columns the checks read, run on the driver (see ``core.driver_sql``).
_LIMITS_QUERY: Final = core_select(
    col(Reservation.id),
    col(Reservation.status),
    col(Reservation.stop_id),
    col(Reservation.route_id),
    col(Reservation.created_at),
).where(
    col(Reservation.rider_id) == bindparam("rider_id", None, required=False),
    or_(
        col(Reservation.status).in_([s.value for s in ACTIVE_STATUSES]),
        col(Reservation.created_at) >= bindparam("since", None, required=False),
    ),
)
_LIMITS: Final = DriverSelect(_LIMITS_QUERY)


def _request_hash(body: ReservationCreate) -> str:
    # A body without needs hashes as it did before the field existed (keys kept 24 h
    # across an upgrade still replay).
    dumped = body.model_dump_json(exclude=None if body.needs else {"needs"})
    return hashlib.sha256(dumped.encode()).hexdigest()


def _validate_against_network(state: AppState, body: ReservationCreate) -> None:
    network = state.network
    if body.stop_id not in network.stops:
        raise Problem(
            404,
            f"There is no stop with id '{body.stop_id}'. Find stops with GET /v1/stops?q=name.",
            code="stop-not-found",
        )
    if body.route_id not in network.routes:
        raise Problem(
            404,
            f"There is no route with id '{body.route_id}'. See GET /v1/routes.",
            code="route-not-found",
        )
    direction = network.direction(body.route_id, body.direction_id)
    if direction is None or body.stop_id not in direction.positions:
        raise Problem(
            422,
            f"Route {network.routes[body.route_id].short_name} does not stop at "
            f"'{body.stop_id}' in direction {body.direction_id}. "
            f"See GET /v1/stops/{body.stop_id} for the routes serving it.",
            code="route-does-not-serve-stop",
        )
    if body.destination_stop_id is not None:
        if body.destination_stop_id not in network.stops:
            raise Problem(
                404,
                f"There is no stop with id '{body.destination_stop_id}' (destination).",
                code="destination-not-found",
            )
        dest_pos = direction.positions.get(body.destination_stop_id)
        if dest_pos is None or dest_pos <= direction.positions[body.stop_id]:
            raise Problem(
                422,
                "The destination must be a later stop of the same route and direction.",
                code="destination-not-after-stop",
            )


async def _check_limits(
    state: AppState, uow: UnitOfWork, rider: Rider, body: ReservationCreate
) -> None:
    settings = state.settings
    since = utcnow() - timedelta(minutes=1)
    rows = await _LIMITS.all(await uow.driver(), {"rider_id": rider.id, "since": since})
    # (id, status, stop_id, route_id, created_at)
    active = [r for r in rows if r[1] in ACTIVE_STATUSES]
    for res_id, _status, stop_id, route_id, _created in active:
        if stop_id == body.stop_id and route_id == body.route_id:
            raise Problem(
                409,
                "You already have an active booking for this route at this stop. "
                "Follow it, or cancel it before booking again.",
                code="duplicate-active-reservation",
                reservation_id=str(res_id),
            )
    if len(active) >= settings.max_active_reservations_per_rider:
        raise Problem(
            429,
            f"You can have at most {settings.max_active_reservations_per_rider} active "
            "bookings. Cancel one you no longer need, then book again.",
            code="too-many-active-reservations",
            headers={"Retry-After": "60"},
        )
    recent = sum(1 for r in rows if r[4] >= since)
    if recent >= settings.max_bookings_per_minute_per_rider:
        raise Problem(
            429,
            "Too many bookings in one minute. Please wait a minute and try again.",
            code="booking-rate-limited",
            headers={"Retry-After": "60"},
        )


async def create_reservation(
    state: AppState,
    *,
    rider: Rider,
    body: ReservationCreate,
    idempotency_key: str | None = None,
    source: str = "app",
    cause: str = "booked by rider",
) -> Booked:
    """Store a new pending reservation (and its first StopCall), assigned at once if a
    bus is approaching.

    A replayed ``Idempotency-Key`` with the same body returns the first reservation's id
    (``public`` is then None: read it back).
    """
    _validate_against_network(state, body)
    try:
        async with state.unit_of_work() as uow:
            booked = await book(
                state,
                uow,
                rider=rider,
                body=body,
                idempotency_key=idempotency_key,
                source=source,
                cause=cause,
            )
        return booked
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        if idempotency_key is None:
            raise
        async with state.sessions() as session:
            replay = await _idempotent_replay(
                state, session, rider, idempotency_key, _request_hash(body)
            )
        if replay is None:
            raise
        return Booked(replay, None)


async def book(
    state: AppState,
    uow: UnitOfWork,
    *,
    rider: Rider,
    body: ReservationCreate,
    idempotency_key: str | None,
    source: str,
    cause: str,
) -> Booked:
    """``create_reservation`` inside the caller's unit of work (raises ``Problem``)."""
    _validate_against_network(state, body)
    body_hash = ""
    if idempotency_key is not None:
        body_hash = _request_hash(body)
        existing = await _idempotent_replay(state, uow.session, rider, idempotency_key, body_hash)
        if existing is not None:
            return Booked(existing, None)
    await _check_limits(state, uow, rider, body)
    now = utcnow()
    res = Reservation(
        # Given, not defaulted: pydantic inspects a default factory's signature on each
        # call, and that was a tenth of a booking's time.
        id=uuid.uuid4(),
        rider_id=rider.id,
        stop_id=body.stop_id,
        route_id=body.route_id,
        direction_id=body.direction_id,
        destination_stop_id=body.destination_stop_id,
        note=body.note or None,
        needs=needs_column(body.needs or ()),
        rider_lang=rider.language,
        source=source,
        created_at=now,
        updated_at=now,
        status_since=now,
        expires_at=now + timedelta(seconds=state.settings.reservation_lifetime_s),
    )
    state.changes.record_created(uow, res, cause)
    if idempotency_key is not None:
        # The record refers to the reservation: written after it.
        uow.add_after_created(
            IdempotencyRecord(
                rider_id=rider.id,
                key=idempotency_key,
                request_hash=body_hash,
                reservation_id=res.id,
            )
        )
    await state.dispatcher.try_assign(uow, res)
    # Built from what this transaction wrote: no read-back after commit.
    return Booked(res.id, public_of(state, res, uow.changes.events.get(res.id, [])))


async def _idempotent_replay(
    state: AppState, session: AsyncSession, rider: Rider, key: str, body_hash: str
) -> uuid.UUID | None:
    record = (
        await session.exec(
            select(IdempotencyRecord).where(
                col(IdempotencyRecord.rider_id) == rider.id, col(IdempotencyRecord.key) == key
            )
        )
    ).first()
    if record is None:
        return None
    if record.created_at < utcnow() - timedelta(seconds=state.settings.idempotency_ttl_s):
        await session.delete(record)
        await session.flush()
        return None
    if record.request_hash != body_hash:
        raise Problem(
            422,
            "This Idempotency-Key was already used for a different booking. "
            "Use a new key for a new booking.",
            code="idempotency-key-reused",
        )
    return record.reservation_id


async def get_owned(
    session: AsyncSession,
    rider: Rider | None,
    reservation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Reservation:
    """The reservation if ``rider`` owns it (operators pass None); 404 otherwise.

    ``for_update`` locks its row until the transaction ends: a change must, or it races
    with the dispatcher (which locks) and both write the same ``seq``.
    """
    res = await session.get(Reservation, reservation_id, with_for_update=for_update)
    if res is None or (rider is not None and res.rider_id != rider.id):
        raise Problem(
            404, f"There is no booking {reservation_id} of yours.", code="reservation-not-found"
        )
    return res


async def cancel_reservation(
    state: AppState, *, reservation_id: uuid.UUID, rider: Rider | None, cause: str
) -> None:
    """Cancel a reservation of ``rider`` (an operator or a stop's button: None)."""
    async with state.unit_of_work() as uow:
        await cancel(state, uow, reservation_id=reservation_id, rider=rider, cause=cause)


async def cancel(
    state: AppState,
    uow: UnitOfWork,
    *,
    reservation_id: uuid.UUID,
    rider: Rider | None,
    cause: str,
) -> None:
    """``cancel_reservation`` inside the caller's unit of work (raises ``Problem``)."""
    res = await get_owned(uow.session, rider, reservation_id, for_update=True)
    if res.status.is_final:
        raise Problem(
            409,
            f"This booking is already {res.status.value.replace('_', ' ')} and cannot be "
            "cancelled.",
            code="reservation-final",
            current_status=res.status.value,
        )
    state.changes.apply(uow, res, Trigger.CANCEL, cause)


async def to_public(state: AppState, session: AsyncSession, res: Reservation) -> ReservationPublic:
    events = (
        await session.exec(
            select(ReservationEvent)
            .where(col(ReservationEvent.reservation_id) == res.id)
            .order_by(col(ReservationEvent.id))
        )
    ).all()
    return public_of(state, res, events)


def public_of(state: AppState, res: Reservation, events: Sequence[HistoryRow]) -> ReservationPublic:
    """The API view of a reservation and its history rows."""
    network = state.network
    stop = network.stops.get(res.stop_id)
    dest = network.stops.get(res.destination_stop_id) if res.destination_stop_id else None
    route = network.routes.get(res.route_id)
    direction = network.direction(res.route_id, res.direction_id)
    gateway_online = None
    if res.status in ACTIVE_STATUSES:
        gateway_online = state.devices.stop_online(res.stop_id)
    return ReservationPublic(
        id=res.id,
        status=res.status,
        stop_id=res.stop_id,
        route_id=res.route_id,
        direction_id=res.direction_id,
        destination_stop_id=res.destination_stop_id,
        vehicle_id=res.vehicle_id,
        eta_s=res.eta_s,
        created_at=res.created_at,
        updated_at=res.updated_at,
        note=res.note,
        needs=list(needs_from_column(res.needs)),
        reason=res.reason,
        stop_name=stop.name if stop else None,
        destination_name=dest.name if dest else None,
        route_name=route.display_name if route else None,
        headsign=direction.headsign if direction else None,
        gateway_online=gateway_online,
        history=[HistoryItem(status=e.status, at=e.at, cause=e.cause) for e in events],
    )
