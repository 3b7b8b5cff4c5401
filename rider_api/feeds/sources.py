"""Where every position enters the fleet view: onboard units (MQTT) and agency feeds.

Both paths pass the freshness arbitration (``freshness``) before the dispatcher's
``on_position``, so the fresher report of a bus wins whichever way it came.
"""

from __future__ import annotations

from broker_config.messages import VehiclePosition
from rider_api.dispatch.dispatcher import Dispatcher
from rider_api.feeds.freshness import Freshness, Outcome, Source
from rider_api.feeds.metrics import FeedMetrics

__all__ = ["PositionSources"]

MAX_VEHICLES = 100_000


class PositionSources:
    def __init__(self, *, dispatcher: Dispatcher, metrics: FeedMetrics) -> None:
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.freshness = Freshness(max_vehicles=MAX_VEHICLES)
        #: Per bus, the last feed position applied: a feed served again unchanged (no
        #: ETag at the agency) must not make an old position look newly received.
        self._from_feeds: dict[str, VehiclePosition] = {}

    async def onboard(self, vehicle_id: str, position: VehiclePosition) -> bool:
        """A bus's own position (MQTT); True when it entered the fleet view."""
        return await self._offer(vehicle_id, position, Source.ONBOARD)

    async def from_feed(self, positions: dict[str, VehiclePosition]) -> int:
        """The positions of one fetched feed; how many entered the fleet view."""
        applied = 0
        for vehicle_id, position in positions.items():
            if self._from_feeds.get(vehicle_id) == position:
                continue
            if await self._offer(vehicle_id, position, Source.FEED):
                if len(self._from_feeds) >= MAX_VEHICLES and vehicle_id not in self._from_feeds:
                    self._from_feeds.pop(next(iter(self._from_feeds)))
                self._from_feeds[vehicle_id] = position
                applied += 1
        return applied

    async def _offer(self, vehicle_id: str, position: VehiclePosition, source: Source) -> bool:
        outcome = self.freshness.judge(vehicle_id, source, position.timestamp)
        self.metrics.sources.labels(source=source.value, outcome=outcome.value).inc()
        if outcome is not Outcome.APPLIED:
            return False
        await self.dispatcher.on_position(vehicle_id, position)
        return True
