"""The platform a demo runs: the managed Mosquitto and the rider API (uvicorn in this
process), with the feed imported, as one ``async with`` block.

One API instance on SQLite by default. Several instances (``instances=2`` ...) share one
PostgreSQL database (``database_url``): each is its own app with its own name (``api1``,
``api2`` ...), broker logins (``server.{name}``, ``monitor.{name}``), state folder and
port, and one of them leads (see ``rider_api.cluster``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.registry import DeviceRegistry
from broker_config.session import BrokerEndpoint
from broker_config.topics import Owner, login_for
from rider_api import models  # noqa: F401 - registers the tables
from rider_api.app import create_app
from rider_api.db.migrate import upgrade
from rider_api.network.importer import import_feed
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from simulators.cluster.const import instance_names

__all__ = ["ApiInstance", "Platform", "check_instances"]

logger = logging.getLogger(__name__)


def _import(db_url: str, feed: Path) -> object:
    upgrade(db_url)
    return import_feed(db_url, feed)


def _is_postgresql(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:
        return False


def check_instances(instances: int, database_url: str | None) -> None:
    """ValueError, saying why, unless ``instances`` can run on ``database_url``."""
    if instances < 1:
        raise ValueError("--instances: at least one API instance")
    if instances > 1 and not (database_url and _is_postgresql(database_url)):
        raise ValueError(
            f"{instances} API instances need one PostgreSQL database to share: add "
            "--database-url postgresql://USER@HOST/DB (SQLite serves one instance only)"
        )


@dataclass(frozen=True, slots=True)
class ApiInstance:
    """One running API instance of the platform: its name and address."""

    name: str
    url: str


class Platform:
    """Broker + API instance(s) for a demo; broker persistence fresh at every start, and
    the SQLite database too (a PostgreSQL one is migrated and fed, not emptied)."""

    def __init__(
        self,
        state_dir: Path,
        feed: Path,
        *,
        stops: set[str],
        vehicles: set[str],
        host: str = "127.0.0.1",
        port: int = 8000,
        timezone: str = "Asia/Taipei",
        instances: int = 1,
        database_url: str | None = None,
        gtfs_rt_feeds: Sequence[str] = (),
    ) -> None:
        check_instances(instances, database_url)
        #: Agency GTFS-Realtime VehiclePositions feeds the API polls (``--positions gtfs-rt``).
        self.gtfs_rt_feeds = list(gtfs_rt_feeds)
        self.state_dir = state_dir
        self.feed = feed
        #: One instance keeps the single-process name (login ``server.api``).
        self.names = ["api"] if instances == 1 else instance_names(instances)
        self.registry = DeviceRegistry(stops=stops, vehicles=vehicles, servers=set(self.names))
        self.host = host
        self.port = port
        self.timezone = timezone
        self.database_url = database_url
        self.operator_token = secrets.token_urlsafe(18)
        self.broker: ManagedBroker | None = None
        self._servers: list[InProcessServer] = []
        self._stack = AsyncExitStack()

    @property
    def api_url(self) -> str:
        """The first instance's address (the one the simulated riders use)."""
        # With port 0 the server picked a free port: ask it.
        if self._servers:
            return self._servers[0].url
        return f"http://{self.host}:{self.port}"

    @property
    def instances(self) -> list[ApiInstance]:
        """Every running instance, in order."""
        return [
            ApiInstance(name, server.url)
            for name, server in zip(self.names, self._servers, strict=False)
        ]

    def endpoint_for(self, login: str) -> BrokerEndpoint:
        if self.broker is None:
            raise RuntimeError("the platform is not running")
        return self.broker.endpoint(login)

    def _fresh_state(self) -> tuple[Path, Path]:
        api_dir = self.state_dir / "api"
        broker_dir = self.state_dir / "broker"
        api_dir.mkdir(parents=True, exist_ok=True)
        for old in api_dir.glob("bushail.db*"):
            old.unlink()
        for old in (broker_dir / "data").glob("*.db"):
            old.unlink()
        return api_dir, broker_dir

    def _settings(self, name: str, index: int, api_dir: Path, db_url: str) -> ApiSettings:
        assert self.broker is not None  # noqa: S101 - started before the instances
        return ApiSettings(
            # One instance keeps the state folder it always had; several get one each.
            state_dir=api_dir if len(self.names) == 1 else api_dir / name,
            database_url=db_url,
            host=self.host,
            port=self.port + index if self.port else 0,
            instance=name,
            mqtt_username=login_for(Owner.SERVER, name),
            mqtt_port=self.broker.port,
            mqtt_credentials_file=self.broker.state_dir / "credentials.json",
            operator_tokens=[SecretStr(self.operator_token)],
            service_timezone=self.timezone,
            # Every simulated rider signs up from this machine, one per ride.
            sign_up_limit=1_000_000,
            gtfs_rt_vehicle_positions_urls=self.gtfs_rt_feeds,
            # Real seconds; an agency's 10 s at the demo's ten times real time.
            gtfs_rt_poll_s=1.0,
        )

    async def __aenter__(self) -> Self:
        api_dir, broker_dir = self._fresh_state()
        try:
            self.broker = await self._stack.enter_async_context(
                ManagedBroker(BrokerSettings(state_dir=broker_dir, port=0), self.registry)
            )
            db_url = self.database_url or f"sqlite:///{(api_dir / 'bushail.db').resolve()}"
            report = await asyncio.to_thread(_import, db_url, self.feed)
            logger.info("%s", report)
            for index, name in enumerate(self.names):
                settings = self._settings(name, index, api_dir, db_url)
                # The simulator owns the process's signals (Ctrl-C stops the whole city).
                server = await self._stack.enter_async_context(
                    InProcessServer(
                        create_app(settings),
                        host=self.host,
                        port=settings.port,
                        log_config=None,
                        access_log=False,
                        timeout_graceful_shutdown=3,
                        # A city-sized network takes a while to load into memory.
                        start_timeout_s=600,
                    )
                )
                self._servers.append(server)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        self._servers.clear()

    @property
    def mosquitto_pid(self) -> int | None:
        return self.broker.pid if self.broker is not None else None
