"""Service quality from reservation histories and incidents, and its CSV export. Pure: no I/O.

Definitions (the console and its CSV export say the same):

- **served share**: of the bookings that *ended* (final status), those that were boarded
  (a ``boarded`` step in the history) or completed.
- **time to acknowledgement**: for every ``assigned`` step followed by ``acknowledged``
  (before any other assignment), the seconds between them; p50 and p95 by the
  nearest-rank method (the smallest value with at least p % of the values at or below it).
- **missed pickups** and **no-shows**: the ``missed`` and ``no_show`` incidents (a booking
  missed by two buses counts twice), per route and per vehicle.

Figures of a booking go to the local hour and day of its creation; incidents to the
local hour and day they happened. "By hour" is the hour of the day (0-23) over the
whole period, to show the busy hours.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from broker_config.messages import FINAL_STATUSES, ReservationStatus

__all__ = [
    "FIGURE_FIELDS",
    "UNKNOWN",
    "BookingRecord",
    "HistoryEntry",
    "IncidentRecord",
    "QualityFigures",
    "QualityReport",
    "compute_quality",
    "figure_values",
    "percentile",
    "quality_csv_text",
]

S = ReservationStatus
#: The key for a missed pickup whose route or vehicle is not known.
UNKNOWN = "-"
_SERVED_STEPS = frozenset({S.BOARDED, S.RIDING, S.ALIGHTING, S.COMPLETED})


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: ReservationStatus
    at: datetime


@dataclass(frozen=True, slots=True)
class BookingRecord:
    """A reservation and its history (in the order the steps happened)."""

    reservation_id: str
    route_id: str
    status: ReservationStatus
    created_at: datetime
    history: tuple[HistoryEntry, ...] = ()
    vehicle_id: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def served(self) -> bool:
        return self.status is S.COMPLETED or any(h.status in _SERVED_STEPS for h in self.history)

    def ack_times_s(self) -> list[float]:
        """Seconds from each assignment to the driver's acknowledgement of it."""
        out: list[float] = []
        assigned_at: datetime | None = None
        for step in self.history:
            if step.status is S.ASSIGNED:
                assigned_at = step.at
            elif step.status is S.ACKNOWLEDGED and assigned_at is not None:
                delta = (step.at - assigned_at).total_seconds()
                if delta >= 0:
                    out.append(delta)
                assigned_at = None
        return out


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    kind: str  # missed | no_show | help | unacknowledged
    at: datetime
    route_id: str | None = None
    vehicle_id: str | None = None
    stop_id: str | None = None
    reason: str | None = None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (0 < p <= 100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class QualityFigures:
    bookings: int = 0
    ended: int = 0
    served: int = 0
    ack_count: int = 0
    ack_p50_s: float | None = None
    ack_p95_s: float | None = None
    missed: int = 0
    no_shows: int = 0
    help: int = 0
    unacknowledged: int = 0

    @property
    def served_share(self) -> float | None:
        return self.served / self.ended if self.ended else None


@dataclass(frozen=True, slots=True)
class QualityReport:
    overall: QualityFigures
    #: Local date (ISO) -> figures, oldest first.
    by_day: dict[str, QualityFigures]
    #: Hour of the day (0-23) -> figures, only the hours with something.
    by_hour: dict[int, QualityFigures]
    missed_by_route: dict[str, int] = field(default_factory=dict)
    missed_by_vehicle: dict[str, int] = field(default_factory=dict)
    no_shows_by_route: dict[str, int] = field(default_factory=dict)
    no_shows_by_vehicle: dict[str, int] = field(default_factory=dict)


@dataclass
class _Acc:
    bookings: int = 0
    ended: int = 0
    served: int = 0
    acks: list[float] = field(default_factory=list)
    incidents: Counter[str] = field(default_factory=Counter)

    def add_booking(self, b: BookingRecord) -> None:
        self.bookings += 1
        if b.ended:
            self.ended += 1
            if b.served:
                self.served += 1
        self.acks.extend(b.ack_times_s())

    def figures(self) -> QualityFigures:
        return QualityFigures(
            bookings=self.bookings,
            ended=self.ended,
            served=self.served,
            ack_count=len(self.acks),
            ack_p50_s=percentile(self.acks, 50),
            ack_p95_s=percentile(self.acks, 95),
            missed=self.incidents["missed"],
            no_shows=self.incidents["no_show"],
            help=self.incidents["help"],
            unacknowledged=self.incidents["unacknowledged"],
        )


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def compute_quality(
    bookings: Iterable[BookingRecord], incidents: Iterable[IncidentRecord], *, tz: tzinfo
) -> QualityReport:
    """Every figure of the quality page for these bookings and incidents."""
    overall = _Acc()
    days: defaultdict[str, _Acc] = defaultdict(_Acc)
    hours: defaultdict[int, _Acc] = defaultdict(_Acc)
    for b in bookings:
        local = b.created_at.astimezone(tz)
        for acc in (overall, days[local.date().isoformat()], hours[local.hour]):
            acc.add_booking(b)
    by_kind: dict[str, tuple[Counter[str], Counter[str]]] = {
        "missed": (Counter(), Counter()),
        "no_show": (Counter(), Counter()),
    }
    for inc in incidents:
        local = inc.at.astimezone(tz)
        for acc in (overall, days[local.date().isoformat()], hours[local.hour]):
            acc.incidents[inc.kind] += 1
        if inc.kind in by_kind:
            per_route, per_vehicle = by_kind[inc.kind]
            per_route[inc.route_id or UNKNOWN] += 1
            per_vehicle[inc.vehicle_id or UNKNOWN] += 1
    return QualityReport(
        overall=overall.figures(),
        by_day={d: days[d].figures() for d in sorted(days)},
        by_hour={h: hours[h].figures() for h in sorted(hours)},
        missed_by_route=_sorted_counts(by_kind["missed"][0]),
        missed_by_vehicle=_sorted_counts(by_kind["missed"][1]),
        no_shows_by_route=_sorted_counts(by_kind["no_show"][0]),
        no_shows_by_vehicle=_sorted_counts(by_kind["no_show"][1]),
    )


#: The figures in the order the page's table, the JSON and the CSV export give them.
FIGURE_FIELDS = (
    "bookings",
    "ended",
    "served",
    "served_share",
    "ack_count",
    "ack_p50_s",
    "ack_p95_s",
    "missed",
    "no_shows",
    "help",
    "unacknowledged",
)


def figure_values(f: QualityFigures) -> dict[str, Any]:
    """``f`` as a dict of :data:`FIGURE_FIELDS` (the derived ``served_share`` included)."""
    return {name: getattr(f, name) for name in FIGURE_FIELDS}


def quality_csv_text(report: QualityReport) -> str:
    """One row per scope (overall, each day, each hour) and per route/vehicle count."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["scope", "key", *FIGURE_FIELDS])

    def row(scope: str, key: str, f: QualityFigures) -> None:
        values = figure_values(f)
        out.writerow([scope, key, *("" if values[n] is None else values[n] for n in FIGURE_FIELDS)])

    row("overall", "", report.overall)
    for d, f in report.by_day.items():
        row("day", d, f)
    for h, f in report.by_hour.items():
        row("hour", f"{h:02d}", f)
    for scope, counts, column in (
        ("route", report.missed_by_route, "missed"),
        ("vehicle", report.missed_by_vehicle, "missed"),
        ("route", report.no_shows_by_route, "no_shows"),
        ("vehicle", report.no_shows_by_vehicle, "no_shows"),
    ):
        for key, n in counts.items():
            out.writerow([scope, key, *(n if c == column else "" for c in FIGURE_FIELDS)])
    return buf.getvalue()
