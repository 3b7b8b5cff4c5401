"""Operators' console sign-ins and the audit log of what operators did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from broker_config.messages import utcnow
from rider_api.models.reservations import UTCDateTime

__all__ = ["OperatorAudit", "OperatorSession"]


def _ts(**kw: Any) -> Any:
    return Column(UTCDateTime(), **kw)


class OperatorSession(SQLModel, table=True):
    """One console sign-in. The browser holds a random id; only its SHA-256 is stored."""

    __tablename__ = "operator_session"

    session_hash: str = Field(primary_key=True, max_length=64)
    #: SHA-256 of the operator token that opened it (a token removed from the settings
    #: ends its sign-ins too).
    operator_digest: str = Field(index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    #: Last request seen (updated at most every few seconds): the idle expiry counts from it.
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    #: The absolute end of the sign-in.
    expires_at: datetime = Field(sa_column=_ts(nullable=False, index=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class OperatorAudit(SQLModel, table=True):
    """One thing an operator did (or tried), written in the transaction that did it."""

    __tablename__ = "operator_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    #: The operator's short label (see ``console.sessions.operator_label``); None when
    #: nobody is known (a failed sign-in).
    operator: str | None = Field(default=None, max_length=64)
    #: What was done, one of ``console.audit.AuditAction``.
    action: str = Field(index=True, max_length=32)
    #: What it was done to: ``stop:S1``, ``route:R1``, ``all``, a reservation id ...
    target: str | None = Field(default=None, max_length=200)
    detail: str | None = Field(default=None, max_length=500)
    #: The client's address as the server saw it.
    client: str | None = Field(default=None, max_length=64)
