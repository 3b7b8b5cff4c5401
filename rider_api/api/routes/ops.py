"""Operator API: devices, all reservations, incidents, announcements.

A cancellation or an announcement and its row in the operator audit log (see
``console.audit``) commit together, or not at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlmodel import col, select

from broker_config.messages import Announcement, ReservationStatus, utcnow
from rider_api.api.deps import OperatorDep, SessionDep, StateDep
from rider_api.console.audit import AuditAction, announcement_detail, record
from rider_api.core.problems import Problem
from rider_api.models import Incident, Reservation
from rider_api.models.schemas import AnnouncementCreate, ReservationPublic
from rider_api.mqtt.announcements import enqueue_announcements
from rider_api.reservations.booking import cancel as cancel_in
from rider_api.reservations.booking import get_owned, to_public

router = APIRouter(prefix="/v1/ops", tags=["operators"])


class DevicePublic(BaseModel):
    kind: str
    device_id: str
    state: str
    session: int
    version: str | None
    since: datetime | None
    stale: bool
    health: dict[str, Any] | None
    health_at: datetime | None


class IncidentPublic(BaseModel):
    id: int
    kind: str
    reservation_id: uuid.UUID | None
    vehicle_id: str | None
    route_id: str | None
    stop_id: str | None
    reason: str | None
    at: datetime


@router.get("/devices", response_model=list[DevicePublic])
async def devices(
    _op: OperatorDep,
    state: StateDep,
    heartbeat_s: Annotated[float, Query(gt=0, le=3600)] = 90.0,
) -> list[DevicePublic]:
    """Every gateway and vehicle: online/offline, since when, last health."""
    now = utcnow()
    return [
        DevicePublic(
            kind=r.kind,
            device_id=r.device_id,
            state=r.state.value,
            session=r.session,
            version=r.version,
            since=r.since,
            stale=r.stale(now, heartbeat_s),
            health=r.health.model_dump(mode="json") if r.health else None,
            health_at=r.health_at,
        )
        for r in sorted(state.devices.records.values(), key=lambda r: (r.kind, r.device_id))
    ]


@router.get("/reservations", response_model=list[ReservationPublic])
async def reservations(
    _op: OperatorDep,
    state: StateDep,
    session: SessionDep,
    status_filter: Annotated[ReservationStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ReservationPublic]:
    query = select(Reservation)
    if status_filter is not None:
        query = query.where(col(Reservation.status) == status_filter.value)
    rows = (
        await session.exec(query.order_by(col(Reservation.created_at).desc()).limit(limit))
    ).all()
    return [await to_public(state, session, r) for r in rows]


@router.delete("/reservations/{reservation_id}", response_model=ReservationPublic)
async def cancel(
    reservation_id: uuid.UUID, op: OperatorDep, state: StateDep, session: SessionDep
) -> ReservationPublic:
    """Cancel any rider's reservation (in the audit log with the cancellation)."""
    cause = "cancelled by operator"
    async with state.unit_of_work() as uow:
        await cancel_in(state, uow, reservation_id=reservation_id, rider=None, cause=cause)
        record(
            uow.session,
            action=AuditAction.CANCEL,
            operator=op,
            target=f"reservation:{reservation_id}",
            detail=cause,
        )
    return await to_public(state, session, await get_owned(session, None, reservation_id))


@router.get("/incidents", response_model=list[IncidentPublic])
async def incidents(
    _op: OperatorDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[IncidentPublic]:
    rows = (
        await session.exec(select(Incident).order_by(col(Incident.id).desc()).limit(limit))
    ).all()
    return [IncidentPublic.model_validate(r, from_attributes=True) for r in rows]


@router.post(
    "/stops/{stop_id}/announce", status_code=status.HTTP_202_ACCEPTED, response_model=Announcement
)
async def announce(
    stop_id: str, body: AnnouncementCreate, op: OperatorDep, state: StateDep
) -> Announcement:
    """Send an announcement to a stop (spoken there in both languages)."""
    if stop_id not in state.network.stops:
        raise Problem(404, f"There is no stop with id '{stop_id}'.", code="stop-not-found")
    async with state.unit_of_work() as uow:
        (message,) = enqueue_announcements(
            uow, state.topics, stop_ids=[stop_id], text=body.text, priority=body.priority
        )
        record(
            uow.session,
            action=AuditAction.BROADCAST,
            operator=op,
            target=f"stop:{stop_id}",
            detail=announcement_detail(body.text, priority=body.priority, stops=1),
        )
    return message
