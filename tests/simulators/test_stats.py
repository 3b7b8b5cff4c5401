"""The figures a simulated city reports."""

from __future__ import annotations

import time
import uuid

from broker_config.messages import ReservationStatus as RS
from simulators.cli import build_parser
from simulators.stats import CityStats, percentile


def test_percentile_by_nearest_rank() -> None:
    assert percentile([], 50) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 95) == 7


def test_booking_to_alert_is_measured_whichever_comes_first() -> None:
    stats = CityStats()
    early, late = uuid.uuid4(), uuid.uuid4()
    stats.alerted(early)  # the alert overtook the booking's HTTP answer
    stats.booked(early, time.monotonic() - 0.05)
    stats.booked(late, time.monotonic() - 0.02)
    stats.alerted(late)
    stats.alerted(late)  # a re-delivery is not a second sample
    assert len(stats.booking_to_alert_ms) == 2
    assert all(ms >= 0 for ms in stats.booking_to_alert_ms)


def test_report_counts_states_missed_and_lost_alerts() -> None:
    stats = CityStats()
    lost, seen = uuid.uuid4(), uuid.uuid4()
    for rid in (lost, seen):
        stats.booked(rid, time.monotonic() - 10)
        stats.saw_status(rid, RS.ASSIGNED)
    stats.alerted(seen)
    stats.saw_status(seen, RS.MISSED)
    stats.saw_status(seen, RS.COMPLETED)
    report = stats.report()
    assert report["reservations_by_state"] == {"assigned": 1, "completed": 1}
    assert report["missed_pickups"] == 1
    assert report["lost_messages"] == {"driver_alerts": 1}
    assert report["latency_ms"]["booking_to_alert"]["count"] == 1


def test_cli_defaults() -> None:
    parser = build_parser()
    demo = parser.parse_args(["demo"])
    assert (demo.speed, demo.port, demo.duration) == (10.0, 8000, None)
    load = parser.parse_args(
        ["load", "--api", "http://127.0.0.1:1", "--rate", "2", "--report", "r.json"]
    )
    assert (load.speed, load.duration, load.rate) == (1.0, 60.0, 2.0)
