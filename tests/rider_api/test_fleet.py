"""Pure unit tests of the fleet view, the ETA maths and the vehicle choice (no I/O).

The network: route R, direction 0, stops A -> B -> C -> D on a line of longitude,
scheduled 120 s apart (arrive at i * 120 s, leave 20 s later).
"""

from __future__ import annotations

import pytest

from broker_config.messages import Localized, VehiclePosition, VehicleStopStatus
from rider_api.dispatch.fleet import (
    DEFAULT_STOP_S,
    FleetView,
    VehicleState,
    choose_vehicle,
    eta_seconds,
    has_passed,
)
from rider_api.network.view import DirectionInfo, NetworkView, StopInfo, TripInfo, TripStop

STATUS = VehicleStopStatus
ORDER = ("A", "B", "C", "D")
LAT = {"A": 25.00, "B": 25.01, "C": 25.02, "D": 25.03}
LON = 121.5


def make_network(*, with_trip: bool = True) -> NetworkView:
    net = NetworkView()
    for sid, lat in LAT.items():
        net.stops[sid] = StopInfo(sid, Localized.same(sid), None, lat, LON)
    net.directions[("R", 0)] = DirectionInfo(
        "R", 0, Localized.same("D"), ORDER, {s: i for i, s in enumerate(ORDER)}
    )
    if with_trip:
        stops = tuple(
            TripStop(i + 1, sid, i * 120, i * 120 + 20, None) for i, sid in enumerate(ORDER)
        )
        net.trips["T"] = TripInfo("T", "R", 0, "ALL", stops)
        net.trips_by_direction[("R", 0)] = ["T"]
    return net


def position(
    stop_id: str,
    status: VehicleStopStatus,
    *,
    ts: float = 1000.0,
    trip_id: str | None = "T",
    lat: float | None = None,
    route_id: str = "R",
) -> VehiclePosition:
    return VehiclePosition(
        route_id=route_id,
        direction_id=0,
        trip_id=trip_id,
        lat=LAT.get(stop_id, 25.0) if lat is None else lat,
        lon=LON,
        stop_id=stop_id,
        current_stop_sequence=ORDER.index(stop_id) + 1 if stop_id in ORDER else 0,
        current_status=status,
        timestamp=ts,
    )


def vehicle(
    net: NetworkView, vehicle_id: str, stop_id: str, status: VehicleStopStatus, **kw: object
) -> VehicleState:
    fleet = FleetView(net)
    state = fleet.update(vehicle_id, position(stop_id, status, **kw), now=0.0)  # type: ignore[arg-type]
    assert state is not None
    return state


# -- FleetView ---------------------------------------------------------------------------


def test_older_position_is_dropped_and_equal_timestamp_applies() -> None:
    fleet = FleetView(make_network())
    first = fleet.update("V1", position("B", STATUS.STOPPED_AT, ts=100.0), now=1.0)
    assert first is not None
    assert first.index == 1
    assert fleet.update("V1", position("A", STATUS.STOPPED_AT, ts=99.0), now=2.0) is None
    assert fleet.vehicles["V1"].position.stop_id == "B"
    same = fleet.update("V1", position("C", STATUS.IN_TRANSIT_TO, ts=100.0), now=3.0)
    assert same is not None
    assert fleet.vehicles["V1"].position.stop_id == "C"
    assert fleet.vehicles["V1"].received == 3.0


def test_route_change_moves_the_vehicle_between_route_indexes() -> None:
    fleet = FleetView(make_network())
    fleet.update("V1", position("B", STATUS.STOPPED_AT, ts=1.0), now=0.0)
    fleet.update("V1", position("B", STATUS.STOPPED_AT, ts=2.0, route_id="OTHER"), now=0.0)
    assert fleet.by_route[("R", 0)] == set()
    assert fleet.by_route[("OTHER", 0)] == {"V1"}
    assert fleet.vehicles["V1"].index is None  # not on a known route: no progress


def test_stale_and_off_route_vehicles_are_not_candidates() -> None:
    fleet = FleetView(make_network())
    fleet.update("old", position("A", STATUS.STOPPED_AT), now=0.0)
    fleet.update("fresh", position("A", STATUS.STOPPED_AT), now=100.0)
    fleet.update("lost", position("A", STATUS.STOPPED_AT), now=100.0)
    fleet.update("lost", position("Z", STATUS.STOPPED_AT, ts=2000.0), now=100.0)
    found = fleet.fresh_on("R", 0, now=130.0, staleness_s=120.0)
    assert [v.vehicle_id for v in found] == ["fresh"]
    assert {v.vehicle_id for v in fleet.fresh_on("R", 0, now=120.0, staleness_s=120.0)} == {
        "old",
        "fresh",
    }
    assert fleet.fresh_on("R", 1, now=130.0, staleness_s=120.0) == []


# -- has_passed --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_id", "status", "passed"),
    [
        ("B", STATUS.STOPPED_AT, False),
        ("C", STATUS.IN_TRANSIT_TO, False),
        ("C", STATUS.INCOMING_AT, False),
        ("C", STATUS.STOPPED_AT, True),
        ("D", STATUS.IN_TRANSIT_TO, True),
    ],
)
def test_has_passed(stop_id: str, status: VehicleStopStatus, passed: bool) -> None:
    v = vehicle(make_network(), "V1", stop_id, status)
    assert has_passed(v, ORDER.index("C")) is passed


# -- ETA ---------------------------------------------------------------------------------


def test_eta_stopped_at_counts_from_departure() -> None:
    net = make_network()
    v = vehicle(net, "V1", "B", STATUS.STOPPED_AT)
    assert eta_seconds(net, v, "D") == (3 * 120) - (120 + 20)


def test_eta_in_transit_adds_the_uncovered_part_of_the_segment() -> None:
    net = make_network()
    base = 3 * 120 - 120  # from arrival at B to arrival at D
    seg = 120 - 20  # A's departure to B's arrival
    at_a = vehicle(net, "V1", "B", STATUS.IN_TRANSIT_TO, lat=LAT["A"])
    halfway = vehicle(net, "V2", "B", STATUS.IN_TRANSIT_TO, lat=(LAT["A"] + LAT["B"]) / 2)
    at_b = vehicle(net, "V3", "B", STATUS.INCOMING_AT, lat=LAT["B"])
    assert eta_seconds(net, at_a, "D") == base + seg
    assert eta_seconds(net, halfway, "D") == pytest.approx(base + seg // 2, abs=1)
    assert eta_seconds(net, at_b, "D") == base


def test_eta_at_the_stop_is_zero_and_past_it_is_none() -> None:
    net = make_network()
    assert eta_seconds(net, vehicle(net, "V1", "C", STATUS.STOPPED_AT), "C") == 0
    assert eta_seconds(net, vehicle(net, "V1", "D", STATUS.IN_TRANSIT_TO), "C") is None
    assert eta_seconds(net, vehicle(net, "V1", "Z", STATUS.STOPPED_AT), "C") is None
    assert eta_seconds(net, vehicle(net, "V1", "A", STATUS.STOPPED_AT), "NOWHERE") is None


def test_eta_unknown_trip_uses_a_trip_of_the_route_direction() -> None:
    net = make_network()
    known = vehicle(net, "V1", "B", STATUS.STOPPED_AT)
    unknown = vehicle(net, "V2", "B", STATUS.STOPPED_AT, trip_id="NOT-IN-FEED")
    absent = vehicle(net, "V3", "B", STATUS.STOPPED_AT, trip_id=None)
    assert eta_seconds(net, unknown, "D") == eta_seconds(net, known, "D")
    assert eta_seconds(net, absent, "D") == eta_seconds(net, known, "D")


def test_eta_without_schedules_uses_route_order_and_default_per_stop() -> None:
    net = make_network(with_trip=False)
    stopped = vehicle(net, "V1", "B", STATUS.STOPPED_AT, trip_id=None)
    moving = vehicle(net, "V2", "B", STATUS.IN_TRANSIT_TO, trip_id=None)
    assert eta_seconds(net, stopped, "D") == 2 * DEFAULT_STOP_S
    assert eta_seconds(net, moving, "D") == 2 * DEFAULT_STOP_S + DEFAULT_STOP_S // 2
    assert eta_seconds(net, stopped, "D", default_stop_s=60) == 120


# -- choose_vehicle ----------------------------------------------------------------------


def test_nearest_approaching_beats_passed_and_further() -> None:
    net = make_network()
    passed = vehicle(net, "passed", "D", STATUS.STOPPED_AT)
    near = vehicle(net, "near", "B", STATUS.STOPPED_AT)
    far = vehicle(net, "far", "A", STATUS.STOPPED_AT)
    for candidates in ([passed, near, far], [far, near, passed]):
        choice = choose_vehicle(net, candidates, "C", warning_s=60)
        assert choice is not None
        assert choice[0].vehicle_id == "near"
        assert choice[1] == 240 - 140


def test_too_close_for_warning_is_skipped_when_a_later_bus_leaves_time() -> None:
    net = make_network()
    close = vehicle(net, "close", "C", STATUS.INCOMING_AT, lat=LAT["C"])  # ETA 0 s
    later = vehicle(net, "later", "A", STATUS.STOPPED_AT)  # ETA 220 s
    choice = choose_vehicle(net, [close, later], "C", warning_s=60)
    assert choice is not None
    assert choice[0].vehicle_id == "later"
    only = choose_vehicle(net, [close], "C", warning_s=60)
    assert only is not None
    assert only[0].vehicle_id == "close"
    assert only[1] == 0


def test_tie_goes_to_the_fresher_position() -> None:
    net = make_network()
    older = vehicle(net, "older", "B", STATUS.STOPPED_AT, ts=100.0)
    newer = vehicle(net, "newer", "B", STATUS.STOPPED_AT, ts=200.0)
    for candidates in ([older, newer], [newer, older]):
        choice = choose_vehicle(net, candidates, "C", warning_s=60)
        assert choice is not None
        assert choice[0].vehicle_id == "newer"


def test_excluded_vehicles_are_skipped() -> None:
    net = make_network()
    near = vehicle(net, "near", "B", STATUS.STOPPED_AT)
    far = vehicle(net, "far", "A", STATUS.STOPPED_AT)
    choice = choose_vehicle(net, [near, far], "C", warning_s=60, exclude=frozenset({"near"}))
    assert choice is not None
    assert choice[0].vehicle_id == "far"
    assert choose_vehicle(net, [near], "C", warning_s=60, exclude=frozenset({"near"})) is None


def test_no_candidate_approaching_gives_none() -> None:
    net = make_network()
    at_stop = vehicle(net, "here", "C", STATUS.STOPPED_AT)
    gone = vehicle(net, "gone", "D", STATUS.IN_TRANSIT_TO)
    assert choose_vehicle(net, [at_stop, gone], "C", warning_s=60) is None
    assert choose_vehicle(net, [], "C", warning_s=60) is None
