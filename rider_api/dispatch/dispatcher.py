"""The dispatcher: the stateful part of dispatch. It keeps the in-memory views and applies
the Actions that the pure rules (``rules.py``) return.

Positions are handled in memory (no database write per message): the fleet view and an
index of the active reservations decide, through the rules, which Actions a position or
a timer tick implies. Only an Action touches the database: it is applied in its own unit
of work to the reservation as stored now (re-read under lock: the in-memory view can be
behind), and skipped once the reservation has ended. Driver taps are in
``driver_events.py``.

With several instances (``rider_api.cluster``) every one keeps the fleet view and the
index (so any of them can assign a bus inside a booking's own transaction), but only
the leader (``leading``) acts on positions and timers; the others' commits reach the
index through ``refresh``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import time
import uuid
import zoneinfo
from dataclasses import replace
from typing import TypeVar, assert_never

from sqlmodel import col, select

from broker_config.aio import cancel_and_wait
from broker_config.messages import DriverEvent, ReservationStatus, VehiclePosition, utcnow
from rider_api.core.metrics import Metrics
from rider_api.db.unit_of_work import ChangeSet, UnitOfWork, UnitsOfWork
from rider_api.dispatch import rules
from rider_api.dispatch.driver_events import DriverTaps
from rider_api.dispatch.fleet import FleetView, VehicleState
from rider_api.dispatch.rules import WAITING_STATUSES, Action, ActionKind, Tracked
from rider_api.models import Incident, Reservation
from rider_api.network.view import NetworkView
from rider_api.reservations.changes import Changes
from rider_api.reservations.lifecycle import ACTIVE_STATUSES, IllegalTransitionError, Trigger
from rider_api.settings import ApiSettings

__all__ = ["Dispatcher"]

logger = logging.getLogger(__name__)
K = ActionKind
Key = TypeVar("Key", str, tuple[str, int])


def snapshot(res: Reservation, excluded: frozenset[str] = frozenset()) -> Tracked:
    """What the rules see of a stored reservation."""
    return Tracked(
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
        excluded,
        res.created_at,
    )


def _discard(index: dict[Key, dict[uuid.UUID, None]], key: Key, reservation_id: uuid.UUID) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.pop(reservation_id, None)
        if not bucket:
            del index[key]


def _zone(network: NetworkView) -> dt.tzinfo:
    """The network's time zone (its service days), UTC if it names none we know."""
    try:
        return zoneinfo.ZoneInfo(network.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


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
        #: Reservations by the moment the timer rule may first act on them (epoch
        #: seconds, a tie-breaker, the snapshot): a tick pops the due ones only. An entry
        #: whose snapshot is no longer the tracked one is stale and skipped.
        self._due: list[tuple[float, int, Tracked]] = []
        self._due_order = itertools.count()
        self._tz = _zone(network)
        self._taps = DriverTaps(units=units, changes=changes, lock=self._lock, apply=self.apply)
        #: Whether this instance acts on positions and timers (the cluster's leader).
        self.leading = True

    # -- lifetime -----------------------------------------------------------------------
    async def __aenter__(self) -> Dispatcher:
        await self.load()
        self._task = asyncio.create_task(self._timers(), name="dispatcher-timers")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    def set_network(self, network: NetworkView) -> None:
        """Use a newly imported network from now on (its last buses may differ)."""
        self.network = network
        self.fleet.network = network
        self._last_departure.clear()
        self._tz = _zone(network)
        self._due = []
        for tracked in self.tracked.values():
            self._schedule(tracked)

    # -- the index of active reservations -----------------------------------------------
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
        self._due = []
        for r in rows:
            self._put(snapshot(r))

    async def lead(self, leading: bool) -> None:
        """Take the lead (reloading the index: the last leader may have changed much) or
        give it up."""
        if leading:
            await self.load()
        self.leading = leading

    async def refresh(self, reservation_ids: frozenset[uuid.UUID] | None) -> None:
        """Another instance committed changes to these reservations (None: to any)."""
        if reservation_ids is None:
            await self.load()
            return
        if not reservation_ids:
            return
        async with self.units.sessions() as session:
            rows = (
                await session.exec(
                    select(Reservation).where(col(Reservation.id).in_(reservation_ids))
                )
            ).all()
        for res in rows:
            if res.status in ACTIVE_STATUSES:
                old = self.tracked.get(res.id)
                self._put(snapshot(res, old.excluded if old else frozenset()))
            else:
                self._drop(res.id)

    def sync(self, changes: ChangeSet) -> None:
        """Keep the in-memory index in step with committed changes."""
        for res in changes.touched.values():
            if res.status in ACTIVE_STATUSES:
                old = self.tracked.get(res.id)
                self._put(snapshot(res, old.excluded if old else frozenset()))
            else:
                self._drop(res.id)

    def _put(self, tracked: Tracked) -> None:
        self._drop(tracked.id)
        self.tracked[tracked.id] = tracked
        if tracked.vehicle_id is not None:
            self._by_vehicle.setdefault(tracked.vehicle_id, {})[tracked.id] = None
        key = (tracked.route_id, tracked.direction_id)
        self._by_route.setdefault(key, {})[tracked.id] = None
        self._schedule(tracked)

    def _schedule(self, tracked: Tracked, at: float | None = None) -> None:
        """Order ``tracked`` by when the timer rule may act on it (or at ``at``)."""
        if at is None:
            due = rules.timer_due(
                tracked, ack_timeout_s=self.settings.ack_timeout_s, service_end=self._service_end
            )
            if due is None:
                return
            at = due.timestamp()
        heapq.heappush(self._due, (at, next(self._due_order), tracked))
        if len(self._due) > 2 * len(self.tracked) + 64:
            # Mostly stale entries (every committed change adds one): keep the live ones.
            self._due = [e for e in self._due if self.tracked.get(e[2].id) is e[2]]
            heapq.heapify(self._due)

    def _service_end(self, res: Tracked) -> dt.datetime | None:
        created = res.created_at or utcnow()
        return rules.service_day_end(
            self, self._tz, created, res.route_id, res.direction_id, res.stop_id
        )

    def _drop(self, reservation_id: uuid.UUID) -> None:
        old = self.tracked.pop(reservation_id, None)
        if old is None:
            return
        if old.vehicle_id is not None:
            _discard(self._by_vehicle, old.vehicle_id, reservation_id)
        _discard(self._by_route, (old.route_id, old.direction_id), reservation_id)

    # -- deciding: positions and timers -> Actions ----------------------------------------
    async def try_assign(self, uow: UnitOfWork, res: Reservation) -> bool:
        """Assign the best vehicle now if there is one (inside the caller's transaction)."""
        if res.status not in WAITING_STATUSES:
            return False
        tracked = self.tracked.get(res.id)
        candidates = self.fleet.fresh_on(
            res.route_id, res.direction_id, time.monotonic(), self.settings.position_staleness_s
        )
        action = rules.assignment_rule(
            snapshot(res, tracked.excluded if tracked else frozenset()),
            candidates,
            self.network,
            warning_s=self.settings.driver_warning_s,
        )
        if action is None:
            return False
        await self.apply(uow, res, action)
        return action.kind is K.ASSIGN

    def trip_of(self, vehicle_id: str) -> str | None:
        """The GTFS trip the vehicle's last position here named (None if none or unknown)."""
        vehicle = self.fleet.vehicles.get(vehicle_id)
        return vehicle.position.trip_id if vehicle is not None else None

    async def on_position(self, vehicle_id: str, pos: VehiclePosition) -> None:
        """A vehicle's position: update the fleet view and act on what it changes."""
        self.metrics.positions.inc()
        vehicle = self.fleet.update(vehicle_id, pos, time.monotonic())
        if vehicle is None or vehicle.index is None or not self.leading:
            return
        await self.evaluate(vehicle)

    async def evaluate(self, vehicle: VehicleState) -> None:
        """Apply what this position implies; the database is touched only if it implies any."""
        for action in self.decide(vehicle):
            await self.act(action)

    def decide(self, vehicle: VehicleState) -> list[Action]:
        """The Actions a position implies, from the in-memory views alone.

        Its vehicle's own reservations (on whatever route they were booked), then the
        waiting ones of the route and direction it drives.
        """
        if vehicle.index is None:
            return []
        network, settings = self.network, self.settings
        actions: list[Action] = []
        for reservation_id in self._by_vehicle.get(vehicle.vehicle_id, ()):
            action = rules.assigned_rule(
                self.tracked[reservation_id],
                vehicle,
                network,
                eta_refresh_threshold_s=settings.eta_refresh_threshold_s,
            )
            if action is not None:
                actions.append(action)
        waiting = [
            tracked
            for reservation_id in self._by_route.get(vehicle.route_key, ())
            if (tracked := self.tracked[reservation_id]).status in WAITING_STATUSES
        ]
        if waiting:
            candidates = self.fleet.fresh_on(
                *vehicle.route_key, time.monotonic(), settings.position_staleness_s
            )
            for tracked in waiting:
                action = rules.waiting_rule(
                    tracked, vehicle, network, candidates, warning_s=settings.driver_warning_s
                )
                if action is not None:
                    actions.append(action)
        return actions

    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if not self.leading:
                continue
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("dispatcher timers failed")

    async def tick(self, now: dt.datetime | None = None) -> None:
        """Unacknowledged alerts, expiry, and pending bookings after the last bus.

        Only the reservations due by ``now`` are looked at (``_due``), so a tick costs
        what it does, not the number of active reservations. One whose action fails, or
        leaves it as it was, is looked at again a second later, as every reservation was
        when each tick went through all of them.
        """
        now = now or utcnow()
        stamp = now.timestamp()
        while self._due and self._due[0][0] <= stamp:
            _at, _order, tracked = heapq.heappop(self._due)
            if self.tracked.get(tracked.id) is not tracked:
                continue  # changed or ended since: its new snapshot has its own entry
            action = rules.timer_rule(
                tracked,
                now=now,
                ack_timeout_s=self.settings.ack_timeout_s,
                service_end=self._service_end,
            )
            try:
                if action is not None:
                    await self.act(action)
            except Exception:
                logger.exception("dispatcher timer failed for reservation %s", tracked.id)
            if self.tracked.get(tracked.id) is tracked:
                self._schedule(tracked, at=stamp + 1.0)

    def last_departure_s(
        self, route_id: str, direction_id: int, stop_id: str, day: dt.date
    ) -> int | None:
        """The network's last departure at a stop on a day, cached (a Timetable)."""
        key = (route_id, direction_id, stop_id, day)
        if key not in self._last_departure:
            if len(self._last_departure) > 10_000:
                self._last_departure.clear()  # days go by: keep it bounded
            self._last_departure[key] = self.network.last_departure_s(*key)
        return self._last_departure[key]

    # -- applying Actions -----------------------------------------------------------------
    async def act(self, action: Action) -> None:
        """Apply ``action`` in its own unit of work to the reservation as stored now."""
        # One position or tick can imply dozens of actions (every booking of a bus that
        # is arriving), and on SQLite a unit of work never gives the event loop back:
        # what waits meanwhile (a rider's booking) goes in between actions, not after
        # the whole burst.
        await asyncio.sleep(0)
        async with self._lock, self.units() as uow:
            res = await uow.session.get(Reservation, action.reservation_id, with_for_update=True)
            if res is None or res.status not in ACTIVE_STATUSES:
                return
            if (
                action.kind is not K.ASSIGN
                and action.vehicle_id is not None
                and action.vehicle_id != res.vehicle_id
            ):
                # Decided on a view that is now stale (a miss re-assigned the booking while
                # this waited for the lock, or another instance acted first).
                logger.info(
                    "reservation %s: %s about bus %s ignored: now bus %s",
                    res.id,
                    action.kind.value,
                    action.vehicle_id,
                    res.vehicle_id,
                )
                return
            try:
                await self.apply(uow, res, action)
            except IllegalTransitionError as exc:
                logger.info("reservation %s: %s ignored: %s", res.id, action.kind.value, exc)

    async def apply(self, uow: UnitOfWork, res: Reservation, action: Action) -> None:
        """Write ``action`` to ``res`` (read in ``uow``): a transition, a refresh or a flag.

        Raises IllegalTransitionError when the stored status no longer allows it.
        """
        changes = self.changes
        match action.kind:
            case K.ASSIGN:
                self._assign(uow, res, action)
            case K.REQUEUE:
                changes.apply(uow, res, Trigger.REQUEUE, action.cause, vehicle_id=None)
            case K.ARRIVING:
                res.eta_s = action.eta_s
                changes.apply(uow, res, Trigger.INCOMING, action.cause)
            case K.AT_STOP:
                res.eta_s = action.eta_s
                changes.apply(uow, res, Trigger.STOPPED, action.cause)
            case K.ETA:
                res.eta_s = action.eta_s
                changes.refresh(uow, res)
            case K.MISSED | K.OFF_ROUTE:
                await self._miss(uow, res, action)
            case K.APPROACH_DESTINATION:
                changes.apply(uow, res, Trigger.APPROACH_DESTINATION, action.cause)
            case K.TRIP_OVER | K.LEFT_DESTINATION:
                changes.apply(uow, res, Trigger.ALIGHT, action.cause)
            case K.EXPIRE | K.SERVICE_ENDED:
                changes.apply(uow, res, Trigger.EXPIRE, action.cause)
            case K.ACK_OVERDUE:
                self._flag_unacknowledged(uow, res)
            case _:
                assert_never(action.kind)

    def _assign(self, uow: UnitOfWork, res: Reservation, action: Action) -> None:
        if res.status not in WAITING_STATUSES:
            return  # assigned meanwhile (by its booking or another position)
        tracked = self.tracked.get(res.id)
        if action.vehicle_id is not None and (
            (tracked is not None and action.vehicle_id in tracked.excluded)
            or (res.status is ReservationStatus.MISSED and action.vehicle_id == res.vehicle_id)
        ):
            return  # that bus missed this rider since the action was decided
        res.eta_s = action.eta_s
        res.stop_sequence = action.stop_sequence
        self.changes.apply(uow, res, Trigger.ASSIGN, action.cause, vehicle_id=action.vehicle_id)
        self.metrics.booking_to_alert.observe(max(0.0, (utcnow() - res.created_at).total_seconds()))

    async def _miss(self, uow: UnitOfWork, res: Reservation, action: Action) -> None:
        """The assigned bus missed the rider: record it, exclude it, choose again at once."""
        vehicle_id = res.vehicle_id
        self.changes.apply(uow, res, Trigger.MISS, action.cause, reason=action.reason)
        res.missed_count += 1  # after the transition: an illegal one counts nothing
        uow.record_incident(
            Incident(
                kind="missed",
                reservation_id=res.id,
                vehicle_id=vehicle_id,
                route_id=res.route_id,
                stop_id=res.stop_id,
                reason=action.reason,
            )
        )
        tracked = self.tracked.get(res.id) or snapshot(res)
        if vehicle_id:
            tracked = replace(tracked, excluded=tracked.excluded | {vehicle_id})
        self._put(tracked)
        await self.try_assign(uow, res)

    def _flag_unacknowledged(self, uow: UnitOfWork, res: Reservation) -> None:
        if (
            res.status is not ReservationStatus.ASSIGNED
            or res.acknowledged_at is not None
            or res.ack_overdue
        ):
            return  # decided on a stale view: acknowledged or flagged since
        res.ack_overdue = True
        self.changes.refresh(uow, res)
        uow.record_incident(
            Incident(
                kind="unacknowledged",
                reservation_id=res.id,
                vehicle_id=res.vehicle_id,
                route_id=res.route_id,
                stop_id=res.stop_id,
            )
        )
        logger.warning(
            "reservation %s: driver of %s has not acknowledged; alert re-sent",
            res.id,
            res.vehicle_id,
        )

    # -- driver events ------------------------------------------------------------------
    async def apply_driver_event(self, vehicle_id: str, event: DriverEvent) -> None:
        """A driver's tap (applied once, only from the assigned vehicle)."""
        await self._taps.apply_event(vehicle_id, event)
