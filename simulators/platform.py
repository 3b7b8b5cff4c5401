"""The platform a demo runs: the managed Mosquitto and the rider API (uvicorn, SQLite),
with the feed imported, as one ``async with`` block."""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

from pydantic import SecretStr

from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.registry import DeviceRegistry
from broker_config.session import BrokerEndpoint
from rider_api import models  # noqa: F401 - registers the tables
from rider_api.app import create_app
from rider_api.db.migrate import upgrade
from rider_api.network.importer import import_feed
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings

__all__ = ["Platform"]

logger = logging.getLogger(__name__)


def _import(db_url: str, feed: Path) -> object:
    upgrade(db_url)
    return import_feed(db_url, feed)


class Platform:
    """Broker + API for a demo; fresh database and broker persistence at every start."""

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
    ) -> None:
        self.state_dir = state_dir
        self.feed = feed
        self.registry = DeviceRegistry(stops=stops, vehicles=vehicles)
        self.host = host
        self.port = port
        self.timezone = timezone
        self.operator_token = secrets.token_urlsafe(18)
        self.broker: ManagedBroker | None = None
        self._server: InProcessServer | None = None
        self._stack = AsyncExitStack()

    @property
    def api_url(self) -> str:
        # With port 0 the server picked a free port: ask it.
        if self._server is not None:
            return self._server.url
        return f"http://{self.host}:{self.port}"

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

    async def __aenter__(self) -> Self:
        api_dir, broker_dir = self._fresh_state()
        try:
            self.broker = await self._stack.enter_async_context(
                ManagedBroker(BrokerSettings(state_dir=broker_dir, port=0), self.registry)
            )
            db_url = f"sqlite:///{(api_dir / 'bushail.db').resolve()}"
            report = await asyncio.to_thread(_import, db_url, self.feed)
            logger.info("%s", report)
            settings = ApiSettings(
                state_dir=api_dir,
                database_url=db_url,
                host=self.host,
                port=self.port,
                mqtt_port=self.broker.port,
                mqtt_credentials_file=self.broker.state_dir / "credentials.json",
                operator_tokens=[SecretStr(self.operator_token)],
                service_timezone=self.timezone,
            )
            # The simulator owns the process's signals (Ctrl-C stops the whole city).
            self._server = await self._stack.enter_async_context(
                InProcessServer(
                    create_app(settings),
                    host=self.host,
                    port=self.port,
                    log_config=None,
                    access_log=False,
                    timeout_graceful_shutdown=3,
                    # A city-sized network takes a while to load into memory.
                    start_timeout_s=600,
                )
            )
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

    @property
    def mosquitto_pid(self) -> int | None:
        return self.broker.pid if self.broker is not None else None
