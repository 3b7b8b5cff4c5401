"""A drop-off's ``stop_sequence`` is counted as the pick-ups' are (pure: no broker, no database).

The onboard display orders its cards by ``stop_sequence``. Pick-ups carry the stop's
sequence in the bus's GTFS trip; a drop-off carried the stop's place in the route, so on
a feed numbering its stops 10, 20, 30... a drop-off at the last stop came first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from broker_config.messages import Localized, ReservationStatus
from broker_config.topics import Topics
from driver_display.alerts import ordered
from rider_api.models import Reservation
from rider_api.network.view import DirectionInfo, NetworkView, StopInfo, TripInfo, TripStop
from rider_api.reservations.changes import Changes

S = ReservationStatus
ORDER = ("A", "B", "C", "D", "E")
NOW = dt.datetime(2024, 5, 6, 4, 0, tzinfo=dt.UTC)


def network() -> NetworkView:
    net = NetworkView()
    for i, sid in enumerate(ORDER):
        net.stops[sid] = StopInfo(sid, Localized.same(sid), None, 25.0 + i / 100, 121.5)
    net.directions[("R", 0)] = DirectionInfo(
        "R", 0, Localized.same("E"), ORDER, {s: i for i, s in enumerate(ORDER)}
    )
    # A short turn numbered from 1 first, then the full trip numbered 10, 20, 30...
    short = tuple(TripStop(i + 1, sid, i * 120, i * 120, None) for i, sid in enumerate(ORDER[:3]))
    full = tuple(TripStop((i + 1) * 10, sid, i * 120, i * 120, None) for i, sid in enumerate(ORDER))
    net.trips["SHORT"] = TripInfo("SHORT", "R", 0, "ALL", short)
    net.trips["FULL"] = TripInfo("FULL", "R", 0, "ALL", full)
    net.trips_by_direction[("R", 0)] = ["SHORT", "FULL"]
    return net


def reservation(stop_id: str, status: ReservationStatus, **kw: Any) -> Reservation:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "rider_id": uuid.uuid4(),
        "stop_id": stop_id,
        "route_id": "R",
        "direction_id": 0,
        "status": status,
        "expires_at": NOW + dt.timedelta(hours=1),
        "vehicle_id": "V1",
        "eta_s": 60,
    }
    return Reservation(**(values | kw))


def test_dropoff_is_counted_in_the_pickups_trip_and_the_cards_keep_route_order() -> None:
    changes = Changes(Topics(), network())
    riding = reservation("B", S.RIDING, destination_stop_id="E", stop_sequence=20)
    next_pickup = reservation("C", S.ASSIGNED, stop_sequence=30)
    later_pickup = reservation("D", S.ASSIGNED, stop_sequence=40, eta_s=300)
    dropoff = changes.driver_alert(riding, "V1")
    assert (dropoff.kind, dropoff.stop_id, dropoff.stop_sequence) == ("dropoff", "E", 50)
    cards = ordered(
        [dropoff, changes.driver_alert(later_pickup, "V1"), changes.driver_alert(next_pickup, "V1")]
    )
    assert [(c.kind, c.stop_id) for c in cards] == [
        ("pickup", "C"),
        ("pickup", "D"),
        ("dropoff", "E"),
    ]


def test_the_trip_is_the_one_whose_pickup_has_that_sequence() -> None:
    changes = Changes(Topics(), network())
    # Sequence 2 at B is the short turn's; the drop-off C is its third stop.
    on_short = reservation("B", S.RIDING, destination_stop_id="C", stop_sequence=2)
    assert changes.driver_alert(on_short, "V1").stop_sequence == 3
    # The same stops on the full trip.
    on_full = reservation("B", S.RIDING, destination_stop_id="C", stop_sequence=20)
    assert changes.driver_alert(on_full, "V1").stop_sequence == 30


def test_without_a_matching_trip_the_route_order_counts_on_from_the_pickup() -> None:
    changes = Changes(Topics(), network())
    # The bus named no trip: its pick-up was counted by route position (B is 1).
    by_position = reservation("B", S.RIDING, destination_stop_id="E", stop_sequence=1)
    assert changes.driver_alert(by_position, "V1").stop_sequence == 4
    # A sequence no trip has at B (a feed reloaded since): still after the pick-up.
    unknown = reservation("B", S.RIDING, destination_stop_id="D", stop_sequence=25)
    assert changes.driver_alert(unknown, "V1").stop_sequence == 27


def test_the_buss_own_trip_counts_first() -> None:
    net = network()
    # A variant numbered as FULL up to B and differently after (a short cut past C).
    variant = (
        TripStop(10, "A", 0, 0, None),
        TripStop(20, "B", 120, 120, None),
        TripStop(25, "D", 240, 240, None),
        TripStop(35, "E", 360, 360, None),
    )
    net.trips["VARIANT"] = TripInfo("VARIANT", "R", 0, "ALL", variant)
    net.trips_by_direction[("R", 0)].append("VARIANT")
    changes = Changes(Topics(), net)
    riding = reservation("B", S.RIDING, destination_stop_id="E", stop_sequence=20)
    assert changes.driver_alert(riding, "V1").stop_sequence == 50  # the first such trip
    changes.trip_of = {"V1": "VARIANT"}.get
    assert changes.driver_alert(riding, "V1").stop_sequence == 35  # the bus runs the variant
    changes.trip_of = {"V1": "UNKNOWN-TRIP"}.get
    assert changes.driver_alert(riding, "V1").stop_sequence == 50


def test_a_reloaded_network_is_looked_up_afresh() -> None:
    changes = Changes(Topics(), network())
    riding = reservation("B", S.RIDING, destination_stop_id="E", stop_sequence=20)
    assert changes.driver_alert(riding, "V1").stop_sequence == 50
    # The same pick-up numbering, E renumbered: the remembered 50 must not survive.
    renumbered = network()
    full = renumbered.trips["FULL"]
    stops = tuple(
        TripStop(55 if s.stop_id == "E" else s.stop_sequence, s.stop_id, 0, 0, None)
        for s in full.stops
    )
    renumbered.trips["FULL"] = TripInfo("FULL", "R", 0, "ALL", stops)
    changes.network = renumbered
    assert changes.driver_alert(riding, "V1").stop_sequence == 55
