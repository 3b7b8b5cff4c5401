"""A GTFS-Realtime feed's entities to BusHail positions. Pure: no I/O.

Each usable entity becomes the ``VehiclePosition`` a bus would have sent itself: route
and direction (from the static trip when the feed names a known one, else from its trip
descriptor), the stop it is at or heading to (its ``stop_id``, else its
``current_stop_sequence`` in the trip, else the stop ahead of its coordinates along the
trip), its status (GTFS-Realtime's default ``IN_TRANSIT_TO`` when absent) and its own
timestamp (else the feed header's). What cannot be placed on the loaded network is
counted by kind (:data:`ENTITY_PROBLEMS`) and left out; nothing here raises on a bad
entity.

A TripUpdates feed adds two things: the trip of a vehicle whose position names none, and
a coarse position (in transit to the next stop with a time still ahead) for a vehicle
that no VehiclePositions feed reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from broker_config.messages import VehiclePosition, VehicleStopStatus
from rider_api.dispatch.fleet import haversine_m
from rider_api.feeds.mapping import VehicleMapping
from rider_api.network.view import DirectionInfo, NetworkView, TripInfo

__all__ = [
    "ENTITY_PROBLEMS",
    "Decoded",
    "header_problem",
    "trip_updates",
    "vehicle_positions",
]

#: Why an entity was left out (metric label ``kind``; each logged once per feed).
ENTITY_PROBLEMS: Final = (
    "no_vehicle_id",
    "bad_vehicle_id",
    "stale",
    "future",
    "unknown_trip",
    "unknown_route",
    "no_direction",
    "unknown_stop",
    "no_stop",
    "invalid",
)
SUPPORTED_MAJOR_VERSIONS: Final = frozenset({"1", "2"})
_STATUS: Final = {
    0: VehicleStopStatus.INCOMING_AT,
    1: VehicleStopStatus.STOPPED_AT,
    2: VehicleStopStatus.IN_TRANSIT_TO,
}


@dataclass
class Decoded:
    """What one fetched feed gives: the latest position of each bus, and what it cost."""

    #: BusHail vehicle id -> its position (the newest when a feed repeats a vehicle).
    positions: dict[str, VehiclePosition] = field(default_factory=dict)
    #: Entities left out, by kind.
    problems: Counter[str] = field(default_factory=Counter)
    #: Entities of the kind the feed is read for (vehicles, or trip updates).
    entities: int = 0
    #: Feed vehicle id -> trip id (TripUpdates only).
    trips: dict[str, str] = field(default_factory=dict)

    def keep(self, vehicle_id: str, position: VehiclePosition) -> None:
        old = self.positions.get(vehicle_id)
        if old is None or position.timestamp >= old.timestamp:
            self.positions[vehicle_id] = position


def header_problem(feed: Any) -> str | None:
    """``wrong_version`` for a feed this reader does not speak, else None."""
    version = str(feed.header.gtfs_realtime_version or "")
    if version.split(".", 1)[0] not in SUPPORTED_MAJOR_VERSIONS:
        return "wrong_version"
    return None


def _timestamp(entity_ts: int, feed: Any, now: float) -> float:
    if entity_ts:
        return float(entity_ts)
    if feed.header.timestamp:
        return float(feed.header.timestamp)
    return now  # neither says: as of the fetch


def _age_problem(ts: float, now: float, max_age_s: float, max_future_s: float) -> str | None:
    if now - ts > max_age_s:
        return "stale"
    if ts - now > max_future_s:
        return "future"
    return None


def _feed_vehicle_id(descriptor: Any) -> str:
    return str(descriptor.id or descriptor.label or "")


def _ahead_of(network: NetworkView, stop_ids: tuple[str, ...], lat: float, lon: float) -> int:
    """The index of the stop ahead of a point: the far end of the segment it lies closest
    to (the smallest detour through it)."""
    if len(stop_ids) < 2:
        return 0
    best, best_cost = 1, float("inf")
    for i in range(len(stop_ids) - 1):
        a, b = network.stops.get(stop_ids[i]), network.stops.get(stop_ids[i + 1])
        if a is None or b is None:
            continue
        cost = (
            haversine_m(lat, lon, a.lat, a.lon)
            + haversine_m(lat, lon, b.lat, b.lon)
            - haversine_m(a.lat, a.lon, b.lat, b.lon)
        )
        if cost < best_cost:
            best, best_cost = i + 1, cost
    return best


def _coords(
    network: NetworkView, stop_ids: tuple[str, ...], index: int, status: VehicleStopStatus
) -> tuple[float, float] | None:
    """Where a bus without coordinates is taken to be: at its stop when stopped there,
    else half way from the previous one (the ETA's own guess for an unknown place)."""
    here = network.stops.get(stop_ids[index])
    if here is None:
        return None
    before = network.stops.get(stop_ids[index - 1]) if index > 0 else None
    if status is VehicleStopStatus.STOPPED_AT or before is None:
        return here.lat, here.lon
    return (here.lat + before.lat) / 2, (here.lon + before.lon) / 2


@dataclass(frozen=True, slots=True)
class _Place:
    route_id: str
    direction_id: int
    trip: TripInfo | None
    direction: DirectionInfo


def _place(network: NetworkView, trip_id: str, descriptor: Any) -> _Place | str:
    """Route, direction and trip of an entity, or the problem's kind."""
    trip = network.trips.get(trip_id) if trip_id else None
    if trip is not None:
        direction = network.direction(trip.route_id, trip.direction_id)
        if direction is None:
            return "unknown_route"
        return _Place(trip.route_id, trip.direction_id, trip, direction)
    route_id = str(descriptor.route_id or "")
    if route_id not in network.routes:
        # An unknown trip on a known route still places the bus (progress then comes
        # from the route's stop order, as for an onboard unit's unknown trip).
        return "unknown_trip" if trip_id else "unknown_route"
    if descriptor.HasField("direction_id"):
        direction_id = int(descriptor.direction_id)
    else:
        ways = [d for (r, d) in network.directions if r == route_id]
        if len(ways) != 1:
            return "no_direction"
        direction_id = ways[0]
    direction = network.direction(route_id, direction_id)
    if direction is None:
        return "no_direction"
    return _Place(route_id, direction_id, None, direction)


def _position(
    network: NetworkView,
    place: _Place,
    *,
    stop_id: str,
    stop_sequence: int | None,
    status: VehicleStopStatus,
    point: tuple[float, float] | None,
    timestamp: float,
) -> VehiclePosition | str:
    """The VehiclePosition of a placed entity, or the problem's kind."""
    trip, direction = place.trip, place.direction
    order = tuple(s.stop_id for s in trip.stops) if trip else direction.stop_ids
    index: int | None = None
    if stop_id:
        if stop_id not in direction.positions:
            return "unknown_stop"
        index = trip.index_of_stop(stop_id) if trip else direction.positions[stop_id]
    elif stop_sequence is not None and trip is not None:
        index = trip.index_of_sequence(stop_sequence)
    elif point is not None:
        index = _ahead_of(network, order, *point)
        status = VehicleStopStatus.IN_TRANSIT_TO
    if index is None or not order:
        return "no_stop"
    point = point or _coords(network, order, index, status)
    if point is None:
        return "unknown_stop"
    try:
        return VehiclePosition(
            route_id=place.route_id,
            direction_id=1 if place.direction_id else 0,
            trip_id=trip.trip_id if trip else None,
            lat=point[0],
            lon=point[1],
            stop_id=order[index],
            current_stop_sequence=trip.stops[index].stop_sequence if trip else index,
            current_status=status,
            timestamp=timestamp,
        )
    except ValidationError:
        return "invalid"


def _point(vp: Any) -> tuple[float, float] | None:
    if not vp.HasField("position"):
        return None
    lat, lon = float(vp.position.latitude), float(vp.position.longitude)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lat, lon


def vehicle_positions(
    feed: Any,
    *,
    network: NetworkView,
    mapping: VehicleMapping,
    now: float,
    max_age_s: float,
    max_future_s: float,
    trips_of: Mapping[str, str] | None = None,
) -> Decoded:
    """The positions of a VehiclePositions feed (``feed``: a parsed ``FeedMessage``).

    ``trips_of``: feed vehicle id -> trip id from a TripUpdates feed, for a vehicle whose
    position names no trip."""
    out = Decoded()
    for entity in feed.entity:
        if not entity.HasField("vehicle") or entity.is_deleted:
            continue
        out.entities += 1
        vp = entity.vehicle
        feed_id = _feed_vehicle_id(vp.vehicle)
        if not feed_id:
            out.problems["no_vehicle_id"] += 1
            continue
        vehicle_id = mapping.bushail_id(feed_id)
        if vehicle_id is None:
            out.problems["bad_vehicle_id"] += 1
            continue
        ts = _timestamp(vp.timestamp, feed, now)
        if (problem := _age_problem(ts, now, max_age_s, max_future_s)) is not None:
            out.problems[problem] += 1
            continue
        trip_id = str(vp.trip.trip_id or "") or (trips_of or {}).get(feed_id, "")
        place = _place(network, trip_id, vp.trip)
        if isinstance(place, str):
            out.problems[place] += 1
            continue
        if trip_id and place.trip is None:
            out.problems["unknown_trip"] += 1  # counted, yet placed by its route
        result = _position(
            network,
            place,
            stop_id=str(vp.stop_id or ""),
            stop_sequence=int(vp.current_stop_sequence)
            if vp.HasField("current_stop_sequence")
            else None,
            status=_STATUS.get(int(vp.current_status), VehicleStopStatus.IN_TRANSIT_TO),
            point=_point(vp),
            timestamp=ts,
        )
        if isinstance(result, str):
            out.problems[result] += 1
            continue
        out.keep(vehicle_id, result)
    return out


def _event_time(stu: Any) -> int:
    for name in ("arrival", "departure"):
        if stu.HasField(name) and getattr(stu, name).HasField("time"):
            return int(getattr(stu, name).time)
    return 0


def trip_updates(
    feed: Any,
    *,
    network: NetworkView,
    mapping: VehicleMapping,
    now: float,
    max_age_s: float,
    max_future_s: float,
    reported: Container[str] = (),
) -> Decoded:
    """Trips of vehicles, and coarse positions of those not in ``reported`` (BusHail ids
    a VehiclePositions feed gives positions of), from a TripUpdates feed."""
    out = Decoded()
    for entity in feed.entity:
        if not entity.HasField("trip_update") or entity.is_deleted:
            continue
        out.entities += 1
        tu = entity.trip_update
        trip_id = str(tu.trip.trip_id or "")
        trip = network.trips.get(trip_id)
        if trip is None:
            out.problems["unknown_trip"] += 1
            continue
        feed_id = _feed_vehicle_id(tu.vehicle) if tu.HasField("vehicle") else ""
        if not feed_id:
            continue  # a prediction for a trip, no bus named: nothing for the fleet view
        out.trips[feed_id] = trip_id
        vehicle_id = mapping.bushail_id(feed_id)
        if vehicle_id is None:
            out.problems["bad_vehicle_id"] += 1
            continue
        if vehicle_id in reported:
            continue
        ts = _timestamp(tu.timestamp, feed, now)
        if (problem := _age_problem(ts, now, max_age_s, max_future_s)) is not None:
            out.problems[problem] += 1
            continue
        upcoming = next((s for s in tu.stop_time_update if _event_time(s) >= now), None)
        if upcoming is None:
            continue  # every predicted time has passed: the trip is over
        place = _place(network, trip_id, tu.trip)
        if isinstance(place, str):
            out.problems[place] += 1
            continue
        result = _position(
            network,
            place,
            stop_id=str(upcoming.stop_id or ""),
            stop_sequence=int(upcoming.stop_sequence)
            if upcoming.HasField("stop_sequence")
            else None,
            status=VehicleStopStatus.IN_TRANSIT_TO,
            point=None,
            timestamp=ts,
        )
        if isinstance(result, str):
            out.problems[result] += 1
            continue
        out.keep(vehicle_id, result)
    return out
