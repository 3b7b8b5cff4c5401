"""Which committed changes a rider hears about by Web Push. Pure: no I/O.

A unit of work's ChangeSet says which reservations changed and through which
transitions; ``notices_for`` turns it into at most one ``Notice`` per reservation:

- a transition into a final state gives that state's notice (cancelled, expired,
  no-show, completed). The lifecycle never leaves a final state, so it is the last one;
- a miss gives ``missed`` (waiting for the next bus) or ``reassigned`` (the next bus is
  already on its way, in the same transaction);
- assigned, arriving and at the stop give their own;
- with no such transition, the assigned bus's ETA falling to ``near_s`` or below gives
  ``near``, once per bus: the reservation as it was before the commit (the dispatcher's
  index, read before it is updated) must have been further away, or of another bus.

Acknowledged, boarded, riding and alighting are not notified: the rider hears about the
bus from the stop or is already on board.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from broker_config.messages import Localized, ReservationStatus
from rider_api.db.unit_of_work import ChangeSet
from rider_api.models import Reservation
from rider_api.network.view import NetworkView

__all__ = ["Before", "Notice", "NoticeKind", "notices_for"]

S = ReservationStatus


class NoticeKind(enum.StrEnum):
    ASSIGNED = "assigned"
    NEAR = "near"
    ARRIVING = "arriving"
    AT_STOP = "at_stop"
    MISSED = "missed"
    REASSIGNED = "reassigned"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NO_SHOW = "no_show"
    COMPLETED = "completed"


K = NoticeKind
_FINAL: Final[dict[ReservationStatus, NoticeKind]] = {
    S.CANCELLED: K.CANCELLED,
    S.EXPIRED: K.EXPIRED,
    S.NO_SHOW: K.NO_SHOW,
    S.COMPLETED: K.COMPLETED,
}
_REACHED: Final[dict[ReservationStatus, NoticeKind]] = {
    S.ASSIGNED: K.ASSIGNED,
    S.ARRIVING: K.ARRIVING,
    S.AT_STOP: K.AT_STOP,
}
#: Waiting for its assigned bus: the statuses where "about 3 minutes" is news.
_COMING: Final = frozenset({S.ASSIGNED, S.ACKNOWLEDGED})


class Before(Protocol):
    """A reservation as this instance knew it before the commit (the dispatcher's
    ``Tracked`` is one)."""

    @property
    def status(self) -> ReservationStatus: ...
    @property
    def vehicle_id(self) -> str | None: ...
    @property
    def eta_s(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell a rider, with the names to say it in either language."""

    kind: NoticeKind
    reservation_id: uuid.UUID
    rider_id: uuid.UUID
    route: Localized
    headsign: Localized
    stop: Localized
    eta_s: int | None

    @property
    def final(self) -> bool:
        return self.kind in _FINAL.values()


def _kind(
    steps: list[ReservationStatus], res: Reservation, before: Before | None, near_s: int
) -> NoticeKind | None:
    if steps:
        last = steps[-1]
        if last in _FINAL:
            return _FINAL[last]
        if S.MISSED in steps:
            return K.REASSIGNED if last is S.ASSIGNED else K.MISSED
        if last in _REACHED:
            return _REACHED[last]
    if res.status not in _COMING or res.eta_s is None or res.eta_s > near_s or before is None:
        return None
    if before.status not in _COMING or before.vehicle_id != res.vehicle_id:
        return None
    if before.eta_s is not None and before.eta_s <= near_s:
        return None  # already told: at the assignment, or by an earlier ETA
    return K.NEAR


def notices_for(
    changes: ChangeSet,
    *,
    before: Callable[[uuid.UUID], Before | None],
    network: NetworkView,
    near_s: int,
) -> list[Notice]:
    """What the riders hear about the changes of one committed unit of work."""
    steps: dict[uuid.UUID, list[ReservationStatus]] = {}
    for res, _old, new, _cause in changes.history:
        steps.setdefault(res.id, []).append(new)
    notices = []
    for reservation_id, res in changes.touched.items():
        if res.source == "stop":
            continue  # booked at a stop's button: no phone to notify
        kind = _kind(steps.get(reservation_id, []), res, before(reservation_id), near_s)
        if kind is None:
            continue
        route = network.routes.get(res.route_id)
        direction = network.direction(res.route_id, res.direction_id)
        stop = network.stops.get(res.stop_id)
        notices.append(
            Notice(
                kind=kind,
                reservation_id=reservation_id,
                rider_id=res.rider_id,
                route=route.display_name if route else Localized.same(res.route_id),
                headsign=direction.headsign if direction else Localized.same(""),
                stop=stop.name if stop else Localized.same(res.stop_id),
                eta_s=res.eta_s,
            )
        )
    return notices
