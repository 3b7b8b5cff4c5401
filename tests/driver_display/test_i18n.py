"""The driver display's string table: one shape, labels for every enum, counts by plural()."""

from __future__ import annotations

import pytest

from broker_config.i18n import LANGS, StringTable
from broker_config.messages import CannotStopReason, DriverEventType, Lang, ReservationStatus
from driver_display import i18n
from tests.driver_display.factories import MakeAlert


def test_table_is_a_string_table_with_every_language() -> None:
    assert isinstance(i18n.TEXTS, StringTable)
    assert all(set(entry) == set(LANGS) for entry in i18n.TEXTS.values())
    assert i18n.t == i18n.TEXTS.t


@pytest.mark.parametrize("lang", LANGS)
def test_every_enum_has_a_label(lang: Lang) -> None:
    for status in ReservationStatus:
        assert i18n.status_label(status, lang)
    for answer in DriverEventType:
        assert i18n.answer_label(answer, lang)
    for reason in CannotStopReason:
        assert i18n.reason_label(reason, lang)
    for kind in ("pickup", "dropoff"):
        assert i18n.kind_label(kind, lang)


@pytest.mark.parametrize(
    ("n", "en", "zh"),
    [
        (1, "1 answer not yet delivered", "1 個回覆尚未送達"),
        (3, "3 answers not yet delivered", "3 個回覆尚未送達"),
    ],
)
def test_unsent_count(n: int, en: str, zh: str) -> None:
    assert i18n.t("unsent", "en", n=n) == en
    assert i18n.t("unsent", "zh-TW", n=n) == zh


@pytest.mark.parametrize(
    ("eta_s", "en", "zh"),
    [
        (None, "Time unknown", "時間未定"),
        (20, "Arriving now", "即將到達"),
        (60, "1 min away", "約 1 分鐘"),
        (89, "1 min away", "約 1 分鐘"),
        (150, "3 min away", "約 3 分鐘"),
    ],
)
def test_eta_label(eta_s: int | None, en: str, zh: str) -> None:
    assert i18n.eta_label(eta_s, "en") == en
    assert i18n.eta_label(eta_s, "zh-TW") == zh


def test_unknown_key_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no text 'nope' in the driver display string table"):
        i18n.t("nope", "en")


def test_localized_and_spoken_line_cover_both_languages(make_alert: MakeAlert) -> None:
    assert i18n.localized("vehicle", vehicle_id="B-1").model_dump(by_alias=True) == {
        "zh-TW": "車輛 B-1",
        "en": "Vehicle B-1",
    }
    line = i18n.spoken_line(make_alert(eta_s=180))
    assert line.get("en") == "New pick-up at Taipei Main Station, 3 min away."
    assert line.get("zh-TW") == "新的上車預約：臺北車站，約 3 分鐘。"
