"""A rider's report that the bus did not stop: an incident the operator console lists.

A booking that ended without a pickup (the driver marked the rider as not boarded, it
expired, or the rider gave up and cancelled) may hide a bus that drove past: the rider
says so in one action, and the operators see it among the incidents with the bus and
the time. The incident has a kind of its own, ``rider_report`` (the console lists it
among what is at risk; the quality figures keep ``missed`` for the dispatcher's own
misses). Reports made before that kind existed were stored as ``missed`` with the same
reason and are still found. One report per booking: a second one returns the first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import ReservationStatus
from rider_api.core.problems import Problem
from rider_api.models import Incident, Reservation, Rider
from rider_api.reservations.booking import get_owned
from rider_api.state import AppState

__all__ = [
    "LEGACY_REPORT_KIND",
    "REPORTABLE_STATUSES",
    "RIDER_REPORT_KIND",
    "RIDER_REPORT_REASON",
    "Report",
    "can_report",
    "find_report",
    "report_bus_did_not_stop",
]

S = ReservationStatus

#: Endings without a pickup, where a bus may have passed the rider by.
REPORTABLE_STATUSES: Final = frozenset({S.NO_SHOW, S.EXPIRED, S.CANCELLED})
RIDER_REPORT_KIND: Final = "rider_report"
#: The kind such reports were stored under before they had their own.
LEGACY_REPORT_KIND: Final = "missed"
#: The incident's reason (the console shows the kind's label; this stays for scripts).
RIDER_REPORT_REASON: Final = "rider reports the bus did not stop"


@dataclass(frozen=True, slots=True)
class Report:
    """A stored report, and whether this call stored it."""

    id: int
    reservation_id: uuid.UUID
    vehicle_id: str | None
    route_id: str | None
    stop_id: str | None
    at: datetime
    created: bool


def can_report(res: Reservation) -> bool:
    return res.status in REPORTABLE_STATUSES


def _report(incident: Incident, *, created: bool) -> Report:
    if incident.id is None or incident.reservation_id is None:
        raise ValueError("a report is a stored incident of a booking")
    return Report(
        incident.id,
        incident.reservation_id,
        incident.vehicle_id,
        incident.route_id,
        incident.stop_id,
        incident.at,
        created,
    )


async def find_report(session: AsyncSession, reservation_id: uuid.UUID) -> Report | None:
    """The rider's report on this booking, if one was made."""
    incident = (
        await session.exec(
            select(Incident).where(
                col(Incident.reservation_id) == reservation_id,
                col(Incident.kind).in_([RIDER_REPORT_KIND, LEGACY_REPORT_KIND]),
                col(Incident.reason) == RIDER_REPORT_REASON,
            )
        )
    ).first()
    return _report(incident, created=False) if incident is not None else None


async def _last_vehicle(session: AsyncSession, res: Reservation) -> str | None:
    """The bus concerned: the booking's own, else the last one that missed it (a miss
    that found no other bus leaves the booking without one)."""
    if res.vehicle_id is not None:
        return res.vehicle_id
    return (
        await session.exec(
            select(Incident.vehicle_id)
            .where(
                col(Incident.reservation_id) == res.id,
                col(Incident.vehicle_id).is_not(None),
            )
            .order_by(col(Incident.at).desc(), col(Incident.id).desc())
            .limit(1)
        )
    ).first()


async def report_bus_did_not_stop(
    state: AppState, *, rider: Rider, reservation_id: uuid.UUID
) -> Report:
    """Record that the bus did not stop for ``rider`` on this booking (once).

    404 if the booking is not the rider's; 409 ``report-not-allowed`` while it is active
    or after a completed trip. The incident's time is when the booking ended, which is
    when the bus should have stopped, not when the rider found the button.
    """
    async with state.unit_of_work() as uow:
        session = uow.session
        res = await get_owned(session, rider, reservation_id, for_update=True)
        existing = await find_report(session, res.id)
        if existing is not None:
            return existing
        if not can_report(res):
            raise Problem(
                409,
                "A missed bus can be reported once the booking has ended without a pickup "
                f"(not boarded, expired or cancelled); this one is "
                f"{res.status.value.replace('_', ' ')}.",
                code="report-not-allowed",
                current_status=res.status.value,
            )
        incident = Incident(
            kind=RIDER_REPORT_KIND,
            reservation_id=res.id,
            vehicle_id=await _last_vehicle(session, res),
            route_id=res.route_id,
            stop_id=res.stop_id,
            reason=RIDER_REPORT_REASON,
            at=res.status_since,
        )
        uow.record_incident(incident)
        await session.flush()
        report = _report(incident, created=True)
    return report
