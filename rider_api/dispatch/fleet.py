"""The live fleet view and the ETA / assignment maths. Pure: no I/O.

Progress along a route is the vehicle's stop (``stop_id`` / ``current_stop_sequence``)
placed on the route direction's stop order; lat/lon only refine the ETA.

ETA method (documented in docs/dispatch.md):
1. Schedule: with the vehicle's trip known, the scheduled time between its current stop
   and the target stop comes from that trip's stop_times; otherwise from a trip of the
   same route and direction; without schedules, ``default_stop_s`` per stop.
2. Position: while IN_TRANSIT_TO / INCOMING_AT its current stop, the vehicle still has
   part of the previous segment to cover: the remaining fraction is the straight-line
   distance to the stop over the segment's length (shape distances where the feed has
   them), times that segment's scheduled time. At STOPPED_AT, the dwell is over when it
   leaves, so nothing is added.
3. The schedule's shape, not its clock: lateness does not matter, only the running times
   between stops, so a late bus gets an honest ETA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from broker_config.messages import VehiclePosition, VehicleStopStatus
from rider_api.network.view import DirectionInfo, NetworkView, TripInfo

__all__ = ["FleetView", "VehicleState", "choose_vehicle", "eta_seconds", "haversine_m"]

DEFAULT_STOP_S = 90


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@dataclass(slots=True)
class VehicleState:
    vehicle_id: str
    position: VehiclePosition
    #: Index of the vehicle's current stop in the route direction's stop order.
    index: int | None
    #: Monotonic time the position was received (for staleness).
    received: float

    @property
    def route_key(self) -> tuple[str, int]:
        return (self.position.route_id, self.position.direction_id)

    @property
    def status(self) -> VehicleStopStatus:
        return self.position.current_status


@dataclass
class FleetView:
    """The latest position of every vehicle, indexed by route and direction."""

    network: NetworkView
    vehicles: dict[str, VehicleState] = field(default_factory=dict)
    by_route: dict[tuple[str, int], set[str]] = field(default_factory=dict)

    def update(self, vehicle_id: str, pos: VehiclePosition, now: float) -> VehicleState | None:
        """Apply a position; None when it is older than the last one (dropped)."""
        old = self.vehicles.get(vehicle_id)
        if old is not None and pos.timestamp < old.position.timestamp:
            return None
        direction = self.network.direction(pos.route_id, pos.direction_id)
        index = direction.positions.get(pos.stop_id) if direction else None
        state = VehicleState(vehicle_id, pos, index, now)
        if old is not None and old.route_key != state.route_key:
            self.by_route.get(old.route_key, set()).discard(vehicle_id)
        self.vehicles[vehicle_id] = state
        self.by_route.setdefault(state.route_key, set()).add(vehicle_id)
        return state

    def fresh_on(
        self, route_id: str, direction_id: int, now: float, staleness_s: float
    ) -> list[VehicleState]:
        return [
            v
            for vid in self.by_route.get((route_id, direction_id), ())
            if (v := self.vehicles[vid]).index is not None and now - v.received <= staleness_s
        ]


def has_passed(vehicle: VehicleState, stop_index: int) -> bool:
    """True once the vehicle is at or beyond the stop (it can no longer be alerted for it)."""
    if vehicle.index is None:
        return True
    if vehicle.index > stop_index:
        return True
    return vehicle.index == stop_index and vehicle.status is VehicleStopStatus.STOPPED_AT


def _trip_for(
    network: NetworkView, vehicle: VehicleState, direction: DirectionInfo
) -> TripInfo | None:
    pos = vehicle.position
    if pos.trip_id and pos.trip_id in network.trips:
        return network.trips[pos.trip_id]
    trip_ids = network.trips_by_direction.get((direction.route_id, direction.direction_id), [])
    best: TripInfo | None = None
    for trip_id in trip_ids:
        trip = network.trips[trip_id]
        if best is None or len(trip.stops) > len(best.stops):
            best = trip
    return best


def eta_seconds(
    network: NetworkView, vehicle: VehicleState, stop_id: str, default_stop_s: int = DEFAULT_STOP_S
) -> int | None:
    """Seconds until ``vehicle`` reaches ``stop_id``; None if it has passed or is off-route."""
    direction = network.direction(vehicle.position.route_id, vehicle.position.direction_id)
    if direction is None or vehicle.index is None:
        return None
    target = direction.positions.get(stop_id)
    if target is None or vehicle.index > target:
        return None
    at_target = vehicle.index == target
    if at_target and vehicle.status is VehicleStopStatus.STOPPED_AT:
        return 0
    trip = _trip_for(network, vehicle, direction)
    cur_stop = direction.stop_ids[vehicle.index]
    ti_cur = trip.index_of_stop(cur_stop) if trip else None
    ti_target = trip.index_of_stop(stop_id, ti_cur or 0) if trip and ti_cur is not None else None
    if trip is None or ti_cur is None or ti_target is None:
        remaining = (target - vehicle.index) * default_stop_s
        if vehicle.status is not VehicleStopStatus.STOPPED_AT:
            remaining += default_stop_s // 2
        return max(0, remaining)
    stops = trip.stops
    base = stops[ti_target].arrival_s - stops[ti_cur].departure_s
    if vehicle.status is VehicleStopStatus.STOPPED_AT:
        return max(0, base)
    # Still on the way to the current stop: add the uncovered part of the segment.
    base = stops[ti_target].arrival_s - stops[ti_cur].arrival_s
    if ti_cur == 0:
        return max(0, base)
    prev, cur = stops[ti_cur - 1], stops[ti_cur]
    seg_s = max(0, cur.arrival_s - prev.departure_s)
    prev_info, cur_info = network.stops.get(prev.stop_id), network.stops.get(cur.stop_id)
    frac = 0.5
    if prev_info and cur_info:
        seg_m = haversine_m(prev_info.lat, prev_info.lon, cur_info.lat, cur_info.lon)
        to_go = haversine_m(vehicle.position.lat, vehicle.position.lon, cur_info.lat, cur_info.lon)
        if seg_m > 1:
            frac = min(1.0, to_go / seg_m)
    return max(0, base + round(frac * seg_s))


def choose_vehicle(
    network: NetworkView,
    candidates: Sequence[VehicleState],
    stop_id: str,
    *,
    warning_s: int,
    exclude: frozenset[str] = frozenset(),
) -> tuple[VehicleState, int] | None:
    """The vehicle that will reach the stop next and has not passed it.

    Prefer vehicles that leave the driver at least ``warning_s``; if none does, the
    nearest. Ties between equally near vehicles go to the fresher position.
    """
    direction = None
    scored: list[tuple[int, float, VehicleState]] = []
    for vehicle in candidates:
        if vehicle.vehicle_id in exclude:
            continue
        direction = direction or network.direction(
            vehicle.position.route_id, vehicle.position.direction_id
        )
        if direction is None:
            return None
        target = direction.positions.get(stop_id)
        if target is None or has_passed(vehicle, target):
            continue
        eta = eta_seconds(network, vehicle, stop_id)
        if eta is None:
            continue
        scored.append((eta, -vehicle.position.timestamp, vehicle))
    if not scored:
        return None
    scored.sort(key=lambda t: (t[0], t[1]))
    with_warning = [t for t in scored if t[0] >= warning_s]
    eta, _neg_ts, chosen = (with_warning or scored)[0]
    return chosen, eta
