"""BusHail's own GTFS-Realtime feeds, built from the fleet view. Pure: no I/O.

- VehiclePositions: every bus with a fresh position on a known route (the onboard units'
  and the agency feeds' alike, after arbitration), as the fleet view has it.
- TripUpdates: for every such bus on a trip of the static feed, BusHail's ETA (the
  dispatcher's own maths, ``fleet.eta_seconds``) to each stop still ahead, as absolute
  arrival times that never decrease along the trip.

Timestamps are POSIX seconds and never later than the header's (a bus whose clock runs
ahead is published as of now). The header says GTFS-Realtime 2.0, FULL_DATASET.
"""

from __future__ import annotations

from typing import Any, Final

from google.transit import gtfs_realtime_pb2

from broker_config.messages import VehicleStopStatus
from rider_api.dispatch.fleet import FleetView, VehicleState, eta_seconds
from rider_api.network.view import NetworkView

__all__ = ["GTFS_RT_VERSION", "new_feed", "trip_updates_feed", "vehicle_positions_feed"]

GTFS_RT_VERSION: Final = "2.0"
_STATUS: Final = {
    VehicleStopStatus.INCOMING_AT: 0,
    VehicleStopStatus.STOPPED_AT: 1,
    VehicleStopStatus.IN_TRANSIT_TO: 2,
}


def new_feed(now: float) -> Any:
    """An empty FeedMessage with its header: version 2.0, FULL_DATASET, ``now``."""
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = GTFS_RT_VERSION
    feed.header.incrementality = gtfs_realtime_pb2.FeedHeader.FULL_DATASET
    feed.header.timestamp = int(now)
    return feed


def _published(
    fleet: FleetView, network: NetworkView, now_mono: float, staleness_s: float
) -> list[VehicleState]:
    """The buses worth publishing: fresh, placed on a route of the static feed."""
    return [
        v
        for _vid, v in sorted(fleet.vehicles.items())
        if v.index is not None
        and now_mono - v.received <= staleness_s
        and v.position.route_id in network.routes
    ]


def _trip(descriptor: Any, network: NetworkView, vehicle: VehicleState) -> None:
    pos = vehicle.position
    if pos.trip_id and pos.trip_id in network.trips:
        descriptor.trip_id = pos.trip_id
    descriptor.route_id = pos.route_id
    descriptor.direction_id = pos.direction_id


def vehicle_positions_feed(
    *, fleet: FleetView, network: NetworkView, now: float, now_mono: float, staleness_s: float
) -> Any:
    feed = new_feed(now)
    for vehicle in _published(fleet, network, now_mono, staleness_s):
        pos = vehicle.position
        entity = feed.entity.add()
        entity.id = vehicle.vehicle_id
        vp = entity.vehicle
        _trip(vp.trip, network, vehicle)
        vp.vehicle.id = vehicle.vehicle_id
        vp.position.latitude = pos.lat
        vp.position.longitude = pos.lon
        vp.stop_id = pos.stop_id
        if vp.trip.trip_id:
            # Without a known trip the sequence is only a place in the route's order.
            vp.current_stop_sequence = pos.current_stop_sequence
        vp.current_status = _STATUS[pos.current_status]
        vp.timestamp = min(int(pos.timestamp), int(now))
    return feed


def trip_updates_feed(
    *, fleet: FleetView, network: NetworkView, now: float, now_mono: float, staleness_s: float
) -> Any:
    feed = new_feed(now)
    for vehicle in _published(fleet, network, now_mono, staleness_s):
        pos = vehicle.position
        trip = network.trips.get(pos.trip_id or "")
        if trip is None:
            continue
        here = trip.index_of_sequence(pos.current_stop_sequence)
        if here is None or trip.stops[here].stop_id != pos.stop_id:
            here = trip.index_of_stop(pos.stop_id)
        if here is None:
            continue
        first = here + 1 if pos.current_status is VehicleStopStatus.STOPPED_AT else here
        entity = feed.entity.add()
        entity.id = vehicle.vehicle_id
        tu = entity.trip_update
        _trip(tu.trip, network, vehicle)
        tu.vehicle.id = vehicle.vehicle_id
        tu.timestamp = min(int(pos.timestamp), int(now))
        last = int(now)
        for stop in trip.stops[first:]:
            eta = eta_seconds(network, vehicle, stop.stop_id)
            if eta is None:
                continue
            last = max(last, int(now) + eta)
            update = tu.stop_time_update.add()
            update.stop_sequence = stop.stop_sequence
            update.stop_id = stop.stop_id
            update.arrival.time = last
        if not tu.stop_time_update:
            del feed.entity[-1]
    return feed
