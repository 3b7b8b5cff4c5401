"""Fresher wins: which source's position of a bus enters the fleet view. Pure: no I/O.

A bus may report itself (its onboard unit over MQTT) and be reported by the agency's
GTFS-Realtime feed too. Both go through one :class:`Freshness`, keyed by BusHail vehicle
id, which admits a position only when it is at least as new, by the position's own
``timestamp``, as the last one admitted for that bus:

- newer (larger timestamp): admitted, whichever source it comes from;
- older: dropped (the fleet view would drop it as well);
- equal, from the source that gave the last one: admitted (the contract's "equal
  timestamps apply in arrival order");
- equal, from the other source: dropped. It is the same moment seen twice (an agency
  feed is often fed by the very same bus); keeping the incumbent stops the bus flapping
  between two copies.

Both clocks must be right: a source whose clock runs ahead keeps winning until the
other catches up (docs/gtfs-rt.md, "Freshness").
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

__all__ = ["Freshness", "Holder", "Outcome", "Source"]


class Source(enum.StrEnum):
    """Where a position came from."""

    ONBOARD = "onboard"
    FEED = "feed"


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    OLDER = "older"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Holder:
    """The last position admitted for a bus: its timestamp and source."""

    timestamp: float
    source: Source


class Freshness:
    """The arbitration between position sources (see the module docstring)."""

    def __init__(self, *, max_vehicles: int = 100_000) -> None:
        self._last: dict[str, Holder] = {}
        self._max_vehicles = max_vehicles
        #: Decisions so far, by (source, outcome).
        self.counts: Counter[tuple[Source, Outcome]] = Counter()

    def judge(self, vehicle_id: str, source: Source, timestamp: float) -> Outcome:
        """Whether a position of ``vehicle_id`` from ``source`` at ``timestamp`` applies;
        an admitted one becomes the bus's holder."""
        last = self._last.get(vehicle_id)
        if last is None or timestamp > last.timestamp:
            outcome = Outcome.APPLIED
        elif timestamp < last.timestamp:
            outcome = Outcome.OLDER
        elif source is last.source:
            outcome = Outcome.APPLIED
        else:
            outcome = Outcome.DUPLICATE
        self.counts[(source, outcome)] += 1
        if outcome is Outcome.APPLIED:
            if last is None and len(self._last) >= self._max_vehicles:
                # Bounded whatever a feed invents: forget the oldest-known bus.
                self._last.pop(next(iter(self._last)))
            self._last[vehicle_id] = Holder(timestamp, source)
        return outcome

    def admit(self, vehicle_id: str, source: Source, timestamp: float) -> bool:
        """True when the position applies (see :meth:`judge`)."""
        return self.judge(vehicle_id, source, timestamp) is Outcome.APPLIED

    def holder(self, vehicle_id: str) -> Holder | None:
        """The source and timestamp of the bus's last admitted position."""
        return self._last.get(vehicle_id)
