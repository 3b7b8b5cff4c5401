"""Fresher wins: the arbitration between a bus's own positions and an agency feed's
(pure), and the one door both paths go through (``PositionSources``)."""

from __future__ import annotations

from typing import cast

from broker_config.messages import VehiclePosition, VehicleStopStatus
from rider_api.core.metrics import Metrics
from rider_api.dispatch.dispatcher import Dispatcher
from rider_api.feeds.freshness import Freshness, Holder, Outcome, Source
from rider_api.feeds.metrics import FeedMetrics
from rider_api.feeds.sources import PositionSources

ONBOARD, FEED = Source.ONBOARD, Source.FEED


def test_the_first_position_of_a_bus_applies_from_either_source() -> None:
    f = Freshness()
    assert f.admit("V1", FEED, 100)
    assert f.admit("V2", ONBOARD, 100)


def test_a_newer_position_wins_whichever_source_had_the_bus() -> None:
    f = Freshness()
    assert f.admit("V1", ONBOARD, 100)
    assert f.admit("V1", FEED, 105)
    assert f.holder("V1") == Holder(105, FEED)
    assert f.admit("V1", ONBOARD, 110)
    assert f.holder("V1") == Holder(110, ONBOARD)


def test_an_older_position_is_dropped_from_either_source() -> None:
    f = Freshness()
    assert f.admit("V1", FEED, 100)
    assert f.judge("V1", ONBOARD, 99) is Outcome.OLDER
    assert f.judge("V1", FEED, 98) is Outcome.OLDER
    assert f.holder("V1") == Holder(100, FEED)


def test_equal_timestamps_apply_from_the_same_source_in_arrival_order() -> None:
    f = Freshness()
    assert f.admit("V1", ONBOARD, 100)
    assert f.judge("V1", ONBOARD, 100) is Outcome.APPLIED


def test_the_same_moment_from_the_other_source_is_a_duplicate_and_the_incumbent_stays() -> None:
    f = Freshness()
    assert f.admit("V1", ONBOARD, 100)
    assert f.judge("V1", FEED, 100) is Outcome.DUPLICATE
    assert f.holder("V1") == Holder(100, ONBOARD)


def test_decisions_are_counted_by_source_and_outcome() -> None:
    f = Freshness()
    f.admit("V1", ONBOARD, 100)
    f.admit("V1", FEED, 90)
    f.admit("V1", FEED, 100)
    assert f.counts == {
        (ONBOARD, Outcome.APPLIED): 1,
        (FEED, Outcome.OLDER): 1,
        (FEED, Outcome.DUPLICATE): 1,
    }


def test_the_arbitration_is_bounded_whatever_a_feed_invents() -> None:
    f = Freshness(max_vehicles=3)
    for i in range(10):
        assert f.admit(f"V{i}", FEED, 100)
    assert f.holder("V0") is None
    assert f.holder("V9") is not None


class FakeDispatcher:
    def __init__(self) -> None:
        self.applied: list[tuple[str, float]] = []

    async def on_position(self, vehicle_id: str, pos: VehiclePosition) -> None:
        self.applied.append((vehicle_id, pos.timestamp))


def pos(ts: float, stop_id: str = "S1") -> VehiclePosition:
    return VehiclePosition(
        route_id="R1",
        direction_id=0,
        trip_id="T0",
        lat=25.04,
        lon=121.5,
        stop_id=stop_id,
        current_stop_sequence=1,
        current_status=VehicleStopStatus.IN_TRANSIT_TO,
        timestamp=ts,
    )


def sources() -> tuple[PositionSources, FakeDispatcher, FeedMetrics]:
    fake = FakeDispatcher()
    metrics = FeedMetrics(Metrics().registry)
    return PositionSources(dispatcher=cast(Dispatcher, fake), metrics=metrics), fake, metrics


async def test_both_paths_reach_the_fleet_view_only_when_fresher() -> None:
    positions, fake, metrics = sources()
    assert await positions.onboard("V1", pos(100))
    assert await positions.from_feed({"V1": pos(95), "V2": pos(95)}) == 1  # V1's is older
    assert await positions.from_feed({"V1": pos(101)}) == 1
    assert not await positions.onboard("V1", pos(100.5))
    assert fake.applied == [("V1", 100), ("V2", 95), ("V1", 101)]
    value = metrics.sources.labels(source="feed", outcome="older")._value.get()
    assert value == 1


async def test_a_feed_served_again_unchanged_does_not_refresh_the_bus() -> None:
    """Without an ETag at the agency the same copy comes back every poll: re-applying it
    would make an old position look newly received (and the bus fresh for ever)."""
    positions, fake, _ = sources()
    assert await positions.from_feed({"V1": pos(100)}) == 1
    assert await positions.from_feed({"V1": pos(100)}) == 0
    # A change within the same second (feeds count whole seconds) still applies.
    assert await positions.from_feed({"V1": pos(100, stop_id="S2")}) == 1
    assert len(fake.applied) == 2
