"""Button presses at a stop: book without a phone, cancel, and call for help.

Each event is applied once: its id is recorded as processed in the same transaction as
what it does, so a duplicate changes nothing and a crash before the commit leaves the
event unapplied (the broker re-delivers an event the server had not acknowledged). A
refusal (a booking over the limits, nothing to cancel) is final and recorded as
processed too. Every copy is answered with an ``EventReceipt`` on the stop's receipts
topic, written with the effect.

Bounds against a stuck or hostile button (one stop once opened 202 help incidents in
11 s): a help press within ``stop_help_window_s`` of the stop's last help incident is
applied (recorded as processed, so acknowledged) but opens no new incident. The window
is read from the incidents in the database, in the same transaction, so it holds across
a restart and across API instances (each hears every event; the first to record it
applies it); only two different presses applied at the same moment by two instances
can each open one. Book presses are bounded by the booking limits: each stop books as
its own rider (one per language), at most ``max_active_reservations_per_rider`` active,
one per route, and ``max_bookings_per_minute_per_rider`` a minute.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from broker_config.messages import ButtonAction, Lang, StopEvent, utcnow
from rider_api.core.problems import Problem
from rider_api.core.security import hash_token, new_secret_token
from rider_api.db.unit_of_work import UnitOfWork
from rider_api.models import Incident, ProcessedEvent, Reservation, Rider
from rider_api.models.schemas import ReservationCreate
from rider_api.reservations.booking import book, cancel
from rider_api.reservations.lifecycle import ACTIVE_STATUSES
from rider_api.reservations.receipts import Outcome, send_receipt
from rider_api.state import AppState

__all__ = ["apply_stop_event", "open_help_incident", "stop_rider"]

logger = logging.getLogger(__name__)


async def stop_rider(uow: UnitOfWork, stop_id: str, lang: Lang) -> Rider:
    """The rider account of a stop (one per stop and language), created on first use."""
    name = f"stop:{stop_id}:{lang}"
    rider = (
        await uow.session.exec(
            select(Rider).where(col(Rider.kind) == "stop", col(Rider.display_name) == name)
        )
    ).first()
    if rider is None:
        # Nobody signs in as a stop: the token is random and thrown away.
        rider = Rider(
            display_name=name,
            language=lang,
            kind="stop",
            token_hash=hash_token("stop-" + new_secret_token()),
        )
        uow.session.add(rider)
        await uow.session.flush()
    return rider


async def apply_stop_event(state: AppState, stop_id: str, event: StopEvent) -> None:
    """Apply one button event of ``stop_id`` once and answer it with a receipt.

    REPEAT is the gateway's own business: it is neither applied nor answered.
    """
    if event.action is ButtonAction.REPEAT:
        return
    receipts = state.topics.stop_receipts(stop_id)
    try:
        async with state.unit_of_work() as uow:
            if await uow.session.get(ProcessedEvent, event.id) is not None:
                logger.info("stop event %s already applied", event.id)
                send_receipt(uow, receipts, event.id, "duplicate")
                return
            uow.session.add(ProcessedEvent(id=event.id))
            await uow.session.flush()
            try:
                refusal = await _apply(state, uow, stop_id, event)
            except Problem as exc:
                # Refusals are raised before anything is written (checks come first).
                logger.warning("%s at stop %s refused: %s", event.action.value, stop_id, exc.detail)
                refusal = exc.detail
            outcome: Outcome = "applied" if refusal is None else "refused"
            send_receipt(uow, receipts, event.id, outcome, refusal)
    except IntegrityError:
        # Only a concurrent copy of this event recording itself first is expected here.
        async with state.unit_of_work() as uow:
            if await uow.session.get(ProcessedEvent, event.id) is None:
                raise
            logger.info("stop event %s already applied", event.id)
            send_receipt(uow, receipts, event.id, "duplicate")


async def _apply(state: AppState, uow: UnitOfWork, stop_id: str, event: StopEvent) -> str | None:
    """Do what the button asks; the reason if there is nothing to do."""
    if event.action is ButtonAction.BOOK:
        if event.route_id is None or event.direction_id is None:
            return "a booking needs a route and direction"  # the model refuses this already
        rider = await stop_rider(uow, stop_id, event.lang or "zh-TW")
        body = ReservationCreate(
            stop_id=stop_id, route_id=event.route_id, direction_id=event.direction_id
        )
        await book(
            state,
            uow,
            rider=rider,
            body=body,
            idempotency_key=None,
            source="stop",
            cause="booked at the stop's button",
        )
    elif event.action is ButtonAction.CANCEL:
        query = select(Reservation).where(
            col(Reservation.stop_id) == stop_id,
            col(Reservation.status).in_([s.value for s in ACTIVE_STATUSES]),
        )
        if event.reservation_id is not None:
            query = query.where(col(Reservation.id) == event.reservation_id)
        else:
            query = query.where(col(Reservation.source) == "stop")
        res = (await uow.session.exec(query.order_by(col(Reservation.created_at).desc()))).first()
        if res is None:
            logger.info("cancel at stop %s: no active booking to cancel", stop_id)
            return "no active booking to cancel"
        await cancel(
            state, uow, reservation_id=res.id, rider=None, cause="cancelled at the stop's button"
        )
    elif event.action is ButtonAction.HELP:
        window_s = state.settings.stop_help_window_s
        if window_s > 0:
            since = utcnow() - timedelta(seconds=window_s)
            incident_id = await open_help_incident(uow, stop_id=stop_id, since=since)
            if incident_id is not None:
                # One warning per window (the incident's, below); repeats only at debug.
                logger.debug(
                    "help at stop %s again within %g s: part of incident %s",
                    stop_id,
                    window_s,
                    incident_id,
                )
                return None  # applied: part of the open incident
        uow.record_incident(
            Incident(kind="help", stop_id=stop_id, reservation_id=event.reservation_id)
        )
        logger.warning("help requested at stop %s", stop_id)
    return None


async def open_help_incident(uow: UnitOfWork, *, stop_id: str, since: datetime) -> int | None:
    """The id of the stop's latest help incident opened at or after ``since``, if any."""
    query = (
        select(Incident.id)
        .where(
            col(Incident.kind) == "help",
            col(Incident.stop_id) == stop_id,
            col(Incident.at) >= since,
        )
        .order_by(col(Incident.at).desc())
        .limit(1)
    )
    return (await uow.session.exec(query)).first()
