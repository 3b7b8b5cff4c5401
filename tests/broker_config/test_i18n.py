"""One Lang, one way to pick it from a loose string, one string-table shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

import pytest

from broker_config.i18n import (
    LANGS,
    Plural,
    StringTable,
    Template,
    other_lang,
    pick_lang,
    plural,
)
from broker_config.messages import Lang

TABLE = StringTable(
    "test",
    {
        "hello": {"zh-TW": "{name}，你好", "en": "Hello, {name}"},
        "plain": {"zh-TW": "首頁", "en": "Home"},
        "sent": {
            "zh-TW": "已送到 {n} 個站牌。",
            "en": plural(one="Sent to {n} stop.", other="Sent to {n} stops."),
        },
        "live_wait": {"zh-TW": "約 {n} 分鐘", "en": plural(one="1 minute", other="{n} minutes")},
    },
)


def test_langs_are_the_members_of_lang() -> None:
    assert LANGS == get_args(Lang) == ("zh-TW", "en")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        (" en-US ", "en"),
        ("en-GB,en;q=0.9,zh-TW;q=0.5", "en"),
        ("zh-TW", "zh-TW"),
        ("zh-Hant-TW", "zh-TW"),
        ("zh-TW,zh;q=0.9,en;q=0.8", "zh-TW"),
        ("zh", "zh-TW"),
        ("fr-FR,en;q=0.5", "zh-TW"),
        ("english", "zh-TW"),
        ("", "zh-TW"),
        (None, "zh-TW"),
        (3, "zh-TW"),
    ],
)
def test_pick_lang_reads_a_loose_value(value: object, expected: Lang) -> None:
    assert pick_lang(value) == expected


def test_pick_lang_falls_back_to_the_given_default() -> None:
    assert pick_lang("fr", "en") == "en"
    assert pick_lang(None, "en") == "en"
    assert pick_lang("zh-TW", "en") == "zh-TW"


def test_other_lang_switches() -> None:
    assert other_lang("zh-TW") == "en"
    assert other_lang("en") == "zh-TW"


def test_t_fills_the_template_of_the_language() -> None:
    assert TABLE.t("hello", "en", name="Mei") == "Hello, Mei"
    assert TABLE.t("hello", "zh-TW", name="小美") == "小美，你好"
    assert TABLE.t("plain", "en") == "Home"
    # Values are inserted as given, braces and all (a script fills them in later).
    assert TABLE.t("hello", "en", name="{text}") == "Hello, {text}"


def test_plural_form_follows_the_count_in_english_only() -> None:
    assert TABLE.t("sent", "en", n=1) == "Sent to 1 stop."
    assert TABLE.t("sent", "en", n=0) == "Sent to 0 stops."
    assert TABLE.t("sent", "en", n=4) == "Sent to 4 stops."
    assert TABLE.t("sent", "zh-TW", n=1) == "已送到 1 個站牌。"
    assert plural(one="a", other="b") == Plural(one="a", other="b")
    assert TABLE.template("sent", "en", n=2) == "Sent to {n} stops."


def test_plural_needs_an_integer_count() -> None:
    with pytest.raises(TypeError, match="needs a count n"):
        TABLE.t("sent", "en")
    with pytest.raises(TypeError, match="needs a count n"):
        TABLE.t("sent", "en", n="1")
    with pytest.raises(TypeError, match="needs a count n"):
        TABLE.t("sent", "en", n=True)


def test_an_unknown_key_or_missing_value_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match="no text 'nope' in the test string table"):
        TABLE.t("nope", "en")
    with pytest.raises(KeyError, match="no language 'fr'"):
        TABLE.t("plain", "fr")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="text 'hello' of the test table needs the value 'name'"):
        TABLE.t("hello", "en")


def test_a_table_is_a_read_only_mapping() -> None:
    assert "hello" in TABLE
    assert "nope" not in TABLE
    assert len(TABLE) == 4
    assert TABLE["plain"] == {"zh-TW": "首頁", "en": "Home"}


def test_templates_for_a_script_flatten_plurals() -> None:
    assert TABLE.templates("en", "live_") == {
        "live_wait.one": "1 minute",
        "live_wait.other": "{n} minutes",
    }
    assert TABLE.templates("zh-TW", "live_", "plain") == {
        "live_wait": "約 {n} 分鐘",
        "plain": "首頁",
    }
    assert set(TABLE.templates("en")) == {"hello", "plain", "sent.one", "sent.other"} | {
        "live_wait.one",
        "live_wait.other",
    }


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"zh-TW": "首頁"}, "has languages"),
        ({"zh-TW": "首頁", "en": "Home", "fr": "Accueil"}, "has languages"),
        ({"zh-TW": "{name}，你好", "en": "Hello, {nmae}"}, "has different fields"),
        (
            {"zh-TW": "{n} 個", "en": plural(one="one", other="{count} stops")},
            "has different fields",
        ),
        ({"zh-TW": "{name，你好", "en": "Hello, {name}"}, "is malformed"),
    ],
)
def test_a_broken_table_fails_when_it_is_built(
    entry: Mapping[Lang, Template], problem: str
) -> None:
    with pytest.raises(ValueError, match=f"string table broken: 'key' {problem}"):
        StringTable("broken", {"key": entry})
