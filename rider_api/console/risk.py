"""What is at risk, first: the live board's opening list, each item with what to do next.

Pure: built from the board's snapshot parts (bookings, offline stops, recent incidents,
the age of every bus's last position); no I/O. The order is the order of urgency: a
rider waiting at a silent stop, a driver who has not seen the alert, a bus that has gone
quiet with riders assigned, a booking still without a bus, a rider's report that the bus
did not stop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from broker_config.messages import Localized, ReservationStatus

__all__ = ["NO_BUS_STATUSES", "RISK_KINDS", "RiskItem", "RiskKind", "at_risk"]

S = ReservationStatus
RiskKind = Literal["gateway_offline", "unacknowledged", "stale_bus", "waiting", "rider_report"]
#: Most urgent first.
RISK_KINDS: Final[tuple[RiskKind, ...]] = (
    "gateway_offline",
    "unacknowledged",
    "stale_bus",
    "waiting",
    "rider_report",
)
#: A booking in these states has no bus coming.
NO_BUS_STATUSES: Final = frozenset({S.PENDING, S.MISSED})
#: A rider in these states counts on the assigned bus.
_COUNTS_ON_BUS: Final = frozenset(
    {S.ASSIGNED, S.ACKNOWLEDGED, S.ARRIVING, S.AT_STOP, S.BOARDED, S.RIDING, S.ALIGHTING}
)
#: What an operator may do about an item (the board links each one).
Action = Literal["call", "broadcast", "cancel"]
RIDER_REPORT: Final = "rider_report"


@dataclass(frozen=True, slots=True)
class RiskItem:
    kind: RiskKind
    #: Stable across updates (the board keeps focus on an item by it).
    key: str
    #: Since when it is so (None: not known, e.g. a gateway never heard of).
    since: datetime | None
    age_s: float | None
    stop_id: str | None
    stop_name: Localized | None
    route_id: str | None
    vehicle_id: str | None
    reservation_id: uuid.UUID | None
    #: Riders concerned (a stale bus may carry several bookings).
    riders: int
    actions: tuple[Action, ...]


class _Booking(Protocol):
    """What the rule reads of a board row (``live.BookingRow``)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def status(self) -> ReservationStatus: ...

    @property
    def stop_id(self) -> str: ...

    @property
    def stop_name(self) -> Localized | None: ...

    @property
    def route_id(self) -> str: ...

    @property
    def vehicle_id(self) -> str | None: ...

    @property
    def status_since(self) -> datetime: ...

    @property
    def in_state_s(self) -> float: ...

    @property
    def alert(self) -> str | None: ...


class _Incident(Protocol):
    """What the rule reads of an incident row (``live.IncidentRow``)."""

    @property
    def kind(self) -> str: ...

    @property
    def at(self) -> datetime | None: ...

    @property
    def stop_id(self) -> str | None: ...

    @property
    def stop_name(self) -> Localized | None: ...

    @property
    def route_id(self) -> str | None: ...

    @property
    def vehicle_id(self) -> str | None: ...

    @property
    def reservation_id(self) -> uuid.UUID | None: ...


def at_risk(
    *,
    bookings: Sequence[_Booking],
    offline_stops: Iterable[_Incident],
    incidents: Iterable[_Incident],
    position_age_s: Mapping[str, float],
    now: datetime,
    wait_s: float,
    staleness_s: float,
    report_window_s: float,
) -> list[RiskItem]:
    """Everything at risk now, most urgent first (then the longest-standing first).

    ``position_age_s``: seconds since each bus's last position (a bus missing from it
    was never heard of: stale).
    """
    items: list[RiskItem] = []
    for o in offline_stops:
        items.append(
            _of_incident(
                "gateway_offline",
                f"gateway_offline:{o.stop_id}:{o.reservation_id}",
                o,
                now,
                ("call",) if o.vehicle_id else ("cancel",),
            )
        )
    on_bus: dict[str, list[_Booking]] = {}
    for b in bookings:
        if b.alert == "overdue":
            items.append(_of_booking("unacknowledged", b, ("call", "broadcast")))
        if b.vehicle_id is None and b.status in NO_BUS_STATUSES and b.in_state_s >= wait_s:
            items.append(_of_booking("waiting", b, ("broadcast", "cancel")))
        if b.vehicle_id is not None and b.status in _COUNTS_ON_BUS:
            on_bus.setdefault(b.vehicle_id, []).append(b)
    for vehicle_id, riding in on_bus.items():
        age = position_age_s.get(vehicle_id)
        if age is not None and age <= staleness_s:
            continue
        first = riding[0]
        items.append(
            RiskItem(
                kind="stale_bus",
                key=f"stale_bus:{vehicle_id}",
                since=now - timedelta(seconds=age) if age is not None else None,
                age_s=age,
                stop_id=first.stop_id,
                stop_name=first.stop_name,
                route_id=first.route_id,
                vehicle_id=vehicle_id,
                reservation_id=first.id if len(riding) == 1 else None,
                riders=len(riding),
                actions=("call",),
            )
        )
    window_start = now - timedelta(seconds=report_window_s)
    for i in incidents:
        if i.kind != RIDER_REPORT or i.at is None or i.at < window_start:
            continue
        items.append(
            _of_incident(
                "rider_report",
                f"rider_report:{i.reservation_id}:{i.at.isoformat()}",
                i,
                now,
                ("call", "broadcast") if i.vehicle_id else ("broadcast",),
            )
        )
    rank = {k: n for n, k in enumerate(RISK_KINDS)}
    items.sort(key=lambda r: (rank[r.kind], -(r.age_s if r.age_s is not None else float("inf"))))
    return items


def _of_booking(kind: RiskKind, b: _Booking, actions: tuple[Action, ...]) -> RiskItem:
    """An item about one booking, standing since its status changed."""
    return RiskItem(
        kind=kind,
        key=f"{kind}:{b.id}",
        since=b.status_since,
        age_s=b.in_state_s,
        stop_id=b.stop_id,
        stop_name=b.stop_name,
        route_id=b.route_id,
        vehicle_id=b.vehicle_id,
        reservation_id=b.id,
        riders=1,
        actions=actions,
    )


def _of_incident(
    kind: RiskKind, key: str, i: _Incident, now: datetime, actions: tuple[Action, ...]
) -> RiskItem:
    """An item about one incident (a stop gone silent, a rider's report), since it was."""
    return RiskItem(
        kind=kind,
        key=key,
        since=i.at,
        age_s=_age(now, i.at),
        stop_id=i.stop_id,
        stop_name=i.stop_name,
        route_id=i.route_id,
        vehicle_id=i.vehicle_id,
        reservation_id=i.reservation_id,
        riders=1,
        actions=actions,
    )


def _age(now: datetime, since: datetime | None) -> float | None:
    return max(0.0, (now - since).total_seconds()) if since is not None else None
