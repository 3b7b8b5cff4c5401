"""The optional onboard GPS feed: a ``PositionSource`` the display publishes from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from broker_config.messages import VehiclePosition

__all__ = ["PositionSource"]


class PositionSource(Protocol):
    """Yields the vehicle's positions as they come (a GPS receiver, or the simulator).

    The display publishes each one to ``vehicles/{id}/position`` at QoS 0; when the
    iterator ends, the feed stops. A simulator may instead call
    ``await display.publish_position(pos)`` directly.
    """

    def positions(self) -> AsyncIterator[VehiclePosition]: ...
