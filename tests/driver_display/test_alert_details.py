"""What a card tells beyond stop and time (route, direction, the rider's needs, where the
rider gets off), the DriverAlert fields that carry it, and the order that pins the card
waiting for an answer: pure unit tests."""

from __future__ import annotations

import json
import uuid

import pytest

from broker_config.messages import (
    DriverAlert,
    DriverEventType,
    Lang,
    Localized,
    ReservationStatus,
    RiderNeed,
    decode,
    encode,
)
from driver_display import i18n
from driver_display.alerts import AlertStore
from driver_display.display import ScreenState
from driver_display.web import render_alerts
from tests.driver_display.factories import MakeAlert

HEADSIGN = Localized.model_validate({"zh-TW": "撫遠街", "en": "Fuyuan St."})
ROUTE = Localized.model_validate({"zh-TW": "307", "en": "307"})
#: A DriverAlert as a v1 server before these additions sent it.
OLD_PAYLOAD = {
    "v": 1,
    "reservation_id": str(uuid.uuid4()),
    "seq": 4,
    "kind": "pickup",
    "status": "assigned",
    "stop_id": "TPE-1001",
    "stop_name": {"zh-TW": "臺北車站", "en": "Taipei Main Station"},
    "stop_sequence": 7,
    "eta_s": 120,
    "note": "guide dog",
}


def test_new_fields_round_trip(make_alert: MakeAlert) -> None:
    alert = make_alert(
        route_name=ROUTE,
        headsign=HEADSIGN,
        needs=[RiderNeed.WHEELCHAIR, RiderNeed.TELL_MY_STOP],
        destination_name=Localized.same("Yuanshan"),
        previous_stop_name=Localized.same("Zhongshan"),
    )
    wire = json.loads(encode(alert))
    assert wire["needs"] == ["wheelchair", "tell_my_stop"]
    assert wire["headsign"] == {"zh-TW": "撫遠街", "en": "Fuyuan St."}
    assert decode(DriverAlert, encode(alert)) == alert


def test_an_old_payload_still_decodes_with_empty_additions() -> None:
    alert = decode(DriverAlert, json.dumps(OLD_PAYLOAD))
    assert alert.needs == ()
    assert (alert.route_name, alert.headsign, alert.destination_name) == (None, None, None)
    assert alert.previous_stop_name is None
    # And an old reader (it ignores unknown fields) reads a new payload: the v1 fields
    # are all still there, with their meaning.
    new = json.loads(encode(alert.model_copy(update={"needs": (RiderNeed.GUIDE_DOG,)})))
    assert {k: new[k] for k in OLD_PAYLOAD} == OLD_PAYLOAD


def test_a_need_this_display_does_not_know_is_dropped_not_the_alert() -> None:
    payload = {**OLD_PAYLOAD, "needs": ["guide_dog", "jetpack", "help_boarding"]}
    alert = decode(DriverAlert, json.dumps(payload))
    assert alert.needs == (RiderNeed.GUIDE_DOG, RiderNeed.HELP_BOARDING)


def test_the_card_waiting_for_an_answer_comes_first(make_alert: MakeAlert) -> None:
    store = AlertStore()
    dropoff = make_alert(stop_sequence=2, kind="dropoff", status="riding", eta_s=None)
    acked = make_alert(stop_sequence=3, status=ReservationStatus.ACKNOWLEDGED)
    waiting = make_alert(stop_sequence=6)
    at_stop = make_alert(stop_sequence=1, status=ReservationStatus.AT_STOP)
    ended = make_alert(stop_sequence=0, status=ReservationStatus.CANCELLED)
    for alert in (dropoff, acked, waiting, at_stop, ended):
        store.apply(alert.reservation_id, alert)
    views = store.views()
    assert [v.alert for v in views] == [at_stop, waiting, dropoff, acked, ended]
    assert [v.actionable for v in views] == [True, True, False, False, False]
    # Answered: it joins the others in stop order, the next one to answer takes the top.
    store.record_answer(at_stop.reservation_id, DriverEventType.BOARDED)
    store.record_answer(waiting.reservation_id, DriverEventType.ACKNOWLEDGED)
    assert [v.alert for v in store.views()] == [at_stop, dropoff, acked, waiting, ended]
    assert not any(v.actionable for v in store.views())


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            "New pick-up at Taipei Main Station, 3 min away. "
            "Rider needs: Guide dog, Wheelchair: ramp.",
        ),
        ("zh-TW", "新的上車預約：臺北車站，約 3 分鐘。乘客需要：導盲犬、輪椅：放斜坡板。"),
    ],
)
def test_the_spoken_line_says_the_needs(make_alert: MakeAlert, lang: Lang, expected: str) -> None:
    alert = make_alert(eta_s=180, needs=["guide_dog", "wheelchair"])
    assert i18n.spoken_line(alert).get(lang) == expected


def test_a_dropoff_without_a_time_says_what_to_do(make_alert: MakeAlert) -> None:
    alert = make_alert(
        stop_id="S3",
        kind="dropoff",
        status=ReservationStatus.ALIGHTING,
        eta_s=None,
        previous_stop_name=Localized.model_validate({"zh-TW": "中山站", "en": "Zhongshan"}),
    )
    line = i18n.spoken_line(alert)
    assert line.get("en") == "Drop-off at Shuanglian Station."
    assert line.get("zh-TW") == "下車提醒：雙連站。"
    store = AlertStore()
    store.apply(alert.reservation_id, alert)
    state = ScreenState("V1", tuple(store.views()), True, 0, 1, {})
    html = render_alerts(state, "en")
    assert "Let the rider off at this stop · The stop after Zhongshan" in html
    assert "Time unknown" not in html


def test_route_label_falls_back_to_what_the_alert_has(make_alert: MakeAlert) -> None:
    assert i18n.route_label(make_alert(route_name=ROUTE, headsign=HEADSIGN), "en") == (
        "307 to Fuyuan St."
    )
    assert i18n.route_label(make_alert(route_name=ROUTE, headsign=HEADSIGN), "zh-TW") == (
        "307 往 撫遠街"
    )
    assert i18n.route_label(make_alert(route_id="R9"), "en") == "R9"


@pytest.mark.parametrize("lang", ["zh-TW", "en"])
def test_every_need_has_words(lang: Lang) -> None:
    for need in RiderNeed:
        assert i18n.need_label(need, lang)
