"""Rider API fixtures: a small network in the database, the API served by uvicorn."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from broker_config.broker import ManagedBroker
from rider_api import models
from rider_api.app import create_app
from rider_api.db.engine import make_sync_engine
from rider_api.db.migrate import upgrade
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings, ConsoleSettings
from rider_api.state import AppState
from tests.support.limits import GENEROUS_LIMITS
from tests.support.waiting import eventually

OPERATOR_TOKEN = "op-secret-token"

#: Route R1: S1 -> S2 -> S3 -> S4 (direction 0) and back (direction 1), 2 min apart.
ROUTE_STOPS = ["S1", "S2", "S3", "S4"]
COORDS = {
    "S1": (25.0400, 121.5000),
    "S2": (25.0410, 121.5100),
    "S3": (25.0420, 121.5200),
    "S4": (25.0430, 121.5300),
}


def seed_network(url: str) -> None:
    """A tiny two-direction route over the test broker's stops S1..S4."""
    upgrade(url)
    engine = make_sync_engine(url)
    from sqlmodel import Session

    with Session(engine) as s:
        s.add(models.Agency(agency_id="A", name="Test Bus", timezone="Asia/Taipei"))
        for sid, (lat, lon) in COORDS.items():
            s.add(
                models.Stop(
                    stop_id=sid,
                    name_zh=f"站{sid}",
                    name_en=f"Stop {sid}",
                    lat=lat,
                    lon=lon,
                    search_key=f"站{sid} stop {sid}".lower(),
                )
            )
        s.add(
            models.Stop(
                stop_id="S9",
                name_zh="遠站",
                name_en="Far Stop",
                lat=25.1,
                lon=121.6,
                search_key="遠站 far stop",
            )
        )
        s.add(
            models.Route(
                route_id="R1",
                short_name="307",
                long_name_zh="板橋－撫遠街",
                long_name_en="Banqiao - Fuyuan St.",
            )
        )
        s.add(
            models.Route(
                route_id="R2", short_name="紅30", long_name_zh="紅30", long_name_en="Red 30"
            )
        )
        s.flush()
        for d, order, head_zh, head_en in (
            (0, ROUTE_STOPS, "撫遠街", "Fuyuan St."),
            (1, ROUTE_STOPS[::-1], "板橋", "Banqiao"),
        ):
            s.add(
                models.RouteDirection(
                    route_id="R1", direction_id=d, headsign_zh=head_zh, headsign_en=head_en
                )
            )
            for i, sid in enumerate(order):
                s.add(models.RouteStop(route_id="R1", direction_id=d, position=i, stop_id=sid))
        s.add(
            models.RouteDirection(
                route_id="R2", direction_id=0, headsign_zh="捷運站", headsign_en="MRT"
            )
        )
        s.add(models.RouteStop(route_id="R2", direction_id=0, position=0, stop_id="S9"))
        s.add(
            models.ServiceCalendar(
                service_id="ALL",
                monday=True,
                tuesday=True,
                wednesday=True,
                thursday=True,
                friday=True,
                saturday=True,
                sunday=True,
                start_date=dt.date(2020, 1, 1),
                end_date=dt.date(2035, 1, 1),
            )
        )
        s.flush()
        for d, order in ((0, ROUTE_STOPS), (1, ROUTE_STOPS[::-1])):
            trip_id = f"T{d}"
            s.add(models.Trip(trip_id=trip_id, route_id="R1", service_id="ALL", direction_id=d))
            s.flush()
            for i, sid in enumerate(order):
                t = 6 * 3600 + i * 120
                # Service runs all day so bookings never meet "service ended" in tests.
                s.add(
                    models.StopTime(
                        trip_id=trip_id,
                        stop_sequence=i + 1,
                        stop_id=sid,
                        arrival_s=t,
                        departure_s=t + 20,
                    )
                )
            late = f"T{d}L"
            s.add(models.Trip(trip_id=late, route_id="R1", service_id="ALL", direction_id=d))
            s.flush()
            for i, sid in enumerate(order):
                t = 47 * 3600 + i * 120
                s.add(
                    models.StopTime(
                        trip_id=late,
                        stop_sequence=i + 1,
                        stop_id=sid,
                        arrival_s=t,
                        departure_s=t + 20,
                    )
                )
        s.commit()
    engine.dispose()


@dataclass
class ApiServer:
    base_url: str
    state: AppState
    client: httpx.AsyncClient

    async def rider(self, name: str = "Mei", language: str = "zh-TW") -> dict[str, Any]:
        r = await self.client.post("/v1/riders", json={"display_name": name, "language": language})
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        data["headers"] = {"Authorization": f"Bearer {data['token']}"}
        return data


ApiFactory = Callable[..., Awaitable[ApiServer]]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'api.db'}"


@pytest.fixture
async def make_api(
    tmp_path: Path, broker: ManagedBroker, database_url: str
) -> AsyncIterator[ApiFactory]:
    """Start the API (uvicorn on a free port, real broker, seeded network)."""
    async with AsyncExitStack() as stack:
        yield await _api_factory(stack, tmp_path, broker, database_url)


async def _api_factory(
    stack: AsyncExitStack, tmp_path: Path, broker: ManagedBroker, database_url: str
) -> ApiFactory:

    async def _make(
        *,
        seed: bool = True,
        mqtt: bool = True,
        console: ConsoleSettings | None = None,
        url: str | None = None,
        **overrides: Any,
    ) -> ApiServer:
        """``url``: another database than the test's (SQLite allows one instance a file)."""
        url = url or database_url
        if seed:
            seed_network(url)
        creds = broker.state_dir / "credentials.json"
        settings = ApiSettings(
            state_dir=tmp_path / "api",
            database_url=url,
            mqtt_port=broker.port,
            mqtt_credentials_file=creds,
            mqtt_enabled=mqtt,
            operator_tokens=[SecretStr(OPERATOR_TOKEN)],
            **{**GENEROUS_LIMITS, **overrides},
        )
        server = await stack.enter_async_context(InProcessServer(create_app(settings, console)))
        state = server.state
        if mqtt and state.mqtt is not None:
            await state.mqtt.wait_connected(10)
            reconciler = state.reconciler
            if reconciler is not None and state.coordinator.leader:
                # The leader's first pass re-sends every active call with a new seq: a
                # test that booked before it ends would count that copy.
                await eventually(lambda: reconciler.passes > 0, what="the first reconcile pass")
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=10))
        return ApiServer(server.url, state, client)

    return _make


@pytest.fixture
async def api(make_api: ApiFactory) -> ApiServer:
    return await make_api()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    name = f"bushail_test_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_url).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite always; PostgreSQL too where BUSHAIL_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url
