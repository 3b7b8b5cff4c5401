"""The pure motion model: positions along a trip, statuses in order, the clock's speed."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from broker_config.messages import VehicleStopStatus as VS
from simulators.blocks import assign_blocks
from simulators.clock import SimClock, service_midnight
from simulators.motion import DelayModel, Journey, MotionSettings, TripPlan, distance_m
from simulators.network import SimNetwork, SimStop, SimStopTime, SimTrip

STOPS = {
    "A": SimStop("A", 25.0400, 121.5000),
    "B": SimStop("B", 25.0400, 121.5100),
    "C": SimStop("C", 25.0400, 121.5200),
}


def make_trip(trip_id: str = "T1", start: int = 8 * 3600, shape: str | None = None) -> SimTrip:
    times = tuple(
        SimStopTime(i + 1, sid, start + i * 120, start + i * 120) for i, sid in enumerate("ABC")
    )
    return SimTrip(trip_id, "R", 0, "ALL", shape, times)


def make_network(*trips: SimTrip) -> SimNetwork:
    net = SimNetwork(stops=dict(STOPS), timezone="Asia/Taipei")
    net.trips = {t.trip_id: t for t in trips}
    return net


SETTINGS = MotionSettings(dwell_s=20, incoming_s=30, min_travel_s=10)


def test_statuses_come_in_order_along_the_trip() -> None:
    trip = make_trip()
    plan = TripPlan(trip, make_network(trip), SETTINGS)
    seen: list[tuple[str, VS]] = []
    t = plan.start_t - 5
    while (fix := plan.fix_at(t)) is not None:
        if not seen or seen[-1] != (fix.stop_id, fix.status):
            seen.append((fix.stop_id, fix.status))
        t += 1
    assert seen == [
        ("A", VS.STOPPED_AT),
        ("B", VS.IN_TRANSIT_TO),
        ("B", VS.INCOMING_AT),
        ("B", VS.STOPPED_AT),
        ("C", VS.IN_TRANSIT_TO),
        ("C", VS.INCOMING_AT),
        ("C", VS.STOPPED_AT),
    ]
    assert t >= plan.stages[-1].arrive_t + SETTINGS.dwell_s


def test_positions_move_along_the_straight_line_between_stops() -> None:
    trip = make_trip()
    plan = TripPlan(trip, make_network(trip), SETTINGS)
    a, b = plan.stages[0], plan.stages[1]
    mid = plan.fix_at((a.depart_t + b.arrive_t) / 2)
    assert mid is not None
    assert mid.lat == pytest.approx(25.04)
    assert mid.lon == pytest.approx(121.505, abs=1e-4)
    at_b = plan.fix_at(b.arrive_t + 1)
    assert at_b is not None
    assert (at_b.lat, at_b.lon) == (STOPS["B"].lat, STOPS["B"].lon)
    assert at_b.stop_sequence == 2
    # Monotonic progress eastwards.
    lons = [f.lon for t in range(int(a.depart_t), int(b.arrive_t)) if (f := plan.fix_at(t))]
    assert lons == sorted(lons)


def test_positions_follow_the_shape_where_there_is_one() -> None:
    trip = make_trip(shape="SH")
    net = make_network(trip)
    # A detour north between A and B.
    net.shapes["SH"] = [
        (25.0400, 121.5000, None),
        (25.0500, 121.5050, None),
        (25.0400, 121.5100, None),
        (25.0400, 121.5200, None),
    ]
    plan = TripPlan(trip, net, SETTINGS)
    a, b = plan.stages[0], plan.stages[1]
    mid = plan.fix_at((a.depart_t + b.arrive_t) / 2)
    assert mid is not None
    assert mid.lat == pytest.approx(25.05, abs=1e-3)
    assert distance_m((mid.lat, mid.lon), (25.05, 121.505)) < 50


def test_delay_model_makes_the_bus_late_and_dwell_is_kept() -> None:
    trip = make_trip()
    plan = TripPlan(trip, make_network(trip), SETTINGS, DelayModel(initial_s=60))
    assert plan.stages[0].arrive_t == trip.stop_times[0].arrival_s + 60
    for stage in plan.stages:
        assert stage.depart_t - stage.arrive_t >= SETTINGS.dwell_s
    jittery = TripPlan(
        trip, make_network(trip), SETTINGS, DelayModel(jitter_s=30), random.Random(7)
    )
    for prev, nxt in zip(jittery.stages, jittery.stages[1:], strict=False):
        assert nxt.arrive_t >= prev.depart_t + SETTINGS.min_travel_s


def test_a_held_bus_stays_at_the_stop_and_runs_late_afterwards() -> None:
    trip = make_trip()
    plan = TripPlan(trip, make_network(trip), SETTINGS)
    journey = Journey(plan)
    b = plan.stages[1]
    fix = journey.at(b.arrive_t + 1)
    assert fix is not None
    assert fix.status is VS.STOPPED_AT
    held = journey.at(b.depart_t + 60, hold=True)
    assert held is not None
    assert (held.stop_id, held.status) == ("B", VS.STOPPED_AT)
    later = journey.at(b.depart_t + 61)
    assert later is not None
    assert (later.stop_id, later.status) == ("C", VS.IN_TRANSIT_TO)
    assert journey.held_s == pytest.approx(60, abs=0.01)


def test_clock_runs_at_the_speed_factor() -> None:
    real = [100.0]
    clock = SimClock(8 * 3600, speed=10, midnight=1_000.0, monotonic=lambda: real[0])
    assert clock.now() == 8 * 3600
    real[0] += 3
    assert clock.now() == 8 * 3600 + 30
    assert clock.epoch() == 1_000.0 + 8 * 3600 + 30
    assert clock.real_s(50) == 5
    with pytest.raises(ValueError, match="positive"):
        SimClock(0, speed=0)


def test_service_midnight_is_local_midnight() -> None:
    day = dt.date(2026, 3, 2)
    expected = dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC).timestamp()
    assert service_midnight(day, "Asia/Taipei") == expected


def test_blocks_never_overlap_and_running_trips_come_first() -> None:
    trips = [make_trip(f"T{i}", start=8 * 3600 + i * 300) for i in range(6)]
    start = 8 * 3600 + 100
    blocks = assign_blocks(trips, ["V1", "V2"], start, layover_s=60)
    assert blocks["V1"][0].trip_id == "T0"
    for block in blocks.values():
        for prev, nxt in itertools.pairwise(block):
            assert nxt.start_s >= prev.end_s + 60
    assigned = [t.trip_id for b in blocks.values() for t in b]
    assert len(assigned) == len(set(assigned))
    assert len(assigned) == 6
