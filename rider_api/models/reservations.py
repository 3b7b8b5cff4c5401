"""Riders, reservations and their history, the outbox, incidents, processed events."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Dialect, LargeBinary, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel

from broker_config.messages import ReservationStatus, RiderNeed, utcnow

__all__ = [
    "IdempotencyRecord",
    "Incident",
    "OutboxMessage",
    "ProcessedEvent",
    "Reservation",
    "ReservationEvent",
    "Rider",
    "needs_column",
    "needs_from_column",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones: store naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)  # noqa: S101 - the column's type
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(**kw: Any) -> Any:
    return Column(UTCDateTime(), **kw)


def needs_column(needs: Iterable[RiderNeed]) -> str | None:
    """What ``Reservation.needs`` stores: the codes in ``RiderNeed`` order, once each."""
    chosen = set(needs)
    return ",".join(n.value for n in RiderNeed if n in chosen) or None


def needs_from_column(value: str | None) -> tuple[RiderNeed, ...]:
    """The needs a stored ``Reservation.needs`` holds (a code this release lacks is skipped)."""
    known = {n.value: n for n in RiderNeed}
    return tuple(known[code] for code in (value or "").split(",") if code in known)


class Rider(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    display_name: str = Field(max_length=80)
    language: str = Field(default="zh-TW", max_length=8)
    #: SHA-256 of the bearer token (the token itself is never stored).
    token_hash: str = Field(unique=True, index=True, max_length=64)
    #: "app" for a person with the app, "stop" for a rider who booked at a stop's button.
    kind: str = Field(default="app", max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class Reservation(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    rider_id: uuid.UUID = Field(foreign_key="rider.id", index=True)
    status: ReservationStatus = Field(default=ReservationStatus.PENDING, index=True)
    stop_id: str = Field(index=True, max_length=64)
    route_id: str = Field(index=True, max_length=64)
    direction_id: int
    destination_stop_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=200)
    #: The rider's needs (``RiderNeed`` codes), comma-separated in ``RiderNeed`` order;
    #: None when the rider chose none.
    needs: str | None = Field(default=None, max_length=200)
    vehicle_id: str | None = Field(default=None, index=True, max_length=64)
    #: Position of the vehicle's trip stop (for the DriverAlert's stop_sequence).
    stop_sequence: int | None = None
    eta_s: int | None = None
    #: Per-reservation counter of published messages (readers drop stale seq).
    seq: int = 0
    rider_lang: str = Field(default="zh-TW", max_length=8)
    source: str = Field(default="app", max_length=8)
    reason: str | None = Field(default=None, max_length=40)
    missed_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    status_since: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    #: When the current driver alert went out and whether the driver has answered it.
    alerted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ack_overdue: bool = False


class ReservationEvent(SQLModel, table=True):
    """One transition of a reservation: its history."""

    id: int | None = Field(default=None, primary_key=True)
    reservation_id: uuid.UUID = Field(foreign_key="reservation.id", index=True)
    status: ReservationStatus
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    cause: str = Field(max_length=200)


class IdempotencyRecord(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("rider_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    rider_id: uuid.UUID = Field(foreign_key="rider.id", index=True)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    reservation_id: uuid.UUID = Field(foreign_key="reservation.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class OutboxMessage(SQLModel, table=True):
    """An MQTT message written in the same transaction as the change that implies it."""

    id: int | None = Field(default=None, primary_key=True)
    reservation_id: uuid.UUID | None = Field(default=None, index=True)
    topic: str = Field(max_length=300)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    qos: int = 1
    retain: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    #: Not published before this time (the clearing of a final call).
    not_before: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))


class Incident(SQLModel, table=True):
    """Something operators must see: missed pickups, no-shows, help presses ..."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=24)
    reservation_id: uuid.UUID | None = Field(default=None, index=True)
    vehicle_id: str | None = Field(default=None, index=True, max_length=64)
    route_id: str | None = Field(default=None, index=True, max_length=64)
    stop_id: str | None = Field(default=None, index=True, max_length=64)
    reason: str | None = Field(default=None, max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))


class ProcessedEvent(SQLModel, table=True):
    """Ids of device events already applied (QoS 1 delivers at least once)."""

    id: uuid.UUID = Field(primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
