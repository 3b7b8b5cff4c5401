"""The call tracker: seq, moments, ETA thresholds said once each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from broker_config.messages import Localized, ReservationStatus, StopCall
from stop_gateway.announcements import Moment
from stop_gateway.calls import CallTracker

S = ReservationStatus
RID = uuid.UUID("7f1c2b3a-1d2e-4f50-8a9b-0c1d2e3f4a5b")


def call(seq: int, status: S, eta_s: int | None = None, **extra: object) -> StopCall:
    return StopCall.model_validate(
        {
            "reservation_id": RID,
            "seq": seq,
            "status": status,
            "route_id": "307",
            "route_name": Localized.same("307"),
            "headsign": {"zh-TW": "板橋", "en": "Banqiao"},
            "vehicle_id": extra.pop("vehicle_id", "V1"),
            "eta_s": eta_s,
            "updated_at": datetime.now(UTC),
            **extra,
        }
    )


def moments(tracker: CallTracker, *calls: StopCall) -> list[tuple[Moment | str | None, int | None]]:
    out: list[tuple[Moment | str | None, int | None]] = []
    for c in calls:
        update = tracker.apply(c)
        out.append((update.moment, update.minutes) if update is not None else ("dropped", None))
    return out


def test_lifecycle_moments_and_eta_thresholds_once_each() -> None:
    tracker = CallTracker()
    assert moments(
        tracker,
        call(1, S.PENDING, vehicle_id=None),
        call(2, S.ASSIGNED, 420),
        call(3, S.ASSIGNED, 400),  # no threshold crossed
        call(4, S.ACKNOWLEDGED, 380),
        call(5, S.ACKNOWLEDGED, 290),  # 5
        call(6, S.ACKNOWLEDGED, 280),  # 5 already said
        call(7, S.ACKNOWLEDGED, 100),  # 3 (and not 5 again)
        call(8, S.ACKNOWLEDGED, 20),  # 1
        call(9, S.ARRIVING, 10),
        call(10, S.AT_STOP, 0),
        call(11, S.BOARDED, None),
        call(12, S.COMPLETED, None),
    ) == [
        (Moment.BOOKED, None),
        (Moment.ASSIGNED, 7),
        (None, None),
        (Moment.CONFIRMED, 6),
        (Moment.ETA, 5),
        (None, None),
        (Moment.ETA, 3),
        (Moment.ETA, 1),
        (Moment.ARRIVING, None),
        (Moment.AT_STOP, None),
        (None, None),
        (None, None),
    ]
    assert tracker.active() == []


def test_a_jump_under_several_thresholds_says_only_the_lowest() -> None:
    tracker = CallTracker()
    assert moments(tracker, call(1, S.ASSIGNED, 600), call(2, S.ASSIGNED, 50)) == [
        (Moment.ASSIGNED, 10),
        (Moment.ETA, 1),
    ]


def test_an_eta_said_at_assignment_counts_for_its_thresholds() -> None:
    tracker = CallTracker()
    assert moments(tracker, call(1, S.ASSIGNED, 170), call(2, S.ASSIGNED, 150)) == [
        (Moment.ASSIGNED, 3),
        (None, None),
    ]


def test_stale_and_duplicate_deliveries_are_dropped_also_after_the_end() -> None:
    tracker = CallTracker()
    assert moments(
        tracker,
        call(2, S.ASSIGNED, 200),
        call(2, S.ASSIGNED, 200),
        call(1, S.PENDING),
        call(3, S.CANCELLED),
        call(3, S.CANCELLED),
        call(2, S.ASSIGNED, 200),
    ) == [
        (Moment.ASSIGNED, 3),
        ("dropped", None),
        ("dropped", None),
        (Moment.CANCELLED, None),
        ("dropped", None),
        ("dropped", None),
    ]
    tracker.clear(RID)
    assert tracker.apply(call(1, S.ASSIGNED, 100)) is None


def test_missed_then_reassigned_with_the_reason() -> None:
    tracker = CallTracker()
    updates = [
        tracker.apply(c)
        for c in (
            call(1, S.ASSIGNED, 120),
            call(2, S.MISSED, None, reason="bus_full"),
            call(3, S.ASSIGNED, 500, vehicle_id="V2", reason="bus_full"),
        )
    ]
    assert [(u.moment, u.minutes, u.reason) for u in updates if u is not None] == [
        (Moment.ASSIGNED, 2, None),
        (Moment.MISSED, None, "bus_full"),
        (Moment.REASSIGNED, 8, "bus_full"),
    ]


def test_summary_for_the_repeat_button() -> None:
    tracker = CallTracker()
    tracker.apply(call(1, S.ACKNOWLEDGED, 130))
    current = tracker.latest()
    assert current is not None
    summary = tracker.summary(current)
    assert (summary.moment, summary.minutes) == (Moment.CONFIRMED, 2)
