"""Which buttons each alert status offers: pure unit tests."""

from __future__ import annotations

import pytest

from broker_config.messages import DriverEventType as A
from broker_config.messages import ReservationStatus as S
from driver_display.answers import available_answers, needs_acknowledgement
from tests.driver_display.factories import MakeAlert


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("pickup", S.ASSIGNED, (A.ACKNOWLEDGED, A.CANNOT_STOP)),
        ("pickup", S.ACKNOWLEDGED, (A.CANNOT_STOP,)),
        ("pickup", S.ARRIVING, (A.CANNOT_STOP,)),
        ("pickup", S.AT_STOP, (A.BOARDED, A.NO_SHOW, A.CANNOT_STOP)),
        ("pickup", S.MISSED, ()),
        ("pickup", S.CANCELLED, ()),
        ("pickup", S.COMPLETED, ()),
        ("dropoff", S.RIDING, ()),
        ("dropoff", S.ALIGHTING, (A.ACKNOWLEDGED, A.ALIGHTED)),
        ("dropoff", S.COMPLETED, ()),
    ],
)
def test_buttons_per_status(
    make_alert: MakeAlert, kind: str, status: S, expected: tuple[A, ...]
) -> None:
    assert available_answers(make_alert(kind=kind, status=status)) == expected


def test_a_closing_answer_leaves_no_buttons(make_alert: MakeAlert) -> None:
    alert = make_alert(status=S.AT_STOP)
    assert available_answers(alert, [A.BOARDED]) == ()
    assert not needs_acknowledgement(alert, [A.BOARDED])


@pytest.mark.parametrize(
    ("kind", "status", "needs"),
    [
        ("pickup", S.ASSIGNED, True),
        ("pickup", S.ACKNOWLEDGED, False),
        ("pickup", S.AT_STOP, False),
        ("dropoff", S.RIDING, False),
        ("dropoff", S.ALIGHTING, True),
    ],
)
def test_needs_acknowledgement(make_alert: MakeAlert, kind: str, status: S, needs: bool) -> None:
    assert needs_acknowledgement(make_alert(kind=kind, status=status)) is needs
    assert not needs_acknowledgement(make_alert(kind=kind, status=status), [A.ACKNOWLEDGED])
