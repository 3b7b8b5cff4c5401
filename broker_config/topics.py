"""Build and parse every v1 topic; the only place topic strings are written.

Usage: ``topics = Topics()`` (or ``Topics(root)``), then ``topics.stop_call(stop_id,
reservation_id)``, ``topics.parse(topic)`` and the subscription filters.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Final

from broker_config.const import (
    DEFAULT_ROOT,
    ID_PATTERN,
    MONITOR_LOGIN_PREFIX,
    SERVER_LOGIN_PREFIX,
    STOP_LOGIN_PREFIX,
    VEHICLE_LOGIN_PREFIX,
)
from broker_config.errors import InvalidIdError, InvalidTopicError

__all__ = [
    "TOPIC_SPECS",
    "Owner",
    "ParsedTopic",
    "TopicKind",
    "TopicSpec",
    "Topics",
    "login_for",
    "monitor_login",
    "topic_matches",
    "validate_id",
    "validate_reservation_id",
]


class Owner(enum.StrEnum):
    """Which device class a topic belongs to (the first level under the root)."""

    STOP = "stops"
    VEHICLE = "vehicles"
    SERVER = "server"


class TopicKind(enum.StrEnum):
    STOP_CALL = "stop_call"
    STOP_ANNOUNCE = "stop_announce"
    STOP_EVENTS = "stop_events"
    STOP_STATUS = "stop_status"
    STOP_HEALTH = "stop_health"
    STOP_RECEIPTS = "stop_receipts"
    VEHICLE_ALERT = "vehicle_alert"
    VEHICLE_POSITION = "vehicle_position"
    VEHICLE_EVENTS = "vehicle_events"
    VEHICLE_STATUS = "vehicle_status"
    VEHICLE_HEALTH = "vehicle_health"
    VEHICLE_RECEIPTS = "vehicle_receipts"
    SERVER_STATUS = "server_status"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """Shape and delivery of one topic kind.

    ``tail`` is the part after ``{owner}/{id}/``; ``has_reservation`` adds a last level.
    ``device_writes`` says whether the owning device publishes it (else it reads it).
    """

    kind: TopicKind
    owner: Owner
    tail: str
    qos: int
    retain: bool
    device_writes: bool
    has_reservation: bool = False


TOPIC_SPECS: Final[dict[TopicKind, TopicSpec]] = {
    spec.kind: spec
    for spec in (
        TopicSpec(TopicKind.STOP_CALL, Owner.STOP, "calls", 1, True, False, True),
        TopicSpec(TopicKind.STOP_ANNOUNCE, Owner.STOP, "announce", 1, False, False),
        TopicSpec(TopicKind.STOP_EVENTS, Owner.STOP, "events", 1, False, True),
        TopicSpec(TopicKind.STOP_STATUS, Owner.STOP, "status", 1, True, True),
        TopicSpec(TopicKind.STOP_HEALTH, Owner.STOP, "health", 0, False, True),
        TopicSpec(TopicKind.STOP_RECEIPTS, Owner.STOP, "receipts", 1, False, False),
        TopicSpec(TopicKind.VEHICLE_ALERT, Owner.VEHICLE, "alerts", 1, True, False, True),
        TopicSpec(TopicKind.VEHICLE_POSITION, Owner.VEHICLE, "position", 0, False, True),
        TopicSpec(TopicKind.VEHICLE_EVENTS, Owner.VEHICLE, "events", 1, False, True),
        TopicSpec(TopicKind.VEHICLE_STATUS, Owner.VEHICLE, "status", 1, True, True),
        TopicSpec(TopicKind.VEHICLE_HEALTH, Owner.VEHICLE, "health", 0, False, True),
        TopicSpec(TopicKind.VEHICLE_RECEIPTS, Owner.VEHICLE, "receipts", 1, False, False),
        TopicSpec(TopicKind.SERVER_STATUS, Owner.SERVER, "status", 1, True, True),
    )
}

_BY_OWNER_TAIL: Final = {(s.owner.value, s.tail): s for s in TOPIC_SPECS.values()}


def validate_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it may stand in a topic level, else raise InvalidIdError."""
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise InvalidIdError(
            f"{what} {value!r} is not allowed: use 1 to 64 of A-Z a-z 0-9 _ . - "
            "(no '/', '+', '#', spaces or empty ids)"
        )
    return value


def validate_reservation_id(value: str | uuid.UUID) -> str:
    """Return the canonical string of a reservation UUID, else raise InvalidIdError."""
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidIdError(f"reservation_id {value!r} is not a UUID") from exc
    if str(parsed) != value:
        raise InvalidIdError(f"reservation_id {value!r} is not a canonical lower-case UUID")
    return value


def login_for(owner: Owner, device_id: str) -> str:
    """The MQTT username of a device: ``stop.{id}``, ``vehicle.{id}`` or ``server.{id}``."""
    prefix = {
        Owner.STOP: STOP_LOGIN_PREFIX,
        Owner.VEHICLE: VEHICLE_LOGIN_PREFIX,
        Owner.SERVER: SERVER_LOGIN_PREFIX,
    }[owner]
    return prefix + validate_id(device_id, f"{owner.name.lower()} id")


def monitor_login(name: str) -> str:
    """The MQTT username of a read-only monitor: ``monitor.{name}``.

    Every API instance has one of its own name for its reconcile scan; observers and
    tools get theirs from the registry. A monitor reads everything under the root and
    writes only under its own ``monitor/{name}/``.
    """
    return MONITOR_LOGIN_PREFIX + validate_id(name, "monitor name")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT wildcard match (``+`` one level, ``#`` the rest); ``$share/g/`` is ignored."""
    if topic_filter.startswith("$share/"):
        topic_filter = topic_filter.split("/", 2)[2]
    f_levels = topic_filter.split("/")
    t_levels = topic.split("/")
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels):
            return False
        if level != "+" and level != t_levels[i]:
            return False
    return len(f_levels) == len(t_levels)


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A received topic, split into its parts."""

    kind: TopicKind
    device_id: str
    reservation_id: str | None = None

    @property
    def spec(self) -> TopicSpec:
        return TOPIC_SPECS[self.kind]


class Topics:
    """Topic builders, parsers and subscription filters under one root prefix."""

    __slots__ = ("root",)

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        root = root.strip("/")
        if not root or any(ch in root for ch in "+#") or "//" in root:
            raise InvalidTopicError(f"root prefix {root!r} is not a valid topic prefix")
        self.root = root

    # -- builders ---------------------------------------------------------------------
    def build(
        self, kind: TopicKind, device_id: str, reservation_id: str | uuid.UUID | None = None
    ) -> str:
        spec = TOPIC_SPECS[kind]
        owner_id = validate_id(device_id, f"{spec.owner.name.lower()} id")
        if kind is TopicKind.SERVER_STATUS:
            return f"{self.root}/server/{owner_id}/status"
        base = f"{self.root}/{spec.owner.value}/{owner_id}/{spec.tail}"
        if spec.has_reservation:
            if reservation_id is None:
                raise InvalidIdError(f"{kind} needs a reservation_id")
            return f"{base}/{validate_reservation_id(reservation_id)}"
        return base

    def stop_call(self, stop_id: str, reservation_id: str | uuid.UUID) -> str:
        return self.build(TopicKind.STOP_CALL, stop_id, reservation_id)

    def stop_announce(self, stop_id: str) -> str:
        return self.build(TopicKind.STOP_ANNOUNCE, stop_id)

    def stop_events(self, stop_id: str) -> str:
        return self.build(TopicKind.STOP_EVENTS, stop_id)

    def stop_receipts(self, stop_id: str) -> str:
        """The server's receipts for the stop's events (see ``EventReceipt``)."""
        return self.build(TopicKind.STOP_RECEIPTS, stop_id)

    def stop_status(self, stop_id: str) -> str:
        return self.build(TopicKind.STOP_STATUS, stop_id)

    def stop_health(self, stop_id: str) -> str:
        return self.build(TopicKind.STOP_HEALTH, stop_id)

    def vehicle_alert(self, vehicle_id: str, reservation_id: str | uuid.UUID) -> str:
        return self.build(TopicKind.VEHICLE_ALERT, vehicle_id, reservation_id)

    def vehicle_position(self, vehicle_id: str) -> str:
        return self.build(TopicKind.VEHICLE_POSITION, vehicle_id)

    def vehicle_events(self, vehicle_id: str) -> str:
        return self.build(TopicKind.VEHICLE_EVENTS, vehicle_id)

    def vehicle_receipts(self, vehicle_id: str) -> str:
        """The server's receipts for the vehicle's events (see ``EventReceipt``)."""
        return self.build(TopicKind.VEHICLE_RECEIPTS, vehicle_id)

    def vehicle_status(self, vehicle_id: str) -> str:
        return self.build(TopicKind.VEHICLE_STATUS, vehicle_id)

    def vehicle_health(self, vehicle_id: str) -> str:
        return self.build(TopicKind.VEHICLE_HEALTH, vehicle_id)

    def server_status(self, instance: str) -> str:
        return self.build(TopicKind.SERVER_STATUS, instance)

    # -- subscription filters ---------------------------------------------------------
    def stop_calls_filter(self, stop_id: str) -> str:
        """A gateway's own calls: ``stops/{id}/calls/+``."""
        return f"{self.root}/stops/{validate_id(stop_id, 'stop id')}/calls/+"

    def vehicle_alerts_filter(self, vehicle_id: str) -> str:
        """A display's own alerts: ``vehicles/{id}/alerts/+``."""
        return f"{self.root}/vehicles/{validate_id(vehicle_id, 'vehicle id')}/alerts/+"

    def all_of(self, kind: TopicKind) -> str:
        """Every device's topic of one kind (for servers): e.g. ``vehicles/+/position``."""
        spec = TOPIC_SPECS[kind]
        owner = "server" if kind is TopicKind.SERVER_STATUS else spec.owner.value
        suffix = "/+" if spec.has_reservation else ""
        return f"{self.root}/{owner}/+/{spec.tail}{suffix}"

    def everything(self) -> str:
        return f"{self.root}/#"

    def monitor(self, name: str, tail: str) -> str:
        """A topic in a monitor's own space, ``monitor/{name}/{tail}`` (markers, probes)."""
        return f"{self.root}/monitor/{validate_id(name, 'monitor name')}/{validate_id(tail)}"

    def monitor_space(self, name: str) -> str:
        """Everything a monitor may write: ``monitor/{name}/#``."""
        return f"{self.root}/monitor/{validate_id(name, 'monitor name')}/#"

    # -- parser -----------------------------------------------------------------------
    def parse(self, topic: str) -> ParsedTopic:
        """Split a concrete v1 topic into kind and ids; raise InvalidTopicError otherwise."""
        prefix = self.root + "/"
        if not topic.startswith(prefix):
            raise InvalidTopicError(f"topic {topic!r} is not under {self.root!r}")
        levels = topic[len(prefix) :].split("/")
        try:
            if len(levels) == 3:
                owner, device_id, tail = levels
                spec = _BY_OWNER_TAIL.get((owner, tail))
                if spec is None or spec.has_reservation:
                    raise InvalidTopicError(f"topic {topic!r} is not a v1 topic")
                return ParsedTopic(spec.kind, validate_id(device_id))
            if len(levels) == 4:
                owner, device_id, tail, reservation_id = levels
                spec = _BY_OWNER_TAIL.get((owner, tail))
                if spec is None or not spec.has_reservation:
                    raise InvalidTopicError(f"topic {topic!r} is not a v1 topic")
                return ParsedTopic(
                    spec.kind, validate_id(device_id), validate_reservation_id(reservation_id)
                )
        except InvalidIdError as exc:
            raise InvalidTopicError(f"topic {topic!r}: {exc}") from exc
        raise InvalidTopicError(f"topic {topic!r} is not a v1 topic")
