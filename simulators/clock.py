"""The simulated clock: seconds of the service day, running ``speed`` times real time."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import zoneinfo
from collections.abc import Callable

__all__ = ["SimClock", "service_midnight"]


def service_midnight(day: dt.date, timezone: str) -> float:
    """POSIX time of midnight starting ``day`` in ``timezone`` (GTFS times count from it)."""
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp()


class SimClock:
    """``now()``: simulated seconds after the service day's midnight.

    Starts at ``start_s`` and advances ``speed`` simulated seconds per real second of
    ``monotonic`` (injectable for tests).
    """

    def __init__(
        self,
        start_s: float,
        *,
        speed: float = 1.0,
        midnight: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start_s = start_s
        self.speed = speed
        self.midnight = midnight
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> float:
        return self.start_s + (self._monotonic() - self._t0) * self.speed

    def epoch(self, t: float | None = None) -> float:
        """POSIX time of simulated moment ``t`` (default now), for VehiclePosition."""
        return self.midnight + (self.now() if t is None else t)

    def real_s(self, sim_s: float) -> float:
        """Real seconds that ``sim_s`` simulated seconds take."""
        return max(0.0, sim_s) / self.speed

    async def sleep(self, sim_s: float) -> None:
        await asyncio.sleep(self.real_s(sim_s))
