"""Everything GTFS-Realtime of one instance, as the one object the application holds.

``TransitFeeds`` owns the position sources (the freshness arbitration both the MQTT
path and the feed path go through), the pollers of the agency feeds named in settings
(their tasks and HTTP client live in its ``async with`` block), and the three published
feeds' caches. ``status()`` is what the operator console shows of the agency feeds.

Several instances: every instance polls the agency feeds itself and feeds its own fleet
view, as each hears every onboard position itself (positions are per-instance state; any
instance may assign a bus inside a booking's transaction). The agency sees one
conditional GET per instance per interval.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.aio import cancel_and_wait
from broker_config.messages import VehiclePosition
from broker_config.topics import Topics
from rider_api.core.metrics import Metrics
from rider_api.dispatch.dispatcher import Dispatcher
from rider_api.feeds import alerts, publish
from rider_api.feeds.cache import FeedCache
from rider_api.feeds.mapping import VehicleMapping, read_mapping_file
from rider_api.feeds.metrics import FeedMetrics
from rider_api.feeds.poller import FeedKind, FeedPoller, FeedStatus, PollSettings
from rider_api.feeds.sources import PositionSources
from rider_api.mqtt.devices import DeviceBoard
from rider_api.network.view import NetworkView
from rider_api.settings import ApiSettings

__all__ = ["TransitFeeds"]

logger = logging.getLogger(__name__)

USER_AGENT = "BusHail GTFS-Realtime reader (+https://github.com/bushail)"


class TransitFeeds:
    def __init__(
        self,
        *,
        settings: ApiSettings,
        dispatcher: Dispatcher,
        network: Callable[[], NetworkView],
        devices: DeviceBoard,
        sessions: async_sessionmaker[AsyncSession],
        topics: Topics,
        metrics: Metrics,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.network = network
        self.devices = devices
        self.sessions = sessions
        self.topics = topics
        self.metrics = FeedMetrics(metrics.registry)
        self.positions = PositionSources(dispatcher=dispatcher, metrics=self.metrics)
        self.pollers: list[FeedPoller] = []
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []

        def cache(name: str, build: Callable[[float], Any]) -> FeedCache:
            counter = self.metrics.published.labels(feed=name)
            return FeedCache(build, max_age_s=settings.gtfs_rt_publish_s, on_build=counter.inc)

        self.vehicle_positions = cache("vehicle_positions", self._vehicle_positions)
        self.trip_updates = cache("trip_updates", self._trip_updates)
        self.alerts = cache("alerts", self._alerts)

    # -- lifetime: the pollers -----------------------------------------------------------
    async def __aenter__(self) -> TransitFeeds:
        s = self.settings
        urls: list[tuple[FeedKind, str]] = [
            *(("trip_updates", u) for u in s.gtfs_rt_trip_updates_urls),
            *(("vehicle_positions", u) for u in s.gtfs_rt_vehicle_positions_urls),
        ]
        if not urls:
            return self
        pairs: dict[str, str] = {}
        if s.gtfs_rt_vehicle_map_file is not None:
            pairs = await asyncio.to_thread(read_mapping_file, s.gtfs_rt_vehicle_map_file)
        mapping = VehicleMapping({**pairs, **s.gtfs_rt_vehicle_map})
        poll = PollSettings(
            poll_s=s.gtfs_rt_poll_s,
            timeout_s=s.gtfs_rt_timeout_s,
            max_backoff_s=s.gtfs_rt_max_backoff_s,
            max_bytes=s.gtfs_rt_max_bytes,
            max_age_s=s.gtfs_rt_max_age_s,
            max_future_s=s.gtfs_rt_max_future_s,
            headers={k: v.get_secret_value() for k, v in s.gtfs_rt_request_headers.items()},
        )
        self._client = httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT, "Accept": "application/x-protobuf, */*"},
        )
        for kind, url in urls:
            self.pollers.append(
                FeedPoller(
                    kind=kind,
                    url=url,
                    client=self._client,
                    settings=poll,
                    network=self.network,
                    mapping=mapping,
                    sink=self._sink,
                    metrics=self.metrics,
                    trips_of=self._trips_of,
                    reported=self._reported,
                )
            )
        self._tasks = [asyncio.create_task(p.run(), name=f"gtfs-rt:{p.name}") for p in self.pollers]
        logger.info(
            "GTFS-Realtime: polling %d feed(s) every %g s, %d vehicle id(s) mapped",
            len(self.pollers),
            s.gtfs_rt_poll_s,
            len(mapping),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def status(self) -> list[FeedStatus]:
        """One line per agency feed, for the operator console."""
        return [p.status for p in self.pollers]

    # -- the agency feeds in ----------------------------------------------------------
    async def _sink(self, _feed: str, positions: dict[str, VehiclePosition]) -> int:
        return await self.positions.from_feed(positions)

    def _trips_of(self) -> dict[str, str]:
        trips: dict[str, str] = {}
        for p in self.pollers:
            if p.kind == "trip_updates":
                trips.update(p.trips)
        return trips

    def _reported(self) -> frozenset[str]:
        return frozenset().union(
            *(p.vehicles for p in self.pollers if p.kind == "vehicle_positions")
        )

    # -- BusHail's feeds out ------------------------------------------------------------
    async def _vehicle_positions(self, now: float) -> Any:
        return publish.vehicle_positions_feed(
            fleet=self.dispatcher.fleet,
            network=self.network(),
            now=now,
            now_mono=time.monotonic(),
            staleness_s=self.settings.position_staleness_s,
        )

    async def _trip_updates(self, now: float) -> Any:
        return publish.trip_updates_feed(
            fleet=self.dispatcher.fleet,
            network=self.network(),
            now=now,
            now_mono=time.monotonic(),
            staleness_s=self.settings.position_staleness_s,
        )

    async def _alerts(self, now: float) -> Any:
        network = self.network()
        window = self.settings.gtfs_rt_broadcast_alert_s
        since = dt.datetime.fromtimestamp(now - window, dt.UTC)
        async with self.sessions() as session:
            broadcasts = await alerts.recent_broadcasts(session, self.topics, since=since)
        return alerts.alerts_feed(
            offline=alerts.offline_stops(self.devices, network),
            broadcasts=broadcasts,
            network=network,
            now=now,
            broadcast_s=window,
        )
