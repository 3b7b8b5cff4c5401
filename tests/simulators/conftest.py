"""Fixtures for end-to-end runs: a tiny GTFS feed over the test broker's stops, imported by
the real importer, and the API served by uvicorn against the real Mosquitto."""

from __future__ import annotations

import datetime as dt
import os
import random
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from broker_config.broker import ManagedBroker
from rider_api.app import create_app
from rider_api.db.migrate import upgrade
from rider_api.network.importer import import_feed
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from rider_api.state import AppState
from tests.support.limits import GENEROUS_LIMITS

OPERATOR_TOKEN = "sim-op-token"
STOP_COORDS = {
    "S1": (25.0400, 121.5000),
    "S2": (25.0400, 121.5050),
    "S3": (25.0400, 121.5100),
    "S4": (25.0400, 121.5150),
}
#: Minutes between stops and between trips of the test feed.
HOP_MIN = 2
HEADWAY_MIN = 4


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_feed(folder: Path) -> Path:
    """Route R1: S1 -> S2 -> S3 -> S4 every HEADWAY_MIN minutes, all day, every day."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
        "A,Test Bus,https://example.org,Asia/Taipei,zh-TW\n"
    )
    (folder / "stops.txt").write_text(
        "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"{s},站{s},{lat},{lon}\n" for s, (lat, lon) in STOP_COORDS.items())
    )
    (folder / "routes.txt").write_text(
        "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,A,307,測試線,3\n"
    )
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "ALL,1,1,1,1,1,1,1,20200101,20351231\n"
    )
    trips = ["route_id,service_id,trip_id,trip_headsign,direction_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    for start in range(0, 26 * 3600, HEADWAY_MIN * 60):
        trip_id = f"T{start // 60:04d}"
        trips.append(f"R1,ALL,{trip_id},站S4,0")
        for i, stop_id in enumerate(STOP_COORDS):
            t = start + i * HOP_MIN * 60
            times.append(f"{trip_id},{_hms(t)},{_hms(t)},{stop_id},{i + 1}")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    return folder


@dataclass
class RunningApi:
    base_url: str
    state: AppState
    client: httpx.AsyncClient
    feed: Path
    today: dt.date

    @property
    def ops(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
async def platform_api(tmp_path: Path, broker: ManagedBroker) -> AsyncIterator[RunningApi]:
    """The real API on SQLite, with the test feed imported, on the test broker."""
    feed = write_feed(tmp_path / "feed")
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    import_feed(url, feed)
    settings = ApiSettings(
        state_dir=tmp_path / "api",
        database_url=url,
        mqtt_port=broker.port,
        mqtt_credentials_file=broker.state_dir / "credentials.json",
        operator_tokens=[SecretStr(OPERATOR_TOKEN)],
        # The simulated drivers answer in simulated time; keep the server's timers out.
        ack_timeout_s=600,
        # Every simulated rider signs up from 127.0.0.1.
        **GENEROUS_LIMITS,
    )
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Taipei")).date()
    async with InProcessServer(create_app(settings)) as server:
        state = server.state
        assert state.mqtt is not None
        await state.mqtt.wait_connected(10)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield RunningApi(server.url, state, client, feed, today)


@pytest.fixture
def seed() -> int:
    """A seed for the moment a fault strikes: ``BUSHAIL_TEST_SEED`` replays one (every
    failure message names it), otherwise a fresh one per test."""
    given = os.environ.get("BUSHAIL_TEST_SEED")
    return int(given) if given else random.SystemRandom().randrange(1_000_000)
