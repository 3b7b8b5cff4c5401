"""What the display plays when: pure unit tests of the sound decisions."""

from __future__ import annotations

import pytest

from broker_config.messages import ReservationStatus as S
from driver_display.alerts import AlertStore
from driver_display.sound import Cue, SoundPolicy
from tests.driver_display.factories import MakeAlert

INTERVAL = 20.0


@pytest.fixture
def store() -> AlertStore:
    return AlertStore()


@pytest.fixture
def policy() -> SoundPolicy:
    return SoundPolicy(INTERVAL)


def test_new_alert_chimes_and_speaks_both_languages(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    alert = make_alert(eta_s=180)
    change = store.apply(alert.reservation_id, alert)
    assert change is not None
    plan = policy.on_change(change, now=0.0)
    assert plan is not None
    assert plan.cue is Cue.NEW_ALERT
    assert plan.reservation_ids == (alert.reservation_id,)
    assert plan.line is not None
    assert plan.line.zh_tw == "新的上車預約：臺北車站，約 3 分鐘。"
    assert plan.line.en == "New pick-up at Taipei Main Station, 3 min away."


def test_unacknowledged_alert_chimes_again_every_interval(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    alert = make_alert()
    change = store.apply(alert.reservation_id, alert)
    assert change is not None
    policy.on_change(change, now=100.0)
    assert policy.next_due() == 100.0 + INTERVAL
    assert policy.due(100.0 + INTERVAL - 0.1) is None
    plan = policy.due(100.0 + INTERVAL)
    assert plan is not None
    assert plan.cue is Cue.REMINDER
    assert plan.line is None
    assert policy.due(100.0 + INTERVAL + 1) is None
    assert policy.due(100.0 + 2 * INTERVAL) is not None


def test_acknowledge_stops_the_reminders(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    alert = make_alert()
    change = store.apply(alert.reservation_id, alert)
    assert change is not None
    policy.on_change(change, now=0.0)
    policy.acknowledged(alert.reservation_id)
    assert policy.due(1000.0) is None
    assert policy.next_due() is None


def test_server_acknowledged_status_stops_the_reminders_silently(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    alert = make_alert(seq=1)
    rid = alert.reservation_id
    first = store.apply(rid, alert)
    assert first is not None
    policy.on_change(first, now=0.0)
    acked = store.apply(rid, alert.model_copy(update={"seq": 2, "status": S.ACKNOWLEDGED}))
    assert acked is not None
    assert policy.on_change(acked, now=1.0) is None
    assert policy.due(1000.0) is None


@pytest.mark.parametrize(
    "update",
    [
        {"eta_s": 60},
        {"status": S.ARRIVING},
        {"status": S.AT_STOP},
        {"status": S.CANCELLED},
        {"note": "guide dog"},
    ],
)
def test_updates_that_need_no_action_are_silent(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy, update: dict[str, object]
) -> None:
    alert = make_alert(seq=1, status=S.ACKNOWLEDGED)
    rid = alert.reservation_id
    change = store.apply(rid, alert)
    assert change is not None
    assert policy.on_change(change, now=0.0) is None
    change = store.apply(rid, alert.model_copy(update={"seq": 2, **update}))
    assert change is not None
    assert policy.on_change(change, now=1.0) is None
    assert policy.next_due() is None


def test_eta_update_of_a_waiting_alert_does_not_chime_early(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    alert = make_alert(seq=1)
    rid = alert.reservation_id
    change = store.apply(rid, alert)
    assert change is not None
    policy.on_change(change, now=0.0)
    change = store.apply(rid, alert.model_copy(update={"seq": 2, "eta_s": 100}))
    assert change is not None
    assert policy.on_change(change, now=5.0) is None
    assert policy.next_due() == INTERVAL


def test_server_reminder_chimes_at_once(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    alert = make_alert(seq=1)
    rid = alert.reservation_id
    change = store.apply(rid, alert)
    assert change is not None
    policy.on_change(change, now=0.0)
    change = store.apply(rid, alert.model_copy(update={"seq": 2, "reminder": True}))
    assert change is not None
    plan = policy.on_change(change, now=7.0)
    assert plan is not None
    assert plan.cue is Cue.REMINDER
    assert policy.next_due() == 7.0 + INTERVAL


def test_dropoff_speaks_when_it_becomes_alighting(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    riding = make_alert(kind="dropoff", status=S.RIDING, seq=1, stop_id="S2")
    rid = riding.reservation_id
    change = store.apply(rid, riding)
    assert change is not None
    assert policy.on_change(change, now=0.0) is None
    change = store.apply(rid, riding.model_copy(update={"seq": 2, "status": S.ALIGHTING}))
    assert change is not None
    plan = policy.on_change(change, now=1.0)
    assert plan is not None
    assert plan.cue is Cue.NEW_ALERT
    assert plan.line is not None
    assert plan.line.en.startswith("Drop-off at Zhongshan Station")


def test_reminders_due_together_share_one_chime(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    a, b = make_alert(), make_alert()
    for alert, now in ((a, 0.0), (b, 3.0)):
        change = store.apply(alert.reservation_id, alert)
        assert change is not None
        policy.on_change(change, now=now)
    plan = policy.due(30.0)
    assert plan is not None
    assert set(plan.reservation_ids) == {a.reservation_id, b.reservation_id}


def test_cleared_alert_stops_reminders(
    make_alert: MakeAlert, store: AlertStore, policy: SoundPolicy
) -> None:
    alert = make_alert()
    rid = alert.reservation_id
    change = store.apply(rid, alert)
    assert change is not None
    policy.on_change(change, now=0.0)
    change = store.apply(rid, None)
    assert change is not None
    assert policy.on_change(change, now=1.0) is None
    assert policy.due(100.0) is None


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SoundPolicy(0)
