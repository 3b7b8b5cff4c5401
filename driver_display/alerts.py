"""The display's alerts: apply retained DriverAlerts in ``seq`` order, and sort the cards.

The screen pins the first card that waits for the driver's answer (``AlertView.actionable``):
``AlertStore.views()`` puts those first, each group in stop order.

Pure state, no I/O: the MQTT adapter decodes a message and calls ``AlertStore.apply``;
the screen calls ``AlertStore.views()``.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from broker_config.messages import DriverAlert, DriverEventType, ReservationStatus
from driver_display.answers import available_answers, needs_acknowledgement
from driver_display.const import TOMBSTONE_LIMIT

__all__ = ["AlertChange", "AlertStore", "AlertView", "ChangeKind", "order_key", "ordered"]


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What one applied message did to the store (stale and duplicate ones do nothing)."""

    kind: ChangeKind
    reservation_id: uuid.UUID
    previous: DriverAlert | None
    current: DriverAlert | None
    #: Whether the alert waited for acknowledgement before and after the change.
    needed_ack: bool
    needs_ack: bool


@dataclass(frozen=True, slots=True)
class AlertView:
    """One card: the alert, what the driver tapped, and the buttons to offer."""

    alert: DriverAlert
    answered: tuple[DriverEventType, ...]
    answers: tuple[DriverEventType, ...]
    needs_ack: bool

    @property
    def reservation_id(self) -> uuid.UUID:
        return self.alert.reservation_id

    @property
    def active(self) -> bool:
        return _is_active(self.alert)

    @property
    def actionable(self) -> bool:
        """The card waits for the driver: an acknowledgement, boarded/no-show at the stop,
        alighted at the drop-off (a lone "Can't stop" button is on offer, not awaited)."""
        return self.active and any(a is not DriverEventType.CANNOT_STOP for a in self.answers)


def _is_active(alert: DriverAlert) -> bool:
    return not alert.status.is_final and alert.status is not ReservationStatus.MISSED


def order_key(alert: DriverAlert) -> tuple[bool, int, float, int, str]:
    """Active before ended; then stop order; then ETA; drop-offs before pick-ups at a
    stop (riders get off before others get on); then the id, for a stable order."""
    return (
        not _is_active(alert),
        alert.stop_sequence,
        math.inf if alert.eta_s is None else float(alert.eta_s),
        0 if alert.kind == "dropoff" else 1,
        str(alert.reservation_id),
    )


def ordered(alerts: Iterable[DriverAlert]) -> list[DriverAlert]:
    """The cards in screen order: the first is the next pick-up or drop-off."""
    return sorted(alerts, key=order_key)


AlertKind = Literal["pickup", "dropoff"]
_KIND_OF_ANSWER: dict[DriverEventType, AlertKind] = {
    DriverEventType.BOARDED: "pickup",
    DriverEventType.NO_SHOW: "pickup",
    DriverEventType.CANNOT_STOP: "pickup",
    DriverEventType.ALIGHTED: "dropoff",
}


class AlertStore:
    """The current alert per reservation, with stale-``seq`` protection."""

    def __init__(self, tombstone_limit: int = TOMBSTONE_LIMIT) -> None:
        self._alerts: dict[uuid.UUID, DriverAlert] = {}
        # Taps per reservation and alert kind: a pick-up's "boarded" must not close the
        # same reservation's drop-off card.
        self._answered: dict[tuple[uuid.UUID, AlertKind], list[DriverEventType]] = {}
        # Last seq of removed alerts: a late redelivery of an older copy stays out.
        self._tombstones: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._tombstone_limit = tombstone_limit

    def __len__(self) -> int:
        return len(self._alerts)

    def get(self, reservation_id: uuid.UUID) -> DriverAlert | None:
        return self._alerts.get(reservation_id)

    def answered(self, reservation_id: uuid.UUID) -> tuple[DriverEventType, ...]:
        alert = self._alerts.get(reservation_id)
        kind: AlertKind = alert.kind if alert is not None else "pickup"
        return tuple(self._answered.get((reservation_id, kind), ()))

    def _forget_answers(self, reservation_id: uuid.UUID, *kinds: AlertKind) -> None:
        for kind in kinds or ("pickup", "dropoff"):
            self._answered.pop((reservation_id, kind), None)

    def needs_ack(self, reservation_id: uuid.UUID) -> bool:
        alert = self._alerts.get(reservation_id)
        return alert is not None and needs_acknowledgement(alert, self.answered(reservation_id))

    def apply(self, reservation_id: uuid.UUID, alert: DriverAlert | None) -> AlertChange | None:
        """Apply a retained message (``None`` = cleared); None if stale or a duplicate."""
        previous = self._alerts.get(reservation_id)
        before = self.needs_ack(reservation_id)
        if alert is None:
            if previous is None:
                return None
            del self._alerts[reservation_id]
            self._forget_answers(reservation_id)
            self._remember(reservation_id, previous.seq)
            return AlertChange(ChangeKind.REMOVED, reservation_id, previous, None, before, False)
        last_seq = previous.seq if previous is not None else self._tombstones.get(reservation_id)
        if last_seq is not None and alert.seq <= last_seq:
            return None
        self._tombstones.pop(reservation_id, None)
        if (
            previous is not None
            and alert.status is ReservationStatus.ASSIGNED
            and previous.status is not ReservationStatus.ASSIGNED
        ):
            # Assigned again (e.g. after a missed stop): earlier taps no longer apply.
            self._forget_answers(reservation_id, "pickup")
        self._alerts[reservation_id] = alert
        kind = ChangeKind.ADDED if previous is None else ChangeKind.UPDATED
        return AlertChange(
            kind, reservation_id, previous, alert, before, self.needs_ack(reservation_id)
        )

    def record_answer(
        self, reservation_id: uuid.UUID, answer: DriverEventType, kind: AlertKind | None = None
    ) -> None:
        """Remember a tap (also one replayed from the outbox at start).

        ``kind`` is the card it was made on; without it, the answer tells (alighted is a
        drop-off's, boarded/no-show/can't-stop a pick-up's) or else the current card.
        """
        if kind is None:
            kind = _KIND_OF_ANSWER.get(answer)
        if kind is None:
            alert = self._alerts.get(reservation_id)
            kind = alert.kind if alert is not None else "pickup"
        answers = self._answered.setdefault((reservation_id, kind), [])
        if answer not in answers:
            answers.append(answer)

    def view(self, reservation_id: uuid.UUID) -> AlertView | None:
        alert = self._alerts.get(reservation_id)
        if alert is None:
            return None
        answered = self.answered(reservation_id)
        return AlertView(
            alert=alert,
            answered=answered,
            answers=available_answers(alert, answered),
            needs_ack=needs_acknowledgement(alert, answered),
        )

    def views(self) -> list[AlertView]:
        """Every card in screen order: those waiting for an answer first, then the rest,
        each in stop order (``ordered``)."""
        out: list[AlertView] = []
        for alert in ordered(self._alerts.values()):
            view = self.view(alert.reservation_id)
            if view is not None:
                out.append(view)
        # Stable: stop order stays within each group.
        out.sort(key=lambda v: not v.actionable)
        return out

    def _remember(self, reservation_id: uuid.UUID, seq: int) -> None:
        self._tombstones[reservation_id] = seq
        self._tombstones.move_to_end(reservation_id)
        while len(self._tombstones) > self._tombstone_limit:
            self._tombstones.popitem(last=False)
