"""The resend schedule of pending device events: pure, on a number line for a clock."""

from __future__ import annotations

import pytest

from broker_config.device.resend import Backoff, ResendSchedule


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first_s=2.0, max_s=30.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize("bad", [{"first_s": 0.0}, {"first_s": 5.0, "max_s": 1.0}, {"factor": 0.5}])
def test_a_backoff_that_makes_no_sense_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="back-off"):
        Backoff(**bad)


def test_a_new_event_is_due_at_once_then_after_the_backoff() -> None:
    schedule: ResendSchedule[str] = ResendSchedule(Backoff(first_s=2.0, max_s=8.0))
    schedule.add("a", now=100.0)
    assert schedule.due(100.0) == ["a"]
    schedule.sent("a", now=100.0)
    assert schedule.due(101.9) == []
    assert schedule.next_due() == 102.0
    copies = []
    now = 102.0
    for _ in range(5):
        assert schedule.due(now) == ["a"]
        schedule.sent("a", now)
        copies.append(now)
        next_due = schedule.next_due()
        assert next_due is not None
        now = next_due
    # 2 s after the first copy, then 4, 8, and the cap of 8.
    assert copies == [102.0, 106.0, 114.0, 122.0, 130.0]
    assert schedule.attempts("a") == 6


def test_a_settled_event_is_not_due_and_a_late_copy_changes_nothing() -> None:
    schedule: ResendSchedule[str] = ResendSchedule()
    schedule.add("a", 0.0)
    assert schedule.remove("a")
    assert not schedule.remove("a")
    schedule.sent("a", 1.0)  # the copy that was on its way when the receipt came
    assert "a" not in schedule
    assert len(schedule) == 0
    assert schedule.due(1e9) == []
    assert schedule.next_due() is None


def test_adding_an_event_twice_keeps_its_place_and_backoff() -> None:
    schedule: ResendSchedule[str] = ResendSchedule(Backoff(first_s=2.0))
    schedule.add("a", 0.0)
    schedule.sent("a", 0.0)
    schedule.add("a", 1.0)
    assert schedule.due(1.0) == []
    assert schedule.attempts("a") == 1


def test_only_due_events_go_oldest_first_without_the_backlog() -> None:
    schedule: ResendSchedule[str] = ResendSchedule(Backoff(first_s=2.0, max_s=30.0))
    schedule.add("old", 0.0)
    for t in (0.0, 2.0, 6.0, 14.0):  # "old" has backed off to its next copy at 30 s
        schedule.sent("old", t)
    schedule.add("new", 15.0)
    # "new" is due, "old" is not: a new event does not drag the backlog along.
    assert schedule.due(15.0) == ["new"]
    schedule.sent("new", 15.0)
    schedule.add("newest", 16.0)
    assert schedule.due(16.0) == ["newest"]
    schedule.sent("newest", 16.0)
    # Each on its own back-off; when several are due they go oldest first.
    assert schedule.due(30.0) == ["old", "new", "newest"]
    for key in ("old", "new", "newest"):
        schedule.sent(key, 30.0)
    # Nothing due: nothing sent, even though events are pending.
    assert schedule.due(31.0) == []
    assert list(schedule) == ["old", "new", "newest"]
    # After a reconnection everything is due again, oldest first.
    schedule.reconnected(32.0)
    assert schedule.due(32.0) == ["old", "new", "newest"]


def test_a_reconnection_makes_everything_due_and_restarts_the_backoff() -> None:
    schedule: ResendSchedule[str] = ResendSchedule(Backoff(first_s=2.0, max_s=30.0))
    for key in ("a", "b"):
        schedule.add(key, 0.0)
        for t in (0.0, 2.0, 6.0, 14.0, 30.0):
            schedule.sent(key, t)
    assert schedule.due(40.0) == []
    schedule.reconnected(40.0)
    assert schedule.due(40.0) == ["a", "b"]
    schedule.sent("a", 40.0)
    schedule.sent("b", 40.0)
    assert schedule.next_due() == 42.0
