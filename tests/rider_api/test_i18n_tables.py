"""The rider web app's and the operator console's string tables: one shape, every key the
pages look up by name present, counts worded by plural()."""

from __future__ import annotations

import pytest

from broker_config.i18n import LANGS, StringTable
from broker_config.messages import CannotStopReason, ReservationStatus
from rider_api.console import i18n as console
from rider_api.web import strings as web


@pytest.mark.parametrize("table", [web.STRINGS, console.TEXTS], ids=["web", "console"])
def test_tables_are_string_tables_with_every_language(table: StringTable) -> None:
    assert isinstance(table, StringTable)
    assert all(set(entry) == set(LANGS) for entry in table.values())


def test_module_t_is_the_table_method() -> None:
    assert web.t == web.STRINGS.t
    assert console.t == console.TEXTS.t


def test_every_status_has_a_label() -> None:
    for status in ReservationStatus:
        assert f"st_{status.value}" in web.STRINGS
        assert f"status.{status.value}" in console.TEXTS
    for reason in CannotStopReason:
        assert f"reason.{reason.value}" in console.TEXTS


def test_console_labels_of_what_the_live_board_shows() -> None:
    for key in ("device.stop", "device.vehicle", "device.server"):
        assert key in console.TEXTS
    for state in ("online", "offline", "stale"):
        assert f"state.{state}" in console.TEXTS
    for speaker in ("ok", "fail", "unknown"):
        assert f"speaker.{speaker}" in console.TEXTS
    for kind in ("gateway_offline", "missed", "no_show", "help", "unacknowledged"):
        assert f"kind.{kind}" in console.TEXTS


@pytest.mark.parametrize(
    ("n", "en", "zh"),
    [
        (1, "Sent to 1 stop.", "已送到 1 個站牌。"),
        (4, "Sent to 4 stops.", "已送到 4 個站牌。"),
        (0, "Sent to 0 stops.", "已送到 0 個站牌。"),
    ],
)
def test_console_broadcast_count(n: int, en: str, zh: str) -> None:
    assert console.t("broadcast.sent", "en", n=n) == en
    assert console.t("broadcast.sent", "zh-TW", n=n) == zh


def test_console_chart_description_count() -> None:
    assert console.t("chart.desc", "en", n=1, max="3") == "Bar chart of 1 item; highest 3."
    assert console.t("chart.desc", "en", n=2, max="3") == "Bar chart of 2 items; highest 3."


def test_web_result_counts() -> None:
    assert web.t("results_for", "en", q="ximen", n=1) == "1 result for “ximen”"
    assert web.t("results_for", "en", q="ximen", n=3) == "3 results for “ximen”"
    assert web.t("results_for", "zh-TW", q="西門", n=1) == "「西門」的結果：1 個"
    assert web.t("results_near", "en", n=1) == "The stop nearest to you"
    assert web.t("results_near", "en", n=5) == "5 stops nearest to you"


def test_web_unknown_key_is_an_error_not_a_blank() -> None:
    with pytest.raises(KeyError, match="no text 'nope' in the rider web app string table"):
        web.t("nope", "en")


def test_web_live_texts_for_the_script_are_plain_templates() -> None:
    live = web.STRINGS.templates("en", "live_", "st_", "eta_")
    assert live["live_minutes"] == "Your bus is about {n} minutes away."
    assert live["live_minute"] == "Your bus is about 1 minute away."
    assert live["st_pending"] == "Waiting for a bus to be assigned"
    assert all(isinstance(v, str) for v in live.values())
