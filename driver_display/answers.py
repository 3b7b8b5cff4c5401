"""Which one-tap answers an alert offers, and whether it still waits for acknowledgement.

Pure rules, no I/O. ``answered`` is what the driver already tapped on this display for
the reservation (kept locally, so a tap made offline hides its button at once).
"""

from __future__ import annotations

from collections.abc import Collection

from broker_config.messages import DriverAlert, DriverEventType, ReservationStatus

__all__ = ["CLOSING_ANSWERS", "available_answers", "needs_acknowledgement"]

Answer = DriverEventType
S = ReservationStatus

#: Answers after which the display offers nothing more for that reservation.
CLOSING_ANSWERS: frozenset[Answer] = frozenset(
    {Answer.BOARDED, Answer.NO_SHOW, Answer.CANNOT_STOP, Answer.ALIGHTED}
)

_PICKUP: dict[ReservationStatus, tuple[Answer, ...]] = {
    S.ASSIGNED: (Answer.ACKNOWLEDGED, Answer.CANNOT_STOP),
    S.ACKNOWLEDGED: (Answer.CANNOT_STOP,),
    S.ARRIVING: (Answer.CANNOT_STOP,),
    S.AT_STOP: (Answer.BOARDED, Answer.NO_SHOW, Answer.CANNOT_STOP),
}
_DROPOFF: dict[ReservationStatus, tuple[Answer, ...]] = {
    S.ALIGHTING: (Answer.ACKNOWLEDGED, Answer.ALIGHTED),
}


def needs_acknowledgement(alert: DriverAlert, answered: Collection[Answer] = ()) -> bool:
    """True while the alert should chime: a pick-up still ``assigned`` or a drop-off
    ``alighting``, and the driver has not tapped Acknowledge (or a closing answer)."""
    if Answer.ACKNOWLEDGED in answered or CLOSING_ANSWERS.intersection(answered):
        return False
    if alert.kind == "pickup":
        return alert.status is S.ASSIGNED
    return alert.status is S.ALIGHTING


def available_answers(alert: DriverAlert, answered: Collection[Answer] = ()) -> tuple[Answer, ...]:
    """The buttons to show for ``alert``, in screen order (empty: nothing to answer)."""
    if CLOSING_ANSWERS.intersection(answered):
        return ()
    table = _PICKUP if alert.kind == "pickup" else _DROPOFF
    return tuple(
        a
        for a in table.get(alert.status, ())
        if not (a is Answer.ACKNOWLEDGED and Answer.ACKNOWLEDGED in answered)
    )
