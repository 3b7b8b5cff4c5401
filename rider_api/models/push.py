"""Web Push: each rider's browser subscriptions, and the API's bodies for them.

A subscription is what a browser's ``PushManager.subscribe()`` gave: the push service's
endpoint URL and the browser's two keys (``p256dh``: its P-256 public key, ``auth``: a
16-byte secret). Payloads are encrypted to those keys (RFC 8291), so the push service
reads nothing but the endpoint, the size and the time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from broker_config.messages import utcnow
from rider_api.models.reservations import UTCDateTime

__all__ = [
    "MAX_ENDPOINT_LENGTH",
    "PushKeyPublic",
    "PushKeys",
    "PushSubscription",
    "PushSubscriptionCreate",
    "PushSubscriptionDelete",
    "PushSubscriptionPublic",
]

#: Real endpoints are 150-400 characters (FCM, Mozilla, Apple, Windows).
MAX_ENDPOINT_LENGTH = 1024
_B64URL = r"^[A-Za-z0-9_-]+={0,2}$"


def _ts(**kw: Any) -> Any:
    return Column(UTCDateTime(), **kw)


class PushSubscription(SQLModel, table=True):
    """One browser of one rider that asked for notifications."""

    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    rider_id: uuid.UUID = Field(foreign_key="rider.id", index=True)
    #: Unique: a browser has one endpoint per site, whoever is signed in on it now.
    endpoint: str = Field(unique=True, max_length=MAX_ENDPOINT_LENGTH)
    #: base64url, as the browser gave them.
    p256dh: str = Field(max_length=100)
    auth: str = Field(max_length=50)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


Base64Url = Annotated[str, StringConstraints(strip_whitespace=True, pattern=_B64URL)]


class PushKeys(BaseModel):
    """The ``keys`` of a PushSubscription's JSON."""

    p256dh: Annotated[Base64Url, StringConstraints(min_length=86, max_length=88)]
    auth: Annotated[Base64Url, StringConstraints(min_length=16, max_length=24)]


class PushSubscriptionCreate(BaseModel):
    """``PushSubscription.toJSON()`` as the browser gives it (``expirationTime`` and any
    other member are ignored)."""

    model_config = ConfigDict(extra="ignore")

    endpoint: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=8, max_length=MAX_ENDPOINT_LENGTH)
    ]
    keys: PushKeys


class PushSubscriptionDelete(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpoint: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=MAX_ENDPOINT_LENGTH)
    ]


class PushSubscriptionPublic(BaseModel):
    endpoint: str
    created_at: datetime
    updated_at: datetime


class PushKeyPublic(BaseModel):
    """The server's VAPID public key: the ``applicationServerKey`` to subscribe with."""

    public_key: str
