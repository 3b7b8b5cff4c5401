"""Request and response bodies of the rider and operator API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from broker_config.const import ID_PATTERN
from broker_config.messages import Lang, Localized, ReservationStatus, RiderNeed
from rider_api.core.plain_text import ONE_LINE

__all__ = [
    "AnnouncementCreate",
    "AnnouncementText",
    "HistoryItem",
    "ReservationCreate",
    "ReservationPublic",
    "RiderCreate",
    "RiderCreated",
]

NetworkId = Annotated[str, StringConstraints(pattern="^" + ID_PATTERN.pattern + "$")]

_PLAIN = "One line of plain text (no control characters or line breaks)."
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
    ONE_LINE,
    Field(description=_PLAIN),
]
Note = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200),
    ONE_LINE,
    Field(description="For the driver, e.g. 'guide dog'. " + _PLAIN),
]


def _canonical_needs(needs: list[RiderNeed]) -> list[RiderNeed]:
    # One order and no repeats: the same choice is the same booking (idempotency hash).
    chosen = set(needs)
    return [n for n in RiderNeed if n in chosen]


Needs = Annotated[
    list[RiderNeed],
    Field(
        max_length=len(RiderNeed) * 2,
        description="What the driver should know, as codes: "
        + ", ".join(f"'{n.value}'" for n in RiderNeed)
        + ". Shown and spoken on the driver's display; an unknown code is a 422.",
    ),
    AfterValidator(_canonical_needs),
]
AnnouncementLine = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    ONE_LINE,
    Field(description=_PLAIN),
]


class RiderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName
    language: Lang = "zh-TW"


class RiderCreated(BaseModel):
    rider_id: uuid.UUID
    token: str
    display_name: str
    language: Lang


class ReservationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stop_id: NetworkId
    route_id: NetworkId
    direction_id: Literal[0, 1]
    destination_stop_id: NetworkId | None = None
    note: Note | None = None
    #: Addition to v1 (optional): the rider's needs, told to the driver.
    needs: Needs | None = None


class HistoryItem(BaseModel):
    status: ReservationStatus
    at: datetime
    cause: str


class ReservationPublic(BaseModel):
    id: uuid.UUID
    status: ReservationStatus
    stop_id: str
    route_id: str
    direction_id: int
    destination_stop_id: str | None
    vehicle_id: str | None
    eta_s: int | None
    created_at: datetime
    updated_at: datetime
    note: str | None = None
    needs: list[RiderNeed] = Field(default_factory=list)
    #: Why the last change happened, e.g. a missed pickup's ``bus_full``.
    reason: str | None = None
    stop_name: Localized | None = None
    destination_name: Localized | None = None
    route_name: Localized | None = None
    headsign: Localized | None = None
    #: False when the stop's gateway is offline (the driver is still alerted).
    gateway_online: bool | None = None
    history: list[HistoryItem] = Field(default_factory=list)


class AnnouncementText(Localized):
    """An announcement's two texts: each one line of 1 to 500 characters."""

    zh_tw: AnnouncementLine = Field(alias="zh-TW")
    en: AnnouncementLine


class AnnouncementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    text: AnnouncementText
    priority: Literal["info", "urgent"] = "info"
