"""Which moment a StopCall is, and whether to say it: the gateway's pure call tracker.

``CallTracker.apply(call)`` keeps the latest call per reservation and returns a
:class:`CallUpdate` (the moment to announce, the minutes to say, the reason) or None
when the delivery is stale or a duplicate (its ``seq`` is not newer than the last one
seen, also after the call ended). ETA thresholds (default 5, 3, 1 minutes) are said
once each: when the ETA falls under several at once only the lowest is said, and an
ETA said with an assignment counts for the thresholds it is already under.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from broker_config.messages import ReservationStatus, StopCall
from stop_gateway.announcements import Moment, minutes_from_eta

__all__ = ["CallTracker", "CallUpdate"]

S = ReservationStatus

_BY_STATUS: dict[ReservationStatus, Moment] = {
    S.PENDING: Moment.BOOKED,
    S.ASSIGNED: Moment.ASSIGNED,
    S.ACKNOWLEDGED: Moment.CONFIRMED,
    S.ARRIVING: Moment.ARRIVING,
    S.AT_STOP: Moment.AT_STOP,
    S.MISSED: Moment.MISSED,
    S.CANCELLED: Moment.CANCELLED,
    S.EXPIRED: Moment.EXPIRED,
    S.NO_SHOW: Moment.NO_SHOW,
}
_WITH_ETA = frozenset({Moment.ASSIGNED, Moment.CONFIRMED, Moment.REASSIGNED})


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """What a call's change means for the stop; ``moment`` None: nothing to say."""

    call: StopCall
    moment: Moment | None
    minutes: int | None = None
    reason: str | None = None


@dataclass(slots=True)
class _Tracked:
    call: StopCall
    eta_said: set[int] = field(default_factory=set)


class CallTracker:
    """The calls of one stop, by reservation; see the module docstring."""

    def __init__(self, thresholds_min: Sequence[int] = (5, 3, 1), ended_memory: int = 1024):
        self.thresholds = tuple(sorted(set(thresholds_min), reverse=True))
        self._calls: dict[uuid.UUID, _Tracked] = {}
        self._ended: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._ended_memory = ended_memory

    def active(self) -> list[StopCall]:
        """Calls not ended, oldest change first."""
        return sorted((t.call for t in self._calls.values()), key=lambda c: c.updated_at)

    def latest(self) -> StopCall | None:
        calls = self.active()
        return calls[-1] if calls else None

    def get(self, reservation_id: uuid.UUID) -> StopCall | None:
        tracked = self._calls.get(reservation_id)
        return tracked.call if tracked is not None else None

    def clear(self, reservation_id: uuid.UUID) -> None:
        """The call's retained topic was cleared: forget it (its seq is remembered)."""
        tracked = self._calls.pop(reservation_id, None)
        if tracked is not None:
            self._remember_end(reservation_id, tracked.call.seq)

    def _remember_end(self, reservation_id: uuid.UUID, seq: int) -> None:
        self._ended[reservation_id] = max(seq, self._ended.get(reservation_id, -1))
        self._ended.move_to_end(reservation_id)
        while len(self._ended) > self._ended_memory:
            self._ended.popitem(last=False)

    def apply(self, call: StopCall) -> CallUpdate | None:
        """Take a delivered call; None when it is stale or a duplicate."""
        rid = call.reservation_id
        ended_seq = self._ended.get(rid)
        if ended_seq is not None and call.seq <= ended_seq:
            return None
        tracked = self._calls.get(rid)
        if tracked is not None and call.seq <= tracked.call.seq:
            return None
        previous = tracked.call if tracked is not None else None
        eta_said = tracked.eta_said if tracked is not None else set()
        if call.status.is_final:
            self._calls.pop(rid, None)
            self._remember_end(rid, call.seq)
        else:
            self._calls[rid] = _Tracked(call, eta_said)
        return self._decide(call, previous, eta_said)

    def summary(self, call: StopCall) -> CallUpdate:
        """The call's current state as one announcement (for the repeat button)."""
        moment = _BY_STATUS.get(call.status)
        minutes = None
        if moment in _WITH_ETA and call.eta_s is not None:
            minutes = minutes_from_eta(call.eta_s)
        return CallUpdate(call, moment, minutes, call.reason)

    def _decide(self, call: StopCall, previous: StopCall | None, eta_said: set[int]) -> CallUpdate:
        status = call.status
        changed = previous is None or previous.status is not status
        moment: Moment | None = None
        if status is S.ASSIGNED and previous is not None:
            new_bus = previous.vehicle_id is not None and previous.vehicle_id != call.vehicle_id
            if previous.status is S.MISSED or (changed and call.reason) or new_bus:
                moment = Moment.REASSIGNED
                eta_said.clear()
        if moment is None and changed:
            moment = _BY_STATUS.get(status)
        minutes: int | None = None
        if moment in _WITH_ETA and call.eta_s is not None:
            minutes = minutes_from_eta(call.eta_s)
            eta_said.update(t for t in self.thresholds if call.eta_s <= t * 60)
        elif moment is None and status in (S.ASSIGNED, S.ACKNOWLEDGED) and call.eta_s is not None:
            crossed = [t for t in self.thresholds if call.eta_s <= t * 60 and t not in eta_said]
            if crossed:
                eta_said.update(crossed)
                moment = Moment.ETA
                minutes = min(crossed)
        return CallUpdate(call, moment, minutes, call.reason)
