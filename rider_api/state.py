"""The application's typed state, built whole at start-up (see ``app.running``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.session import MqttSession
from broker_config.topics import Topics
from rider_api.cluster.coordinator import Coordinator
from rider_api.console.sessions import OperatorSessions
from rider_api.console.throttle import LoginThrottle
from rider_api.core.cache import LruCache
from rider_api.core.metrics import Metrics
from rider_api.core.rate_limits import ClientLimits
from rider_api.db.unit_of_work import UnitsOfWork
from rider_api.dispatch.dispatcher import Dispatcher
from rider_api.feeds.hub import TransitFeeds
from rider_api.models import Rider
from rider_api.mqtt.devices import DeviceBoard
from rider_api.mqtt.outbox import OutboxRelay
from rider_api.mqtt.reconcile import Reconciler
from rider_api.network.view import NetworkView
from rider_api.push.service import WebPush
from rider_api.reservations.changes import Changes
from rider_api.reservations.notifier import ReservationNotifier
from rider_api.settings import ApiSettings, ConsoleSettings
from rider_api.voice.service import VoiceService

__all__ = ["AppState"]


@dataclass
class AppState:
    settings: ApiSettings
    console: ConsoleSettings
    engine: AsyncEngine
    #: Read-only sessions; every write goes through ``unit_of_work``.
    sessions: async_sessionmaker[AsyncSession]
    unit_of_work: UnitsOfWork
    topics: Topics
    network: NetworkView
    changes: Changes
    notifier: ReservationNotifier
    devices: DeviceBoard
    metrics: Metrics
    dispatcher: Dispatcher
    operator_token_hashes: frozenset[str]
    #: The broker link, the outbox relay and the reconciler; None only when
    #: ``settings.mqtt_enabled`` is false (the HTTP layer tested alone).
    mqtt: MqttSession | None
    relay: OutboxRelay | None
    #: Puts the broker's retained calls and alerts back in step after each connection.
    reconciler: Reconciler | None
    #: Console sign-ins (in the database) and the throttle on failed ones (in memory).
    operator_sessions: OperatorSessions
    login_throttle: LoginThrottle
    #: Per-client limits on sign-up, voice and search (api.rate_limits, web.rate_limits).
    limits: ClientLimits
    #: Who leads among the instances, and what the others commit (rider_api.cluster).
    coordinator: Coordinator
    #: Riders' notifications on a locked phone; None when ``settings.push_enabled`` is off.
    push: WebPush | None
    #: GTFS-Realtime: where positions enter (onboard and agency feeds, fresher wins), the
    #: agency feeds' pollers and BusHail's published feeds (rider_api.feeds).
    feeds: TransitFeeds
    #: Riders by token hash (riders never change, so a hit needs no query).
    riders: LruCache[str, Rider] = field(default_factory=lambda: LruCache(10_000))
    #: Spoken or typed requests against the current network.
    voice: VoiceService = field(default_factory=VoiceService)

    def reload_network(self, network: NetworkView) -> None:
        self.network = network
        self.changes.network = network
        self.dispatcher.set_network(network)
        self.voice.index(network)  # built now, not on a rider's first request

    async def refresh_network(self) -> bool:
        """Reload the network view if a new import reached the database; True if it did."""
        async with self.sessions() as session:
            if await NetworkView.current_version(session) == self.network.version:
                return False
            network = await NetworkView.load(session)
        await self.voice.prepare(network)
        self.reload_network(network)
        return True
