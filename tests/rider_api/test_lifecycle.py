"""Every allowed and every refused transition of the contract's state machine (section 3)."""

from __future__ import annotations

import pytest

from broker_config.messages import ReservationStatus as S
from rider_api.reservations.lifecycle import IllegalTransitionError, Trigger, next_status

T = Trigger
PICKUP = {S.ASSIGNED, S.ACKNOWLEDGED, S.ARRIVING, S.AT_STOP}
FINAL = {S.COMPLETED, S.CANCELLED, S.NO_SHOW, S.EXPIRED}

# Written from the contract's diagram, independently of the module's table.
ALLOWED: dict[tuple[S, Trigger], S] = {
    (S.PENDING, T.ASSIGN): S.ASSIGNED,
    (S.MISSED, T.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, T.ACK): S.ACKNOWLEDGED,
    (S.ASSIGNED, T.INCOMING): S.ARRIVING,
    (S.ACKNOWLEDGED, T.INCOMING): S.ARRIVING,
    (S.ARRIVING, T.STOPPED): S.AT_STOP,
    (S.ASSIGNED, T.STOPPED): S.AT_STOP,
    (S.ACKNOWLEDGED, T.STOPPED): S.AT_STOP,
    (S.AT_STOP, T.BOARD): S.BOARDED,
    (S.BOARDED, T.COMPLETE): S.COMPLETED,
    (S.BOARDED, T.RIDE): S.RIDING,
    (S.RIDING, T.APPROACH_DESTINATION): S.ALIGHTING,
    (S.ALIGHTING, T.ALIGHT): S.COMPLETED,
    (S.RIDING, T.ALIGHT): S.COMPLETED,
    (S.MISSED, T.REQUEUE): S.PENDING,
    **{(s, T.MISS): S.MISSED for s in PICKUP},
    **{(s, T.NO_SHOW): S.NO_SHOW for s in PICKUP},
    **{(s, T.CANCEL): S.CANCELLED for s in set(S) - FINAL},
    **{(s, T.EXPIRE): S.EXPIRED for s in PICKUP | {S.PENDING, S.MISSED}},
}


@pytest.mark.parametrize(("current", "trigger"), sorted(ALLOWED, key=str))
def test_allowed(current: S, trigger: Trigger) -> None:
    assert next_status(current, trigger) is ALLOWED[(current, trigger)]


REFUSED = sorted(((s, t) for s in S for t in Trigger if (s, t) not in ALLOWED), key=str)


@pytest.mark.parametrize(("current", "trigger"), REFUSED)
def test_refused(current: S, trigger: Trigger) -> None:
    with pytest.raises(IllegalTransitionError) as info:
        next_status(current, trigger)
    assert current.value in str(info.value)


def test_final_states_accept_nothing() -> None:
    for status in FINAL:
        for trigger in Trigger:
            with pytest.raises(IllegalTransitionError):
                next_status(status, trigger)
