"""Button presses at a stop: book without a phone, cancel, and call for help."""

from __future__ import annotations

import logging
import secrets
import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from broker_config.messages import ButtonAction, StopEvent
from rider_api.api.deps import hash_token
from rider_api.core.problems import Problem
from rider_api.models import Incident, ProcessedEvent, Reservation, Rider
from rider_api.models.schemas import ReservationCreate
from rider_api.reservations.booking import cancel_reservation, create_reservation
from rider_api.reservations.lifecycle import ACTIVE_STATUSES
from rider_api.state import AppState

__all__ = ["apply_stop_event", "stop_rider"]

logger = logging.getLogger(__name__)


async def stop_rider(state: AppState, stop_id: str, lang: str) -> Rider:
    """The rider account of a stop (one per stop and language), created on first use."""
    name = f"stop:{stop_id}:{lang}"
    async with state.sessions() as session:
        rider = (
            await session.exec(
                select(Rider).where(col(Rider.kind) == "stop", col(Rider.display_name) == name)
            )
        ).first()
        if rider is not None:
            return rider
    rider = Rider(
        display_name=name,
        language=lang,
        kind="stop",
        token_hash=hash_token("stop-" + secrets.token_urlsafe(32)),
    )
    async with state.unit_of_work() as uow:
        uow.session.add(rider)
    return rider


async def _first_time(state: AppState, event_id: uuid.UUID) -> bool:
    try:
        async with state.unit_of_work() as uow:
            uow.session.add(ProcessedEvent(id=event_id))
    except IntegrityError:
        return False
    return True


async def apply_stop_event(state: AppState, stop_id: str, event: StopEvent) -> None:
    if not await _first_time(state, event.id):
        logger.info("stop event %s already applied", event.id)
        return
    if event.action is ButtonAction.BOOK:
        if event.route_id is None or event.direction_id is None:
            return  # the model refuses this already; kept for the type checker
        rider = await stop_rider(state, stop_id, event.lang or "zh-TW")
        body = ReservationCreate(
            stop_id=stop_id, route_id=event.route_id, direction_id=event.direction_id
        )
        try:
            await create_reservation(
                state,
                rider,
                body,
                f"stop-event:{event.id}",
                source="stop",
                cause="booked at the stop's button",
            )
        except Problem as exc:
            logger.warning("book at stop %s refused: %s", stop_id, exc.detail)
        return
    if event.action is ButtonAction.CANCEL:
        async with state.sessions() as session:
            query = select(Reservation).where(
                col(Reservation.stop_id) == stop_id,
                col(Reservation.status).in_([s.value for s in ACTIVE_STATUSES]),
            )
            if event.reservation_id is not None:
                query = query.where(col(Reservation.id) == event.reservation_id)
            else:
                query = query.where(col(Reservation.source) == "stop")
            res = (await session.exec(query.order_by(col(Reservation.created_at).desc()))).first()
        if res is None:
            logger.info("cancel at stop %s: no active booking to cancel", stop_id)
            return
        try:
            await cancel_reservation(state, None, res.id, "cancelled at the stop's button")
        except Problem as exc:
            logger.info("cancel at stop %s: %s", stop_id, exc.detail)
        return
    if event.action is ButtonAction.HELP:
        async with state.sessions() as session, session.begin():
            session.add(Incident(kind="help", stop_id=stop_id, reservation_id=event.reservation_id))
        state.metrics.incidents.labels(kind="help").inc()
        logger.warning("help requested at stop %s", stop_id)
