"""Driver taps on a reservation: acknowledged, boarded, no_show, cannot_stop, alighted.

A tap is applied once (its id is stored in the same transaction, so a redelivery fails
on the primary key) and only when it comes from the vehicle the reservation is
assigned to; every copy is answered with an ``EventReceipt`` (applied, duplicate or
refused) on the vehicle's receipts topic, written with the effect. ``cannot_stop`` is
a miss: it becomes the same Action a bus driving past the stop makes, applied by the
dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import IntegrityError

from broker_config.messages import DriverEvent, DriverEventType, ReservationStatus, utcnow
from rider_api.db.unit_of_work import UnitOfWork, UnitsOfWork
from rider_api.dispatch.rules import Action, cannot_stop_rule
from rider_api.models import Incident, ProcessedEvent, Reservation
from rider_api.reservations.changes import Changes
from rider_api.reservations.lifecycle import PICKUP_STATUSES, IllegalTransitionError, Trigger
from rider_api.reservations.receipts import Outcome, send_receipt

__all__ = ["ApplyAction", "DriverTaps"]

logger = logging.getLogger(__name__)
S = ReservationStatus

#: Applies an Action to a reservation read in the caller's unit of work.
ApplyAction = Callable[[UnitOfWork, Reservation, Action], Awaitable[None]]


class DriverTaps:
    """Applies driver events; shares the dispatcher's lock so taps and positions serialise."""

    def __init__(
        self,
        *,
        units: UnitsOfWork,
        changes: Changes,
        lock: asyncio.Lock,
        apply: ApplyAction,
    ) -> None:
        self.units = units
        self.changes = changes
        self._lock = lock
        self._apply_action = apply

    async def apply_event(self, vehicle_id: str, event: DriverEvent) -> None:
        """Apply ``event`` sent by ``vehicle_id`` once, and answer it with a receipt."""
        receipts = self.changes.topics.vehicle_receipts(vehicle_id)
        async with self._lock:
            try:
                async with self.units() as uow:
                    if await uow.session.get(ProcessedEvent, event.id) is not None:
                        logger.info("driver event %s already applied", event.id)
                        send_receipt(uow, receipts, event.id, "duplicate")
                        return
                    uow.session.add(ProcessedEvent(id=event.id))
                    await uow.session.flush()
                    refusal = await self._checked(uow, vehicle_id, event)
                    outcome: Outcome = "applied" if refusal is None else "refused"
                    send_receipt(
                        uow,
                        receipts,
                        event.id,
                        outcome,
                        refusal,
                        reservation_id=event.reservation_id,
                    )
            except IntegrityError:
                # Only a concurrent copy recording itself first is expected here.
                async with self.units() as uow:
                    if await uow.session.get(ProcessedEvent, event.id) is None:
                        raise
                    logger.info("driver event %s already applied", event.id)
                    send_receipt(uow, receipts, event.id, "duplicate")

    async def _checked(self, uow: UnitOfWork, vehicle_id: str, event: DriverEvent) -> str | None:
        """Apply a tap from the reservation's own vehicle; the reason if it is refused."""
        res = await uow.session.get(Reservation, event.reservation_id, with_for_update=True)
        if res is None:
            logger.warning(
                "driver event %s for unknown reservation %s", event.id, event.reservation_id
            )
            return "unknown reservation"
        if res.vehicle_id != vehicle_id:
            logger.warning(
                "vehicle %s sent %s for reservation %s assigned to %s: ignored",
                vehicle_id,
                event.type.value,
                res.id,
                res.vehicle_id,
            )
            return "the booking is not assigned to this bus"
        return await self._apply(uow, res, event)

    async def _apply(self, uow: UnitOfWork, res: Reservation, event: DriverEvent) -> str | None:
        changes = self.changes
        t = event.type
        try:
            if t is DriverEventType.ACKNOWLEDGED:
                if res.status is S.ASSIGNED:
                    changes.apply(uow, res, Trigger.ACK, "driver confirmed")
                elif res.acknowledged_at is None and res.status in PICKUP_STATUSES:
                    res.acknowledged_at = utcnow()
                    res.ack_overdue = False
                    changes.refresh(uow, res)
            elif t is DriverEventType.BOARDED:
                if res.status in (S.ASSIGNED, S.ACKNOWLEDGED, S.ARRIVING):
                    changes.apply(uow, res, Trigger.STOPPED, "driver reports the bus at the stop")
                changes.apply(uow, res, Trigger.BOARD, "driver: rider boarded")
                if res.destination_stop_id:
                    changes.apply(uow, res, Trigger.RIDE, "riding to the destination")
                else:
                    changes.apply(uow, res, Trigger.COMPLETE, "boarded, no destination set")
            elif t is DriverEventType.NO_SHOW:
                changes.apply(uow, res, Trigger.NO_SHOW, "driver: rider not at the stop")
                uow.record_incident(
                    Incident(
                        kind="no_show",
                        reservation_id=res.id,
                        vehicle_id=res.vehicle_id,
                        route_id=res.route_id,
                        stop_id=res.stop_id,
                    )
                )
            elif t is DriverEventType.CANNOT_STOP:
                reason = event.reason.value if event.reason else None
                await self._apply_action(uow, res, cannot_stop_rule(res.id, res.vehicle_id, reason))
            elif t is DriverEventType.ALIGHTED:
                changes.apply(uow, res, Trigger.ALIGHT, "driver: rider alighted")
        except IllegalTransitionError as exc:
            logger.info("driver event %s on reservation %s ignored: %s", t.value, res.id, exc)
            return f"the booking is {res.status.value.replace('_', ' ')}"
        return None
