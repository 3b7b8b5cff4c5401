"""The daily report: one service day per route and per driver, and its CSV. Pure: no I/O.

For the bookings made and the incidents that happened on one local day: bookings,
served (see ``console.quality``), missed pickups with their reasons, no-shows, riders'
"the bus did not stop" reports, and the driver's time to acknowledge an alert (count,
p50, p95, mean). "Per driver" is per vehicle: the driver display is the bus's, and the
server knows buses, not who drove them; a shift roster maps one to the other.

A booking counts for the route it was made on and for the last bus assigned to it; an
incident for its own route and bus.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from rider_api.console.quality import UNKNOWN, BookingRecord, IncidentRecord, percentile

__all__ = ["DAILY_FIELDS", "DailyReport", "DailyRow", "compute_daily", "daily_csv_text"]

RIDER_REPORT: Final = "rider_report"


@dataclass
class DailyRow:
    key: str
    bookings: int = 0
    ended: int = 0
    served: int = 0
    missed: int = 0
    no_shows: int = 0
    rider_reports: int = 0
    acks: list[float] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def ack_count(self) -> int:
        return len(self.acks)

    @property
    def ack_p50_s(self) -> float | None:
        return percentile(self.acks, 50)

    @property
    def ack_p95_s(self) -> float | None:
        return percentile(self.acks, 95)

    @property
    def ack_mean_s(self) -> float | None:
        return round(sum(self.acks) / len(self.acks), 1) if self.acks else None


#: The columns of the page's tables and of the CSV, in order.
DAILY_FIELDS: Final = (
    "bookings",
    "ended",
    "served",
    "missed",
    "no_shows",
    "rider_reports",
    "ack_count",
    "ack_p50_s",
    "ack_p95_s",
    "ack_mean_s",
)


@dataclass(frozen=True, slots=True)
class DailyReport:
    day: str
    overall: DailyRow
    by_route: list[DailyRow]
    by_vehicle: list[DailyRow]
    #: Missed pickups by reason (most first); ``UNKNOWN`` for none given.
    missed_reasons: dict[str, int]

    @property
    def empty(self) -> bool:
        o = self.overall
        return not (o.bookings or o.missed or o.no_shows or o.rider_reports)


def compute_daily(
    day: str, bookings: Iterable[BookingRecord], incidents: Iterable[IncidentRecord]
) -> DailyReport:
    overall = DailyRow("")
    routes: dict[str, DailyRow] = {}
    vehicles: dict[str, DailyRow] = {}

    def rows(route_id: str | None, vehicle_id: str | None) -> list[DailyRow]:
        out = [overall]
        out.append(routes.setdefault(route_id or UNKNOWN, DailyRow(route_id or UNKNOWN)))
        if vehicle_id:
            out.append(vehicles.setdefault(vehicle_id, DailyRow(vehicle_id)))
        return out

    for b in bookings:
        acks = b.ack_times_s()
        for row in rows(b.route_id, b.vehicle_id):
            row.bookings += 1
            row.ended += b.ended
            row.served += b.ended and b.served
            row.acks.extend(acks)
    for i in incidents:
        for row in rows(i.route_id, i.vehicle_id):
            if i.kind == "missed":
                row.missed += 1
                row.reasons[i.reason or UNKNOWN] += 1
            elif i.kind == "no_show":
                row.no_shows += 1
            elif i.kind == RIDER_REPORT:
                row.rider_reports += 1
    return DailyReport(
        day=day,
        overall=overall,
        by_route=[routes[k] for k in sorted(routes)],
        by_vehicle=[vehicles[k] for k in sorted(vehicles)],
        missed_reasons=dict(sorted(overall.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def row_values(row: DailyRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in DAILY_FIELDS}


def daily_csv_text(report: DailyReport) -> str:
    """``scope,key,<fields>,reason``: the day, each route, each vehicle, then one row per
    missed-pickup reason (overall and per route)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["day", "scope", "key", *DAILY_FIELDS, "reason"])

    def write(scope: str, row: DailyRow) -> None:
        values = row_values(row)
        cells = ("" if values[n] is None else values[n] for n in DAILY_FIELDS)
        out.writerow([report.day, scope, row.key, *cells, ""])

    write("day", report.overall)
    for row in report.by_route:
        write("route", row)
    for row in report.by_vehicle:
        write("driver", row)
    for scope, rows in (("day", [report.overall]), ("route", report.by_route)):
        for row in rows:
            for reason, n in sorted(row.reasons.items()):
                cells = [n if f == "missed" else "" for f in DAILY_FIELDS]
                out.writerow([report.day, f"{scope}-reason", row.key, *cells, reason])
    return buf.getvalue()
