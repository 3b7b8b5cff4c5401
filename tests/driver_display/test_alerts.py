"""The alert store (seq order, clearing) and the card order: pure unit tests."""

from __future__ import annotations

import uuid

from broker_config.messages import DriverEventType, ReservationStatus
from driver_display.alerts import AlertStore, ChangeKind, ordered
from tests.driver_display.factories import MakeAlert


def test_next_stop_first_then_stop_order(make_alert: MakeAlert) -> None:
    later = make_alert(stop_id="S3", stop_sequence=7, eta_s=600)
    nearest = make_alert(stop_id="S1", stop_sequence=2, eta_s=60)
    middle = make_alert(stop_id="S2", stop_sequence=4, eta_s=240)
    assert ordered([later, nearest, middle]) == [nearest, middle, later]


def test_ended_alerts_sort_after_active_ones(make_alert: MakeAlert) -> None:
    done = make_alert(stop_sequence=1, status=ReservationStatus.CANCELLED)
    missed = make_alert(stop_sequence=1, status=ReservationStatus.MISSED)
    active = make_alert(stop_sequence=9)
    assert ordered([done, missed, active])[0] == active


def test_dropoff_before_pickup_at_the_same_stop(make_alert: MakeAlert) -> None:
    pickup = make_alert(stop_sequence=5, eta_s=120)
    dropoff = make_alert(stop_sequence=5, eta_s=120, kind="dropoff", status="alighting")
    assert ordered([pickup, dropoff]) == [dropoff, pickup]


def test_same_stop_orders_by_eta_and_unknown_eta_last(make_alert: MakeAlert) -> None:
    unknown = make_alert(stop_sequence=5, eta_s=None)
    soon = make_alert(stop_sequence=5, eta_s=30)
    assert ordered([unknown, soon]) == [soon, unknown]


def test_stale_and_duplicate_seq_are_dropped(make_alert: MakeAlert) -> None:
    store = AlertStore()
    first = make_alert(seq=5)
    rid = first.reservation_id
    change = store.apply(rid, first)
    assert change is not None
    assert change.kind is ChangeKind.ADDED
    assert store.apply(rid, first) is None
    assert store.apply(rid, first.model_copy(update={"seq": 4, "eta_s": 1})) is None
    newer = first.model_copy(update={"seq": 6, "eta_s": 60})
    change = store.apply(rid, newer)
    assert change is not None
    assert change.kind is ChangeKind.UPDATED
    assert store.get(rid) == newer


def test_clear_removes_and_keeps_old_copies_out(make_alert: MakeAlert) -> None:
    store = AlertStore()
    alert = make_alert(seq=3)
    rid = alert.reservation_id
    store.apply(rid, alert)
    change = store.apply(rid, None)
    assert change is not None
    assert change.kind is ChangeKind.REMOVED
    assert store.get(rid) is None
    assert store.apply(rid, None) is None
    # A late redelivery of the old copy must not bring the card back ...
    assert store.apply(rid, alert) is None
    assert len(store) == 0
    # ... but a newer one (the reservation came back to this bus) does.
    assert store.apply(rid, alert.model_copy(update={"seq": 4})) is not None


def test_answers_hide_buttons_and_stop_the_ack_wait(make_alert: MakeAlert) -> None:
    store = AlertStore()
    alert = make_alert()
    rid = alert.reservation_id
    store.apply(rid, alert)
    view = store.view(rid)
    assert view is not None
    assert view.needs_ack
    assert view.answers == (DriverEventType.ACKNOWLEDGED, DriverEventType.CANNOT_STOP)
    store.record_answer(rid, DriverEventType.ACKNOWLEDGED)
    view = store.view(rid)
    assert view is not None
    assert not view.needs_ack
    assert view.answers == (DriverEventType.CANNOT_STOP,)


def test_reassigned_alert_forgets_earlier_answers(make_alert: MakeAlert) -> None:
    store = AlertStore()
    alert = make_alert(seq=1)
    rid = alert.reservation_id
    store.apply(rid, alert)
    store.record_answer(rid, DriverEventType.CANNOT_STOP)
    store.apply(rid, alert.model_copy(update={"seq": 2, "status": ReservationStatus.MISSED}))
    change = store.apply(rid, alert.model_copy(update={"seq": 3}))
    assert change is not None
    assert change.needs_ack
    assert store.answered(rid) == ()


def test_boarded_on_the_pickup_leaves_the_dropoff_answerable(make_alert: MakeAlert) -> None:
    store = AlertStore()
    pickup = make_alert(seq=1, status=ReservationStatus.AT_STOP)
    rid = pickup.reservation_id
    store.apply(rid, pickup)
    store.record_answer(rid, DriverEventType.BOARDED)
    view = store.view(rid)
    assert view is not None
    assert view.answers == ()
    dropoff = pickup.model_copy(
        update={"seq": 2, "kind": "dropoff", "status": ReservationStatus.ALIGHTING, "stop_id": "S4"}
    )
    store.apply(rid, dropoff)
    view = store.view(rid)
    assert view is not None
    assert DriverEventType.ALIGHTED in view.answers
    assert view.needs_ack
    store.record_answer(rid, DriverEventType.ALIGHTED)
    view = store.view(rid)
    assert view is not None
    assert view.answers == ()


def test_a_replayed_boarded_tap_does_not_close_a_later_dropoff(make_alert: MakeAlert) -> None:
    store = AlertStore()
    rid = uuid.uuid4()
    store.record_answer(rid, DriverEventType.BOARDED)  # replayed from the outbox at start
    store.apply(rid, make_alert(reservation_id=rid, kind="dropoff", status="alighting"))
    view = store.view(rid)
    assert view is not None
    assert view.answers == (DriverEventType.ACKNOWLEDGED, DriverEventType.ALIGHTED)


def test_views_follow_the_screen_order(make_alert: MakeAlert) -> None:
    store = AlertStore()
    alerts = [make_alert(stop_sequence=n) for n in (8, 2, 5)]
    for a in alerts:
        store.apply(a.reservation_id, a)
    assert [v.alert.stop_sequence for v in store.views()] == [2, 5, 8]
    assert store.view(uuid.uuid4()) is None
