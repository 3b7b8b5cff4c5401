"""The reservation state machine of the v1 contract (section 3): the only place that
decides whether a transition is allowed. Pure: no I/O.

```
pending --assign--> assigned --ack--> acknowledged
assigned|acknowledged --incoming--> arriving --stopped--> at_stop
assigned|acknowledged --stopped--> at_stop
at_stop --board--> boarded --complete--> completed          (no destination)
boarded --ride--> riding --approach_destination--> alighting --alight--> completed
riding --alight--> completed                                 (left the destination early)
assigned|acknowledged|arriving|at_stop --miss--> missed --assign--> assigned
missed --requeue--> pending
any non-final --cancel--> cancelled
assigned|acknowledged|arriving|at_stop --no_show--> no_show
pending|missed|assigned|acknowledged|arriving|at_stop --expire--> expired
```
"""

from __future__ import annotations

import enum
from typing import Final

from broker_config.messages import FINAL_STATUSES, ReservationStatus

__all__ = [
    "ACTIVE_STATUSES",
    "PICKUP_STATUSES",
    "IllegalTransitionError",
    "Trigger",
    "allowed_triggers",
    "can_apply",
    "next_status",
]

S = ReservationStatus


class Trigger(enum.StrEnum):
    ASSIGN = "assign"
    ACK = "ack"
    INCOMING = "incoming"
    STOPPED = "stopped"
    BOARD = "board"
    COMPLETE = "complete"
    RIDE = "ride"
    APPROACH_DESTINATION = "approach_destination"
    ALIGHT = "alight"
    MISS = "miss"
    REQUEUE = "requeue"
    CANCEL = "cancel"
    NO_SHOW = "no_show"
    EXPIRE = "expire"


#: Waiting for or being picked up at the boarding stop.
PICKUP_STATUSES: Final = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.ARRIVING, S.AT_STOP})
ACTIVE_STATUSES: Final = frozenset(set(S) - FINAL_STATUSES)

_NON_FINAL: Final = frozenset(ACTIVE_STATUSES)

_TABLE: Final[dict[Trigger, tuple[frozenset[ReservationStatus], ReservationStatus]]] = {
    Trigger.ASSIGN: (frozenset({S.PENDING, S.MISSED}), S.ASSIGNED),
    Trigger.ACK: (frozenset({S.ASSIGNED}), S.ACKNOWLEDGED),
    Trigger.INCOMING: (frozenset({S.ASSIGNED, S.ACKNOWLEDGED}), S.ARRIVING),
    Trigger.STOPPED: (frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.ARRIVING}), S.AT_STOP),
    Trigger.BOARD: (frozenset({S.AT_STOP}), S.BOARDED),
    Trigger.COMPLETE: (frozenset({S.BOARDED}), S.COMPLETED),
    Trigger.RIDE: (frozenset({S.BOARDED}), S.RIDING),
    Trigger.APPROACH_DESTINATION: (frozenset({S.RIDING}), S.ALIGHTING),
    Trigger.ALIGHT: (frozenset({S.RIDING, S.ALIGHTING}), S.COMPLETED),
    Trigger.MISS: (PICKUP_STATUSES, S.MISSED),
    Trigger.REQUEUE: (frozenset({S.MISSED}), S.PENDING),
    Trigger.CANCEL: (_NON_FINAL, S.CANCELLED),
    Trigger.NO_SHOW: (PICKUP_STATUSES, S.NO_SHOW),
    Trigger.EXPIRE: (frozenset({S.PENDING, S.MISSED}) | PICKUP_STATUSES, S.EXPIRED),
}


class IllegalTransitionError(ValueError):
    """The trigger is not allowed in the reservation's current status."""

    def __init__(self, current: ReservationStatus, trigger: Trigger) -> None:
        super().__init__(f"cannot {trigger.value} a reservation that is {current.value}")
        self.current = current
        self.trigger = trigger


def next_status(current: ReservationStatus, trigger: Trigger) -> ReservationStatus:
    """The status after ``trigger``; IllegalTransitionError if it is not allowed."""
    sources, target = _TABLE[trigger]
    if current not in sources:
        raise IllegalTransitionError(current, trigger)
    return target


def can_apply(current: ReservationStatus, trigger: Trigger) -> bool:
    return current in _TABLE[trigger][0]


def allowed_triggers(current: ReservationStatus) -> frozenset[Trigger]:
    return frozenset(t for t, (sources, _target) in _TABLE.items() if current in sources)
