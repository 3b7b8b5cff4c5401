"""Apply a lifecycle transition to a stored reservation and write what it implies.

Every change goes through ``Changes.apply`` (status transitions) or ``Changes.refresh``
(same status, new ETA or vehicle data): the history row, the reservation row and the
outbox messages for the stop and the vehicle are written in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from broker_config.const import FINAL_CLEAR_DELAY_S
from broker_config.i18n import pick_lang
from broker_config.messages import (
    DriverAlert,
    Localized,
    ReservationStatus,
    StopCall,
    utcnow,
)
from broker_config.topics import Topics
from rider_api.db.unit_of_work import UnitOfWork
from rider_api.models import Reservation
from rider_api.models.reservations import needs_from_column
from rider_api.network.view import NetworkView, TripInfo
from rider_api.reservations.lifecycle import PICKUP_STATUSES, Trigger, next_status

__all__ = ["ALERT_STATUSES", "STOP_CALL_STATUSES", "Changes"]

logger = logging.getLogger(__name__)
S = ReservationStatus

#: While the reservation is in one of these, the boarding stop has a live call.
STOP_CALL_STATUSES: Final = frozenset(PICKUP_STATUSES | {S.PENDING, S.MISSED})
#: While in one of these (and a vehicle is set), that vehicle has a live alert.
ALERT_STATUSES: Final = frozenset(PICKUP_STATUSES | {S.RIDING, S.ALIGHTING})
#: At most this many drop-off sequences are remembered (then forgotten all at once).
_SEQUENCE_CACHE: Final = 4096


class Changes:
    """Writes transitions and their messages; one per app (between calls it keeps only
    the drop-off sequences it looked up in the network)."""

    def __init__(self, topics: Topics, network: NetworkView) -> None:
        self.topics = topics
        self._network = network
        # Drop-off sequences found in the network's trips (see _dropoff_sequence).
        self._sequences: dict[tuple[str, int, str, int, str], int] = {}
        #: The GTFS trip a vehicle runs now, if this instance knows (the dispatcher's
        #: fleet view, set at start-up): a drop-off is counted in it first.
        self.trip_of: Callable[[str], str | None] = lambda _vehicle_id: None

    @property
    def network(self) -> NetworkView:
        return self._network

    @network.setter
    def network(self, network: NetworkView) -> None:
        # A reloaded network numbers its trips anew (and the old one is let go).
        self._network = network
        self._sequences = {}

    def apply(
        self,
        uow: UnitOfWork,
        res: Reservation,
        trigger: Trigger,
        cause: str,
        *,
        vehicle_id: str | object | None = ...,
        reason: str | object | None = ...,
    ) -> None:
        """Move ``res`` by ``trigger`` (IllegalTransitionError if not allowed) and emit."""
        prev_status = res.status
        prev_vehicle = res.vehicle_id
        res.status = next_status(prev_status, trigger)
        if vehicle_id is not ...:
            res.vehicle_id = vehicle_id  # type: ignore[assignment]
        if reason is not ...:
            res.reason = reason  # type: ignore[assignment]
        now = utcnow()
        res.updated_at = now
        res.status_since = now
        if trigger is Trigger.ACK:
            res.acknowledged_at = now
            res.ack_overdue = False
        if trigger is Trigger.ASSIGN:
            res.alerted_at = now
            res.acknowledged_at = None
            res.ack_overdue = False
        if res.status.is_final or res.status in (S.BOARDED, S.RIDING):
            res.eta_s = None
        if res.id not in uow.changes.created:  # a new one is written whole at the end
            uow.session.add(res)
        uow.add_event(res.id, res.status, now, cause)
        uow.changes.history.append((res, prev_status, res.status, cause))
        logger.info(
            "reservation %s: %s -> %s (%s)",
            res.id,
            prev_status.value,
            res.status.value,
            cause,
            extra={"reservation_id": str(res.id), "vehicle_id": res.vehicle_id},
        )
        self._emit(uow, res, prev_status, prev_vehicle)

    def refresh(self, uow: UnitOfWork, res: Reservation) -> None:
        """Re-publish the live call and alert after a change without a transition (ETA)."""
        res.updated_at = utcnow()
        if res.id not in uow.changes.created:
            uow.session.add(res)
        self._emit(uow, res, res.status, res.vehicle_id)

    def record_created(self, uow: UnitOfWork, res: Reservation, cause: str) -> None:
        """The first history row and the first StopCall of a new reservation."""
        uow.add_created(res)
        uow.add_event(res.id, res.status, res.created_at, cause)
        self._emit(uow, res, None, None)

    # -- messages -----------------------------------------------------------------------
    def _emit(
        self,
        uow: UnitOfWork,
        res: Reservation,
        prev_status: ReservationStatus | None,
        prev_vehicle: str | None,
    ) -> None:
        uow.changes.reservations.add(res.id)
        uow.changes.touched[res.id] = res
        stop_live = res.status in STOP_CALL_STATUSES
        was_stop_live = prev_status in STOP_CALL_STATUSES
        if stop_live or was_stop_live:
            self._publish(
                uow,
                self.topics.stop_call(res.stop_id, res.id),
                self.stop_call(res),
                res,
                final=not stop_live,
            )
        now_alert = res.vehicle_id is not None and res.status in ALERT_STATUSES
        was_alert = prev_vehicle is not None and prev_status in ALERT_STATUSES
        if (
            was_alert
            and prev_vehicle is not None
            and (not now_alert or prev_vehicle != res.vehicle_id)
        ):
            self._publish(
                uow,
                self.topics.vehicle_alert(prev_vehicle, res.id),
                self.driver_alert(res, prev_vehicle),
                res,
                final=True,
            )
        if now_alert and res.vehicle_id is not None:
            self._publish(
                uow,
                self.topics.vehicle_alert(res.vehicle_id, res.id),
                self.driver_alert(res, res.vehicle_id),
                res,
                final=False,
            )

    def _publish(
        self,
        uow: UnitOfWork,
        topic: str,
        message: StopCall | DriverAlert,
        res: Reservation,
        *,
        final: bool,
    ) -> None:
        # A clear can only be waiting for this topic after an earlier message of the
        # same reservation: the first message skips the check.
        uow.enqueue(
            topic,
            message,
            reservation_id=res.id,
            retain=True,
            supersede=message.seq > 1,
            # A miss is heard on its own (the stop says why), even when the booking
            # goes back to waiting or to the next bus in the same transaction.
            coalesce=message.status is not S.MISSED,
        )
        if final:
            # The ending is heard by devices online now, then cleared so that one
            # reconnecting later sees nothing stale.
            uow.enqueue(
                topic,
                None,
                reservation_id=res.id,
                retain=True,
                delay_s=FINAL_CLEAR_DELAY_S,
                supersede=False,  # the message just written already superseded any clear
            )

    def _next_seq(self, res: Reservation) -> int:
        res.seq += 1
        return res.seq

    def stop_call(self, res: Reservation) -> StopCall:
        route = self.network.routes.get(res.route_id)
        direction = self.network.direction(res.route_id, res.direction_id)
        route_name = route.display_name if route else Localized.same(res.route_id)
        headsign = direction.headsign if direction else Localized.same("")
        lang = pick_lang(res.rider_lang)
        return StopCall(
            reservation_id=res.id,
            seq=self._next_seq(res),
            status=res.status,
            route_id=res.route_id,
            route_name=route_name,
            headsign=headsign,
            vehicle_id=res.vehicle_id,
            eta_s=res.eta_s,
            rider_lang=lang,
            updated_at=res.updated_at,
            direction_id=1 if res.direction_id == 1 else 0,
            reason=res.reason,
            route_tts=route.tts if route else None,
        )

    def _dropoff_sequence(
        self, res: Reservation, vehicle_id: str, pickup_sequence: int, stop_id: str, position: int
    ) -> int:
        """The drop-off stop's ``stop_sequence`` counted as the pick-up's was.

        The display orders its cards by ``stop_sequence``, so a drop-off must be counted
        in the same trip as the pick-ups beside it: the pick-up's sequence (stored at
        assignment) came from the bus's GTFS trip, or from the route's stop order when
        the bus named no trip. Route order would put a drop-off before earlier stops on
        a feed numbering its stops 10, 20, 30... The bus's own trip counts first; else a
        trip of the route direction that numbers the pick-up stop the same way.
        """
        trip_id = self.trip_of(vehicle_id)
        trip = self.network.trips.get(trip_id) if trip_id else None
        if trip is not None:
            in_trip = _sequence_after(trip, res.stop_id, pickup_sequence, stop_id)
            if in_trip >= 0:
                return in_trip
        key = (res.route_id, res.direction_id, res.stop_id, pickup_sequence, stop_id)
        found = self._sequences.get(key)
        if found is None:
            found = self._find_dropoff_sequence(res, pickup_sequence, stop_id)
            if len(self._sequences) >= _SEQUENCE_CACHE:
                self._sequences.clear()
            self._sequences[key] = found
        if found >= 0:
            return found
        # No trip of the route has both stops so: the route's order, counted on from the
        # pick-up (still after it, and after the stops between).
        direction = self.network.direction(res.route_id, res.direction_id)
        pickup_position = direction.positions.get(res.stop_id, 0) if direction else 0
        return pickup_sequence + max(position - pickup_position, 0)

    def _find_dropoff_sequence(self, res: Reservation, pickup_sequence: int, stop_id: str) -> int:
        """``stop_id``'s sequence in a trip where the pick-up stop has ``pickup_sequence``
        and the drop-off comes after it; -1 if no trip of the route direction has that."""
        network = self.network
        for trip_id in network.trips_by_direction.get((res.route_id, res.direction_id), ()):
            found = _sequence_after(network.trips[trip_id], res.stop_id, pickup_sequence, stop_id)
            if found >= 0:
                return found
        return -1

    def driver_alert(self, res: Reservation, vehicle_id: str) -> DriverAlert:
        dropoff = res.status in (S.RIDING, S.ALIGHTING) or (
            res.status is S.COMPLETED and res.destination_stop_id is not None
        )
        stop_id = res.destination_stop_id if dropoff and res.destination_stop_id else res.stop_id
        stop = self.network.stops.get(stop_id)
        route = self.network.routes.get(res.route_id)
        direction = self.network.direction(res.route_id, res.direction_id)
        position = direction.positions.get(stop_id, 0) if direction else 0
        if res.stop_sequence is None:
            sequence = position
        elif dropoff:
            sequence = self._dropoff_sequence(res, vehicle_id, res.stop_sequence, stop_id, position)
        else:
            sequence = res.stop_sequence
        previous = (
            self.network.stops.get(direction.stop_ids[position - 1])
            if direction and position > 0
            else None
        )
        destination = (
            self.network.stops.get(res.destination_stop_id)
            if res.destination_stop_id and not dropoff
            else None
        )
        return DriverAlert(
            reservation_id=res.id,
            seq=self._next_seq(res),
            kind="dropoff" if dropoff else "pickup",
            status=res.status,
            stop_id=stop_id,
            stop_name=stop.name if stop else Localized.same(stop_id),
            stop_sequence=sequence,
            eta_s=res.eta_s if not dropoff else None,
            note=res.note,
            route_id=res.route_id,
            updated_at=res.updated_at,
            reminder=res.ack_overdue,
            route_name=route.display_name if route else None,
            headsign=direction.headsign if direction else None,
            needs=needs_from_column(res.needs),
            destination_name=destination.name if destination else None,
            previous_stop_name=previous.name if previous else None,
        )


def _sequence_after(trip: TripInfo, pickup: str, pickup_sequence: int, stop_id: str) -> int:
    """``stop_id``'s sequence in ``trip`` if ``pickup`` has ``pickup_sequence`` there and
    ``stop_id`` comes after it; else -1."""
    i = trip.index_of_sequence(pickup_sequence)
    if i is None or trip.stops[i].stop_id != pickup:
        return -1
    j = trip.index_of_stop(stop_id, i + 1)
    return trip.stops[j].stop_sequence if j is not None else -1
