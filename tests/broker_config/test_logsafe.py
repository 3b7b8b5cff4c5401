"""Escaping device text for logs, and the per-device, per-minute summary of dropped messages."""

from __future__ import annotations

import logging

import pytest

from broker_config.errors import MalformedPayloadError
from broker_config.logsafe import DropLog, device_of, escape, excerpt
from broker_config.received import ReceivedMessage
from broker_config.topics import Topics

TOPICS = Topics()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _msg(topic: str, payload: bytes = b"{junk") -> ReceivedMessage:
    parsed = None
    try:
        parsed = TOPICS.parse(topic)
    except ValueError:
        pass
    return ReceivedMessage(topic, payload, 1, False, parsed, 0.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stops/S1/events", "stops/S1/events"),
        ("line\nforged", "line\\x0aforged"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("nul\x00del\x7fc1\x85", "nul\\x00del\\x7fc1\\x85"),
        ("abc\u202edcba", "abc\\u202edcba"),  # a bidi override reorders what follows
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("sep\u2028arator", "sep\\u2028arator"),
        ("back\\x0aslash", "back\\\\x0aslash"),  # a literal escape cannot be forged
        ("市政府 City Hall", "市政府 City Hall"),  # printable text stays as it is
        (b"\xff\xfe ok \xe5\xb8\x82", "\\xff\\xfe ok 市"),
    ],
)
def test_escape_keeps_printable_text_and_escapes_the_rest(text: str | bytes, expected: str) -> None:
    assert escape(text) == expected


def test_escape_truncates_and_says_how_much_is_left() -> None:
    assert escape("a" * 250, limit=200) == "a" * 200 + "...(+50)"
    assert escape(b"\n" * 10, limit=3) == "\\x0a\\x0a\\x0a...(+7)"
    assert excerpt(b"") == "(empty)"
    assert excerpt(b"x" * 100) == "x" * 64 + "...(+36)"


def test_device_of_names_the_topics_device_or_its_escaped_topic() -> None:
    assert device_of(_msg(TOPICS.stop_events("S1"))) == "stop S1"
    assert device_of(_msg(TOPICS.vehicle_position("V9"))) == "vehicle V9"
    assert device_of(_msg("bushail/v1/odd\ntopic")) == "topic bushail/v1/odd\\x0atopic"


def _drops(caplog: pytest.LogCaptureFixture) -> tuple[DropLog, FakeClock]:
    clock = FakeClock()
    caplog.set_level(logging.WARNING, logger="test.drops")
    return DropLog(logging.getLogger("test.drops"), clock=clock), clock


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == "test.drops"]
    caplog.clear()
    return lines


def test_the_first_drop_of_a_device_is_logged_and_the_rest_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drops, clock = _drops(caplog)
    s1, s2 = _msg(TOPICS.stop_events("S1")), _msg(TOPICS.stop_events("S2"), b"\x1b]0;pwned\x07")
    error = MalformedPayloadError("malformed StopEvent: payload: Invalid JSON")
    for _ in range(100):
        drops.malformed(s1, error)
    drops.malformed(s2, error)
    drops.oversized(s1, 70_000, 65_536)

    first = _lines(caplog)
    assert len(first) == 3  # S1 malformed, S2 malformed, S1 oversized
    assert "stop S1" in first[0]
    assert "Invalid JSON" in first[0]
    assert "\\x1b]0;pwned\\x07" in first[1]
    assert "70000 bytes" in first[2]
    assert drops.counts == {"malformed": 101, "oversized": 1}

    clock.now += 30
    drops.flush()
    assert _lines(caplog) == []  # the minute is not over

    clock.now += 31
    drops.flush()
    summary = _lines(caplog)
    assert len(summary) == 1  # only S1's malformed ones had more than the first
    assert "99 more malformed messages of stop S1" in summary[0]

    drops.malformed(s1, error)  # a new minute: logged in full again
    assert len(_lines(caplog)) == 1


def test_a_drop_after_the_interval_writes_the_summary_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drops, clock = _drops(caplog)
    msg = _msg(TOPICS.vehicle_events("V1"))
    drops.malformed(msg, "bad", context="vehicle V1: alert")
    drops.malformed(msg, "bad")
    clock.now += 61
    drops.malformed(msg, "worse")
    lines = _lines(caplog)
    assert len(lines) == 3
    assert lines[0].startswith("vehicle V1: alert: dropped malformed message of vehicle V1")
    assert lines[1].startswith("vehicle V1: alert: 1 more malformed messages")
    assert "worse" in lines[2]


def test_many_devices_share_one_line_beyond_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    caplog.set_level(logging.WARNING, logger="test.drops")
    drops = DropLog(logging.getLogger("test.drops"), clock=clock, max_devices=3)
    for i in range(10):
        drops.malformed(_msg(TOPICS.stop_events(f"S{i}")), "bad")
    lines = _lines(caplog)
    assert len(lines) == 4  # three devices, then one line for all the others
    assert "other devices" in lines[3]
    assert drops.counts["malformed"] == 10
