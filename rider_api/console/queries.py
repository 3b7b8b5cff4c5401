"""Database reads of the console: quality inputs, active bookings, recent incidents."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import ReservationStatus
from rider_api.console.quality import BookingRecord, HistoryEntry, IncidentRecord
from rider_api.models import Incident, Reservation, ReservationEvent
from rider_api.reservations.lifecycle import ACTIVE_STATUSES

__all__ = [
    "active_reservations",
    "alerts_pending_acknowledgement",
    "load_quality_inputs",
    "recent_incidents",
]


async def load_quality_inputs(
    session: AsyncSession, *, start: datetime, end: datetime
) -> tuple[list[BookingRecord], list[IncidentRecord]]:
    """Bookings created and incidents that happened in ``[start, end)``."""
    reservations = (
        await session.exec(
            select(Reservation).where(
                col(Reservation.created_at) >= start, col(Reservation.created_at) < end
            )
        )
    ).all()
    history: defaultdict[str, list[HistoryEntry]] = defaultdict(list)
    ids = [r.id for r in reservations]
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        events = (
            await session.exec(
                select(ReservationEvent)
                .where(col(ReservationEvent.reservation_id).in_(chunk))
                .order_by(col(ReservationEvent.id))
            )
        ).all()
        for e in events:
            history[str(e.reservation_id)].append(HistoryEntry(e.status, e.at))
    bookings = [
        BookingRecord(
            reservation_id=str(r.id),
            route_id=r.route_id,
            status=r.status,
            created_at=r.created_at,
            history=tuple(history[str(r.id)]),
            vehicle_id=r.vehicle_id,
        )
        for r in reservations
    ]
    incidents = (
        await session.exec(
            select(Incident).where(col(Incident.at) >= start, col(Incident.at) < end)
        )
    ).all()
    return bookings, [
        IncidentRecord(
            kind=i.kind,
            at=i.at,
            route_id=i.route_id,
            vehicle_id=i.vehicle_id,
            stop_id=i.stop_id,
            reason=i.reason,
        )
        for i in incidents
    ]


async def active_reservations(session: AsyncSession) -> Sequence[Reservation]:
    return (
        await session.exec(
            select(Reservation)
            .where(col(Reservation.status).in_([s.value for s in ACTIVE_STATUSES]))
            .order_by(col(Reservation.status_since))
        )
    ).all()


async def recent_incidents(
    session: AsyncSession, *, since: datetime, limit: int = 100
) -> Sequence[Incident]:
    return (
        await session.exec(
            select(Incident)
            .where(col(Incident.at) >= since)
            .order_by(col(Incident.at).desc())
            .limit(limit)
        )
    ).all()


async def alerts_pending_acknowledgement(session: AsyncSession) -> int:
    """Driver alerts sent and not yet acknowledged (for ``bushail_alerts_unacknowledged``)."""
    rows = (
        await session.exec(
            select(Reservation.id).where(
                col(Reservation.status) == ReservationStatus.ASSIGNED.value,
                col(Reservation.alerted_at).is_not(None),
                col(Reservation.acknowledged_at).is_(None),
            )
        )
    ).all()
    return len(rows)
