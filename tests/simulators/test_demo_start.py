"""Where the demo's simulated day starts when no ``--start`` is given: now, if buses run
now and for an hour more; else the morning peak (never the tail of the service day)."""

from __future__ import annotations

import datetime as dt

import pytest

from rider_api.network.demo_feed import DEMO_FEED
from simulators.cli import MORNING_PEAK_S, start_of
from simulators.network import SimNetwork, load_network

DAY = dt.date(2026, 12, 2)


@pytest.fixture(scope="module")
def taipei() -> SimNetwork:
    return load_network(DEMO_FEED)


def _hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


@pytest.mark.parametrize("now", ["08:15", "12:00", "17:40", "22:00"])
def test_now_while_buses_run_for_an_hour_more(taipei: SimNetwork, now: str) -> None:
    assert start_of(taipei, DAY, _hm(now)) == _hm(now)


@pytest.mark.parametrize(
    "now",
    [
        "23:35",  # the last buses are leaving: nothing would serve the riders' bookings
        "02:00",  # no bus at all
        "04:45",  # the first buses are more than half an hour away
    ],
)
def test_the_morning_peak_otherwise(taipei: SimNetwork, now: str) -> None:
    assert start_of(taipei, DAY, _hm(now)) == MORNING_PEAK_S
