"""The application's typed lifespan state and its unit of work."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.session import MqttSession
from broker_config.topics import Topics
from rider_api.core.metrics import Metrics
from rider_api.db.engine import WriteGate
from rider_api.models import Rider
from rider_api.mqtt.devices import DeviceBoard
from rider_api.network.view import NetworkView
from rider_api.reservations.changes import Changes, ChangeSet
from rider_api.reservations.notifier import ReservationNotifier
from rider_api.settings import ApiSettings

if TYPE_CHECKING:
    from rider_api.dispatch.dispatcher import Dispatcher
    from rider_api.mqtt.outbox import OutboxRelay

__all__ = ["AppState", "LruCache", "UnitOfWork"]

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._size:
            self._data.popitem(last=False)


@dataclass
class UnitOfWork:
    session: AsyncSession
    changes: ChangeSet


@dataclass
class AppState:
    settings: ApiSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    topics: Topics
    network: NetworkView
    changes: Changes
    notifier: ReservationNotifier
    devices: DeviceBoard
    metrics: Metrics
    operator_token_hashes: frozenset[str]
    mqtt: MqttSession | None = None
    relay: OutboxRelay | None = None
    dispatcher: Dispatcher | None = None
    write_gate: WriteGate | None = None
    #: Riders by token hash (riders never change, so a hit needs no query).
    riders: LruCache[str, Rider] = field(default_factory=lambda: LruCache(10_000))

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One short transaction; after commit, wake the relay and tell live listeners."""
        changes = ChangeSet()
        gate = self.write_gate or WriteGate(self.engine)
        self.write_gate = gate
        async with self.sessions() as session:
            async with gate(), session.begin():
                yield UnitOfWork(session, changes)
            if changes.outbox and self.relay is not None:
                self.relay.wake()
            if self.dispatcher is not None:
                self.dispatcher.sync(changes)
            for _res, old, new, _cause in changes.history:
                self.metrics.transition(old, new)
            for reservation_id in changes.reservations:
                self.notifier.publish(reservation_id, {"id": str(reservation_id)})

    def reload_network(self, network: NetworkView) -> None:
        self.network = network
        self.changes.network = network
        if self.dispatcher is not None:
            self.dispatcher.set_network(network)

    async def refresh_network(self) -> bool:
        """Reload the network view if a new import reached the database; True if it did."""
        async with self.sessions() as session:
            if await NetworkView.current_version(session) == self.network.version:
                return False
            network = await NetworkView.load(session)
        self.reload_network(network)
        return True
