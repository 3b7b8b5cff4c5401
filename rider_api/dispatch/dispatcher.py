"""The dispatcher: assigns buses to bookings, follows them to the stop, recovers misses.

Positions are handled in memory (no database write per message); the database is
touched only when a reservation changes (a transition or a meaningful ETA change).
Inbound driver and stop events are applied through the lifecycle, once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from broker_config.messages import (
    DriverEvent,
    DriverEventType,
    ReservationStatus,
    VehiclePosition,
    VehicleStopStatus,
    utcnow,
)
from rider_api.core.metrics import Metrics
from rider_api.db.unit_of_work import ChangeSet, UnitOfWork, UnitsOfWork
from rider_api.dispatch.fleet import (
    FleetView,
    VehicleState,
    choose_vehicle,
    eta_seconds,
    has_passed,
)
from rider_api.models import Incident, ProcessedEvent, Reservation
from rider_api.network.view import NetworkView
from rider_api.reservations.changes import Changes
from rider_api.reservations.lifecycle import (
    ACTIVE_STATUSES,
    PICKUP_STATUSES,
    IllegalTransitionError,
    Trigger,
)
from rider_api.settings import ApiSettings

__all__ = ["Dispatcher"]

logger = logging.getLogger(__name__)
S = ReservationStatus
ETA_MARKS = (300, 180, 60)
K = TypeVar("K", str, tuple[str, int])


@dataclass(slots=True)
class Tracked:
    """What the dispatcher keeps in memory of an active reservation."""

    id: uuid.UUID
    status: ReservationStatus
    stop_id: str
    route_id: str
    direction_id: int
    destination_stop_id: str | None
    vehicle_id: str | None
    eta_s: int | None
    expires_at: dt.datetime
    alerted_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    ack_overdue: bool
    excluded: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, res: Reservation) -> Tracked:
        return cls(
            res.id,
            res.status,
            res.stop_id,
            res.route_id,
            res.direction_id,
            res.destination_stop_id,
            res.vehicle_id,
            res.eta_s,
            res.expires_at,
            res.alerted_at,
            res.acknowledged_at,
            res.ack_overdue,
        )


def _eta_changed(old: int | None, new: int | None, threshold: int) -> bool:
    if old is None or new is None:
        return old != new
    if abs(old - new) >= threshold:
        return True
    return any(new <= mark < old for mark in ETA_MARKS)


def _discard(index: dict[K, dict[uuid.UUID, None]], key: K, reservation_id: uuid.UUID) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(reservation_id, None)
        if not bucket:
            del index[key]


class Dispatcher:
    def __init__(
        self,
        *,
        settings: ApiSettings,
        units: UnitsOfWork,
        changes: Changes,
        network: NetworkView,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.units = units
        self.changes = changes
        self.metrics = metrics
        self.network = network
        self.fleet = FleetView(network)
        #: Every active reservation; read it, change it only through ``sync``.
        self.tracked: dict[uuid.UUID, Tracked] = {}
        # Indexes of ``tracked`` so that a position only looks at what concerns it
        # (dicts as insertion-ordered sets, for a stable order of work).
        self._by_vehicle: dict[str, dict[uuid.UUID, None]] = {}
        self._by_route: dict[tuple[str, int], dict[uuid.UUID, None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._last_departure: dict[tuple[str, int, str, dt.date], int | None] = {}

    # -- lifetime -----------------------------------------------------------------------
    async def __aenter__(self) -> Dispatcher:
        await self.load()
        self._task = asyncio.create_task(self._timers(), name="dispatcher-timers")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def set_network(self, network: NetworkView) -> None:
        """Use a newly imported network from now on."""
        self.network = network
        self.fleet.network = network
        self._last_departure.clear()

    async def load(self) -> None:
        self.fleet.network = self.network
        async with self.units.sessions() as session:
            rows = (
                await session.exec(
                    select(Reservation).where(
                        col(Reservation.status).in_([s.value for s in ACTIVE_STATUSES])
                    )
                )
            ).all()
        self.tracked, self._by_vehicle, self._by_route = {}, {}, {}
        for r in rows:
            self._put(Tracked.of(r))

    def sync(self, changes: ChangeSet) -> None:
        """Keep the in-memory index in step with committed changes."""
        for res in changes.touched.values():
            if res.status in ACTIVE_STATUSES:
                tracked = self.tracked.get(res.id)
                fresh = Tracked.of(res)
                fresh.excluded = tracked.excluded if tracked else set()
                self._put(fresh)
            else:
                self._drop(res.id)

    def _put(self, tracked: Tracked) -> None:
        self._drop(tracked.id)
        self.tracked[tracked.id] = tracked
        if tracked.vehicle_id is not None:
            self._by_vehicle.setdefault(tracked.vehicle_id, {})[tracked.id] = None
        key = (tracked.route_id, tracked.direction_id)
        self._by_route.setdefault(key, {})[tracked.id] = None

    def _drop(self, reservation_id: uuid.UUID) -> None:
        old = self.tracked.pop(reservation_id, None)
        if old is None:
            return
        if old.vehicle_id is not None:
            _discard(self._by_vehicle, old.vehicle_id, reservation_id)
        _discard(self._by_route, (old.route_id, old.direction_id), reservation_id)

    # -- assignment ---------------------------------------------------------------------
    async def try_assign(self, uow: UnitOfWork, res: Reservation) -> bool:
        """Assign the best vehicle now if there is one (inside the caller's transaction)."""
        if res.status not in (S.PENDING, S.MISSED):
            return False
        tracked = self.tracked.get(res.id)
        exclude = frozenset(tracked.excluded) if tracked else frozenset()
        if res.vehicle_id and res.status is S.MISSED:
            exclude = exclude | {res.vehicle_id}
        candidates = self.fleet.fresh_on(
            res.route_id,
            res.direction_id,
            time.monotonic(),
            self.settings.position_staleness_s,
        )
        choice = choose_vehicle(
            self.network,
            candidates,
            res.stop_id,
            warning_s=self.settings.driver_warning_s,
            exclude=exclude,
        )
        if choice is None:
            if res.status is S.MISSED:
                self.changes.apply(
                    uow, res, Trigger.REQUEUE, "no other bus approaching: waiting", vehicle_id=None
                )
            return False
        vehicle, eta = choice
        res.eta_s = eta
        res.stop_sequence = self._stop_sequence(vehicle, res.stop_id)
        cause = f"bus {vehicle.vehicle_id} assigned, about {eta // 60} min away"
        self.changes.apply(uow, res, Trigger.ASSIGN, cause, vehicle_id=vehicle.vehicle_id)
        self.metrics.booking_to_alert.observe(max(0.0, (utcnow() - res.created_at).total_seconds()))
        return True

    def _stop_sequence(self, vehicle: VehicleState, stop_id: str) -> int | None:
        trip_id = vehicle.position.trip_id
        trip = self.network.trips.get(trip_id) if trip_id else None
        if trip is not None:
            i = trip.index_of_stop(stop_id)
            if i is not None:
                return trip.stops[i].stop_sequence
        direction = self.network.direction(vehicle.position.route_id, vehicle.position.direction_id)
        return direction.positions.get(stop_id) if direction else None

    # -- positions ----------------------------------------------------------------------
    async def on_position(self, vehicle_id: str, pos: VehiclePosition) -> None:
        """A vehicle's position: update the fleet view and act on what it changes."""
        self.metrics.positions.inc()
        vehicle = self.fleet.update(vehicle_id, pos, time.monotonic())
        if vehicle is None or vehicle.index is None:
            return
        await self.evaluate(vehicle)

    async def evaluate(self, vehicle: VehicleState) -> None:
        """Decide what this position changes; touch the database only if something does."""
        work: list[tuple[uuid.UUID, str]] = []
        direction = self.network.direction(*vehicle.route_key)
        if direction is None or vehicle.index is None:
            return
        vehicle_id = vehicle.vehicle_id
        # Its own reservations (on whatever route they were booked), then the waiting
        # ones of the route and direction it drives.
        for reservation_id in self._by_vehicle.get(vehicle_id, ()):
            tracked = self.tracked[reservation_id]
            action = self._action_for_assigned(tracked, vehicle, direction.positions)
            if action:
                work.append((reservation_id, action))
        for reservation_id in self._by_route.get(vehicle.route_key, ()):
            tracked = self.tracked[reservation_id]
            if (
                tracked.vehicle_id != vehicle_id
                and tracked.status in (S.PENDING, S.MISSED)
                and vehicle_id not in tracked.excluded
            ):
                stop_index = direction.positions.get(tracked.stop_id)
                if stop_index is not None and not has_passed(vehicle, stop_index):
                    work.append((reservation_id, "assign"))
        for reservation_id, action in work:
            await self._act(reservation_id, action, vehicle)

    def _action_for_assigned(
        self, tracked: Tracked, vehicle: VehicleState, positions: dict[str, int]
    ) -> str | None:
        index = vehicle.index
        assert index is not None  # noqa: S101 - checked by evaluate
        status = vehicle.status
        if vehicle.route_key != (tracked.route_id, tracked.direction_id):
            # Another route's or direction's stop order says nothing about this stop (a
            # bus that turned at its terminus would "arrive" at the opposite kerb).
            if tracked.status in PICKUP_STATUSES:
                return "off_route"
            if tracked.status in (S.RIDING, S.ALIGHTING):
                return "trip_over"
            return None
        if tracked.status in PICKUP_STATUSES:
            stop_index = positions.get(tracked.stop_id)
            if stop_index is None:
                return None
            if index > stop_index:
                return "missed"
            if index == stop_index and status is VehicleStopStatus.STOPPED_AT:
                return "at_stop" if tracked.status is not S.AT_STOP else None
            near = (index == stop_index) or (
                index == stop_index - 1 and status is VehicleStopStatus.STOPPED_AT
            )
            if near and tracked.status in (S.ASSIGNED, S.ACKNOWLEDGED):
                return "arriving"
            eta = eta_seconds(self.network, vehicle, tracked.stop_id)
            if _eta_changed(tracked.eta_s, eta, self.settings.eta_refresh_threshold_s):
                return "eta"
            return None
        if tracked.status in (S.RIDING, S.ALIGHTING) and tracked.destination_stop_id:
            dest_index = positions.get(tracked.destination_stop_id)
            if dest_index is None:
                return None
            if index > dest_index:
                return "left_destination"
            if tracked.status is S.ALIGHTING and index < dest_index - 1:
                # It was at the destination and is now back at the start of the line: the
                # destination was the last stop and the bus began its next trip.
                return "left_destination"
            near = index == dest_index or (
                index == dest_index - 1 and status is VehicleStopStatus.STOPPED_AT
            )
            if near and tracked.status is S.RIDING:
                return "approach_destination"
        return None

    async def _act(self, reservation_id: uuid.UUID, action: str, vehicle: VehicleState) -> None:
        async with self._lock, self.units() as uow:
            res = await uow.session.get(Reservation, reservation_id, with_for_update=True)
            if res is None or res.status not in ACTIVE_STATUSES:
                return
            changes = self.changes
            try:
                if action == "assign":
                    await self.try_assign(uow, res)
                elif action == "arriving":
                    res.eta_s = eta_seconds(self.network, vehicle, res.stop_id)
                    changes.apply(
                        uow, res, Trigger.INCOMING, f"bus {vehicle.vehicle_id} is arriving"
                    )
                elif action == "at_stop":
                    res.eta_s = 0
                    changes.apply(
                        uow, res, Trigger.STOPPED, f"bus {vehicle.vehicle_id} is at the stop"
                    )
                elif action == "eta":
                    res.eta_s = eta_seconds(self.network, vehicle, res.stop_id)
                    changes.refresh(uow, res)
                elif action == "missed":
                    await self._miss(
                        uow,
                        res,
                        "left",
                        f"bus {vehicle.vehicle_id} left the stop without a boarding",
                    )
                elif action == "off_route":
                    await self._miss(
                        uow,
                        res,
                        "left",
                        f"bus {vehicle.vehicle_id} now runs another route or direction",
                    )
                elif action == "trip_over":
                    changes.apply(
                        uow,
                        res,
                        Trigger.ALIGHT,
                        f"bus {vehicle.vehicle_id} finished the trip",
                    )
                elif action == "approach_destination":
                    changes.apply(
                        uow,
                        res,
                        Trigger.APPROACH_DESTINATION,
                        f"bus {vehicle.vehicle_id} is approaching the destination",
                    )
                elif action == "left_destination":
                    changes.apply(
                        uow, res, Trigger.ALIGHT, f"bus {vehicle.vehicle_id} left the destination"
                    )
            except IllegalTransitionError as exc:
                logger.info("reservation %s: %s ignored: %s", reservation_id, action, exc)

    async def _miss(self, uow: UnitOfWork, res: Reservation, reason: str, cause: str) -> None:
        vehicle_id = res.vehicle_id
        res.missed_count += 1
        self.changes.apply(uow, res, Trigger.MISS, cause, reason=reason)
        uow.session.add(
            Incident(
                kind="missed",
                reservation_id=res.id,
                vehicle_id=vehicle_id,
                route_id=res.route_id,
                stop_id=res.stop_id,
                reason=reason,
            )
        )
        self.metrics.incidents.labels(kind="missed").inc()
        tracked = self.tracked.get(res.id)
        if tracked is None:
            tracked = Tracked.of(res)
            self._put(tracked)
        if vehicle_id:
            tracked.excluded.add(vehicle_id)
        await self.try_assign(uow, res)

    # -- driver events ------------------------------------------------------------------
    async def apply_driver_event(self, vehicle_id: str, event: DriverEvent) -> None:
        async with self._lock:
            try:
                async with self.units() as uow:
                    s = uow.session
                    s.add(ProcessedEvent(id=event.id))
                    await s.flush()
                    res = await s.get(Reservation, event.reservation_id, with_for_update=True)
                    if res is None:
                        logger.warning(
                            "driver event %s for unknown reservation %s",
                            event.id,
                            event.reservation_id,
                        )
                        return
                    if res.vehicle_id != vehicle_id:
                        logger.warning(
                            "vehicle %s sent %s for reservation %s assigned to %s: ignored",
                            vehicle_id,
                            event.type.value,
                            res.id,
                            res.vehicle_id,
                        )
                        return
                    await self._apply_driver(uow, res, event)
            except IntegrityError:
                logger.info("driver event %s already applied", event.id)
                return

    async def _apply_driver(self, uow: UnitOfWork, res: Reservation, event: DriverEvent) -> None:
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
                uow.session.add(
                    Incident(
                        kind="no_show",
                        reservation_id=res.id,
                        vehicle_id=res.vehicle_id,
                        route_id=res.route_id,
                        stop_id=res.stop_id,
                    )
                )
                self.metrics.incidents.labels(kind="no_show").inc()
            elif t is DriverEventType.CANNOT_STOP:
                reason = event.reason.value if event.reason else "other"
                await self._miss(uow, res, reason, f"driver cannot stop: {reason}")
            elif t is DriverEventType.ALIGHTED:
                changes.apply(uow, res, Trigger.ALIGHT, "driver: rider alighted")
        except IllegalTransitionError as exc:
            logger.info("driver event %s on reservation %s ignored: %s", t.value, res.id, exc)

    # -- timers -------------------------------------------------------------------------
    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("dispatcher timers failed")

    async def tick(self, now: dt.datetime | None = None) -> None:
        """Unacknowledged alerts, expiry, and pending bookings after the last bus."""
        now = now or utcnow()
        settings = self.settings
        overdue_before = now - dt.timedelta(seconds=settings.ack_timeout_s)
        try:
            tz = zoneinfo.ZoneInfo(self.network.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = zoneinfo.ZoneInfo("UTC")
        local = now.astimezone(tz)
        seconds_today = local.hour * 3600 + local.minute * 60 + local.second
        # The in-memory index mirrors every active reservation: no query per tick.
        for res in list(self.tracked.values()):
            action: str | None = None
            if res.expires_at <= now and res.status in (PICKUP_STATUSES | {S.PENDING, S.MISSED}):
                action = "expire"
            elif (
                res.status is S.ASSIGNED
                and res.acknowledged_at is None
                and not res.ack_overdue
                and res.alerted_at is not None
                and res.alerted_at <= overdue_before
            ):
                action = "overdue"
            elif res.status is S.PENDING:
                key = (res.route_id, res.direction_id, res.stop_id, local.date())
                if key not in self._last_departure:
                    self._last_departure[key] = self.network.last_departure_s(*key)
                last = self._last_departure[key]
                if last is not None and seconds_today > last + 300 and last < 24 * 3600:
                    action = "service_ended"
            if action is not None:
                await self._timer_action(res.id, action)

    async def _timer_action(self, reservation_id: uuid.UUID, action: str) -> None:
        async with self._lock, self.units() as uow:
            res = await uow.session.get(Reservation, reservation_id, with_for_update=True)
            if res is None or res.status not in ACTIVE_STATUSES:
                return
            try:
                if action == "expire":
                    self.changes.apply(uow, res, Trigger.EXPIRE, "not served within its lifetime")
                elif action == "service_ended":
                    self.changes.apply(uow, res, Trigger.EXPIRE, "service ended for the day")
                elif action == "overdue" and res.status is S.ASSIGNED:
                    res.ack_overdue = True
                    self.changes.refresh(uow, res)
                    uow.session.add(
                        Incident(
                            kind="unacknowledged",
                            reservation_id=res.id,
                            vehicle_id=res.vehicle_id,
                            route_id=res.route_id,
                            stop_id=res.stop_id,
                        )
                    )
                    self.metrics.incidents.labels(kind="unacknowledged").inc()
                    logger.warning(
                        "reservation %s: driver of %s has not acknowledged; alert re-sent",
                        res.id,
                        res.vehicle_id,
                    )
            except IllegalTransitionError as exc:
                logger.info("reservation %s: %s ignored: %s", reservation_id, action, exc)
