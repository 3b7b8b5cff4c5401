"""Frozen payload models of every v1 message, and their one encode/decode pair.

Readers ignore unknown fields; a malformed payload raises MalformedPayloadError, and so
does one over MAX_PAYLOAD_BYTES, before any parsing.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from broker_config.const import ID_PATTERN, MAX_PAYLOAD_BYTES
from broker_config.errors import MalformedPayloadError

__all__ = [
    "FINAL_STATUSES",
    "Announcement",
    "ButtonAction",
    "CannotStopReason",
    "DeviceHealth",
    "DeviceState",
    "DeviceStatus",
    "DriverAlert",
    "DriverEvent",
    "DriverEventType",
    "EventReceipt",
    "Lang",
    "Localized",
    "Message",
    "ReservationStatus",
    "RiderNeed",
    "StopCall",
    "StopEvent",
    "VehiclePosition",
    "VehicleStopStatus",
    "decode",
    "decode_or_clear",
    "encode",
    "utcnow",
]

Lang = Literal["zh-TW", "en"]
# Anchored at both ends: pydantic searches the pattern, it does not full-match it.
TopicId = Annotated[str, StringConstraints(pattern="^(?:" + ID_PATTERN.pattern + ")$")]
NonNegInt = Annotated[int, Field(ge=0)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReservationStatus(enum.StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    ARRIVING = "arriving"
    AT_STOP = "at_stop"
    BOARDED = "boarded"
    RIDING = "riding"
    ALIGHTING = "alighting"
    MISSED = "missed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES: frozenset[ReservationStatus] = frozenset(
    {
        ReservationStatus.COMPLETED,
        ReservationStatus.CANCELLED,
        ReservationStatus.NO_SHOW,
        ReservationStatus.EXPIRED,
    }
)


class VehicleStopStatus(enum.StrEnum):
    INCOMING_AT = "INCOMING_AT"
    STOPPED_AT = "STOPPED_AT"
    IN_TRANSIT_TO = "IN_TRANSIT_TO"


class DriverEventType(enum.StrEnum):
    ACKNOWLEDGED = "acknowledged"
    BOARDED = "boarded"
    NO_SHOW = "no_show"
    CANNOT_STOP = "cannot_stop"
    ALIGHTED = "alighted"


class CannotStopReason(enum.StrEnum):
    BUS_FULL = "bus_full"
    STOP_BLOCKED = "stop_blocked"
    UNSAFE = "unsafe"
    OTHER = "other"


class RiderNeed(enum.StrEnum):
    """What a rider asks the driver for, picked when booking (codes, never free text)."""

    GUIDE_DOG = "guide_dog"
    #: A wheelchair user: kneel the bus and put out the ramp.
    WHEELCHAIR = "wheelchair"
    HELP_BOARDING = "help_boarding"
    #: Tell the rider when the bus reaches their stop.
    TELL_MY_STOP = "tell_my_stop"


def _known_needs(value: object) -> object:
    """Needs a newer server may send that this reader does not know are dropped, not the
    whole alert (a new code must never make an older display lose a pick-up)."""
    if not isinstance(value, list | tuple):
        return value
    known = {n.value for n in RiderNeed}
    return [n for n in value if not isinstance(n, str) or n in known]


class ButtonAction(enum.StrEnum):
    REPEAT = "repeat"
    HELP = "help"
    CANCEL = "cancel"
    BOOK = "book"


class DeviceState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Localized(_Frozen):
    """A text in both languages: ``{"zh-TW": "...", "en": "..."}``."""

    zh_tw: str = Field(alias="zh-TW")
    en: str

    def get(self, lang: Lang) -> str:
        return self.zh_tw if lang == "zh-TW" else self.en

    @classmethod
    def same(cls, text: str) -> Localized:
        return cls.model_validate({"zh-TW": text, "en": text})


class Message(_Frozen):
    """Base of every payload: carries the protocol version ``v``."""

    v: Literal[1] = 1


class StopCall(Message):
    """Server -> gateway: a rider waits at this stop for this route (retained)."""

    reservation_id: uuid.UUID
    seq: NonNegInt
    status: ReservationStatus
    route_id: TopicId
    route_name: Localized
    headsign: Localized
    vehicle_id: TopicId | None = None
    eta_s: NonNegInt | None = None
    rider_lang: Lang = "zh-TW"
    updated_at: datetime
    # Additions to the v1 contract (optional, ignored by older readers):
    direction_id: Literal[0, 1] | None = None
    #: Why the call changed (e.g. a missed pickup's ``bus_full``), for the spoken text.
    reason: str | None = None
    #: How the route name is spoken (GTFS tts), when it differs from ``route_name``.
    route_tts: Localized | None = None


class Announcement(Message):
    """Server/operator -> gateway: a free text to speak."""

    id: uuid.UUID
    text: Localized
    priority: Literal["info", "urgent"] = "info"


class StopEvent(Message):
    """Gateway -> server: a button press at the stop."""

    id: uuid.UUID
    type: Literal["button"] = "button"
    action: ButtonAction
    route_id: TopicId | None = None
    direction_id: Literal[0, 1] | None = None
    at: datetime
    #: Addition: the call a ``cancel`` or ``repeat`` refers to.
    reservation_id: uuid.UUID | None = None
    #: Addition: the language the rider chose at the stop.
    lang: Lang | None = None

    @model_validator(mode="after")
    def _book_needs_route(self) -> Self:
        if self.action is ButtonAction.BOOK and (
            self.route_id is None or self.direction_id is None
        ):
            raise ValueError("a 'book' event needs route_id and direction_id")
        return self


class DriverAlert(Message):
    """Server -> driver display: pick up or drop off a rider (retained)."""

    reservation_id: uuid.UUID
    seq: NonNegInt
    kind: Literal["pickup", "dropoff"]
    status: ReservationStatus
    stop_id: TopicId
    stop_name: Localized
    stop_sequence: NonNegInt
    eta_s: NonNegInt | None = None
    note: str | None = None
    # Additions:
    route_id: TopicId | None = None
    updated_at: datetime | None = None
    #: True when the server re-sends an alert the driver has not acknowledged.
    reminder: bool = False
    #: The route as riders and drivers say it, and where it heads (the direction).
    route_name: Localized | None = None
    headsign: Localized | None = None
    #: What the rider asked for when booking, in ``RiderNeed`` order (unknown codes dropped).
    needs: Annotated[tuple[RiderNeed, ...], BeforeValidator(_known_needs)] = ()
    #: Where the rider gets off (on a pick-up; a drop-off's stop is ``stop_name``).
    destination_name: Localized | None = None
    #: The stop just before ``stop_id`` on the route: "drop off at X, after Y".
    previous_stop_name: Localized | None = None


class VehiclePosition(Message):
    """Vehicle -> server, GTFS-Realtime shaped (QoS 0)."""

    route_id: TopicId
    direction_id: Literal[0, 1]
    trip_id: TopicId | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    stop_id: TopicId
    current_stop_sequence: NonNegInt
    current_status: VehicleStopStatus
    #: POSIX seconds (fractions allowed).
    timestamp: float = Field(ge=0)


class DriverEvent(Message):
    """Driver display -> server: the driver's one-tap answer."""

    id: uuid.UUID
    reservation_id: uuid.UUID
    type: DriverEventType
    reason: CannotStopReason | None = None
    at: datetime

    @model_validator(mode="after")
    def _cannot_stop_needs_reason(self) -> Self:
        if self.type is DriverEventType.CANNOT_STOP and self.reason is None:
            raise ValueError("a 'cannot_stop' event needs a reason")
        return self


class EventReceipt(Message):
    """Server -> device: a StopEvent or DriverEvent has been applied (or refused).

    A device keeps each event it sent and sends it again (same id) until the receipt
    with that id arrives: the broker's PUBACK only says the broker has it, and nobody
    may have been subscribed then. The server applies an event id once and answers
    every copy, so a device that missed a receipt gets one for its next copy.
    """

    event_id: uuid.UUID
    #: ``applied``: done now; ``duplicate``: done before; ``refused``: will never be
    #: done (a tap for a booking not assigned to this bus, a booking over the limits).
    outcome: Literal["applied", "duplicate", "refused"]
    detail: str | None = None
    at: datetime


class DeviceStatus(Message):
    """Every device, retained; the offline copy is the device's last will."""

    state: DeviceState
    session: NonNegInt
    version: str
    started_at: datetime


class DeviceHealth(Message):
    """Device -> server heartbeat (QoS 0)."""

    uptime_s: float = Field(ge=0)
    queue_depth: NonNegInt
    speaker_ok: bool | None = None
    last_error: str | None = None
    at: datetime


M = TypeVar("M", bound=Message)


def encode(message: Message) -> bytes:
    """The UTF-8 JSON of a message, with the contract's field names."""
    return message.model_dump_json(by_alias=True).encode()


def decode(model: type[M], payload: bytes | str) -> M:
    """Parse a payload into ``model``; raise MalformedPayloadError if it is not one.

    A payload over MAX_PAYLOAD_BYTES is refused unparsed: no v1 message is that big.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MalformedPayloadError(
            f"malformed {model.__name__}: payload of {len(payload)} bytes is over the "
            f"limit of {MAX_PAYLOAD_BYTES}"
        )
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise MalformedPayloadError(
            f"malformed {model.__name__}: {where}: {first.get('msg', 'invalid')}"
        ) from exc


def decode_or_clear(model: type[M], payload: bytes | str) -> M | None:
    """Like decode, but an empty payload (a cleared retained topic) gives None."""
    if not payload:
        return None
    return decode(model, payload)
