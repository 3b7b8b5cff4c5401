"""What a simulated city measures: latencies, reservations by state, lost messages."""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from broker_config.messages import ReservationStatus

__all__ = ["CityStats", "percentile"]

S = ReservationStatus
_WITH_VEHICLE = frozenset(
    {S.ASSIGNED, S.ACKNOWLEDGED, S.ARRIVING, S.AT_STOP, S.BOARDED, S.RIDING, S.ALIGHTING}
)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` (0..100) percentile by nearest rank; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class CityStats:
    """Counters and latency samples, all on the process's monotonic clock."""

    started: float = field(default_factory=time.monotonic)
    #: reservation id -> when the booking request was sent.
    booked_at: dict[uuid.UUID, float] = field(default_factory=dict)
    #: reservation id -> when its first DriverAlert reached a display.
    alerted_at: dict[uuid.UUID, float] = field(default_factory=dict)
    #: (vehicle_id, stop_id) -> when the vehicle reported INCOMING_AT that stop.
    incoming_at: dict[tuple[str, str], float] = field(default_factory=dict)
    booking_to_alert_ms: list[float] = field(default_factory=list)
    arriving_to_announcement_ms: list[float] = field(default_factory=list)
    status: dict[uuid.UUID, ReservationStatus] = field(default_factory=dict)
    missed: set[uuid.UUID] = field(default_factory=set)
    #: Reservations seen with a vehicle (their driver must have been alerted).
    assigned: set[uuid.UUID] = field(default_factory=set)
    announced: set[uuid.UUID] = field(default_factory=set)
    positions: int = 0
    bookings_sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def booked(self, rid: uuid.UUID, sent: float) -> None:
        self.booked_at[rid] = sent
        if rid in self.alerted_at:
            self._alert_latency(rid)

    def alerted(self, rid: uuid.UUID) -> None:
        if rid in self.alerted_at:
            return
        self.alerted_at[rid] = time.monotonic()
        if rid in self.booked_at:
            self._alert_latency(rid)

    def _alert_latency(self, rid: uuid.UUID) -> None:
        self.booking_to_alert_ms.append((self.alerted_at[rid] - self.booked_at[rid]) * 1000)

    def incoming(self, vehicle_id: str, stop_id: str) -> None:
        self.incoming_at[(vehicle_id, stop_id)] = time.monotonic()

    def arrival_announced(self, rid: uuid.UUID, vehicle_id: str | None, stop_id: str) -> None:
        if rid in self.announced:
            return
        self.announced.add(rid)
        sent = self.incoming_at.get((vehicle_id or "", stop_id))
        if sent is not None:
            self.arriving_to_announcement_ms.append((time.monotonic() - sent) * 1000)

    def saw_status(self, rid: uuid.UUID, status: ReservationStatus) -> None:
        self.status[rid] = status
        if status is ReservationStatus.MISSED:
            self.missed.add(rid)
        if status in _WITH_VEHICLE:
            self.assigned.add(rid)

    def by_state(self) -> dict[str, int]:
        counts = Counter(s.value for s in self.status.values())
        return dict(sorted(counts.items()))

    def completed(self) -> int:
        return sum(1 for s in self.status.values() if s is ReservationStatus.COMPLETED)

    def report(self) -> dict[str, Any]:
        """The JSON report of ``bushail-sim load``."""
        elapsed = max(1e-9, time.monotonic() - self.started)
        # Bookings of the last seconds may still have their alert on the way.
        settled = time.monotonic() - 5.0
        lost_alerts = len(
            [
                rid
                for rid in self.assigned
                if rid not in self.alerted_at and self.booked_at.get(rid, 0.0) < settled
            ]
        )
        return {
            "elapsed_s": round(elapsed, 3),
            "bookings_sent": self.bookings_sent,
            "bookings_accepted": len(self.booked_at),
            "throughput_bookings_per_s": round(len(self.booked_at) / elapsed, 3),
            "positions_published": self.positions,
            "reservations_by_state": self.by_state(),
            "missed_pickups": len(self.missed),
            "latency_ms": {
                "booking_to_alert": _summary(self.booking_to_alert_ms),
                "arriving_to_stop_announcement": _summary(self.arriving_to_announcement_ms),
            },
            "lost_messages": {"driver_alerts": lost_alerts},
            "errors": dict(self.errors),
        }


def _summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50": _round(percentile(values, 50)),
        "p95": _round(percentile(values, 95)),
        "p99": _round(percentile(values, 99)),
        "max": _round(max(values) if values else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
