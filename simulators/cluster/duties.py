"""Timed duties, and whether each was done on time whoever was the leader.

Two duties are read back from the database, both with when they fell due and when they
were done:

- the **acknowledgement reminder** of an alert the driver leaves unanswered: due
  ``ack_timeout_s`` after the alert went out, done when the "unacknowledged" incident is
  recorded (the alert goes out again, marked as a reminder). A driver's answer before
  it is done makes it moot.
- the **publication of an outbox row** (the relay): due when written, or at its
  ``not_before`` for a delayed one (the clearing of an ended call), done when marked sent.

``judge`` says which were late (more than the bound after falling due, or never done),
and which were the dead leader's: there, but not yet done, when it was killed.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from broker_config.messages import ReservationStatus
from rider_api.models import Incident, OutboxMessage, Reservation, ReservationEvent

__all__ = ["Duty", "DutyCheck", "judge", "read_duties"]

S = ReservationStatus
DELAYED = timedelta(seconds=0.1)


@dataclass(frozen=True, slots=True)
class Duty:
    what: str
    #: When it came to be (the alert went out, the row was written).
    since: datetime
    due: datetime
    done: datetime | None
    #: When it stopped being needed undone (the driver answered first).
    moot: datetime | None = None


@dataclass(frozen=True, slots=True)
class DutyCheck:
    #: Duties judged: done, moot after falling due, or overdue by more than the bound.
    judged: int
    #: Duties not done yet: due, but not by more than the bound, or not due yet.
    waiting: int
    #: Of the judged, the dead leader's: there, and not done (nor moot), when it was killed.
    of_dead: int
    #: Of the dead leader's, those that fell due before a survivor took over.
    in_gap: int
    #: Longest lateness of the dead leader's duties (seconds).
    max_late_s: float | None
    #: Duties done later than the bound after falling due, or never: one line each.
    late: tuple[str, ...]


def _s(delta: timedelta) -> float:
    return delta.total_seconds()


def judge(
    duties: Iterable[Duty],
    *,
    killed_at: datetime | None,
    takeover_at: datetime | None,
    observed_at: datetime,
    bound_s: float,
) -> DutyCheck:
    """Judge every duty that is done, or overdue by ``bound_s`` at ``observed_at``."""
    bound = timedelta(seconds=bound_s)
    judged = waiting = of_dead = in_gap = 0
    worst: float | None = None
    late: list[str] = []
    for duty in duties:
        if duty.done is None and duty.moot is not None and duty.moot <= duty.due:
            continue  # answered before it fell due: never a duty
        finished = duty.done or duty.moot
        if finished is None and observed_at - duty.due <= bound:
            waiting += 1
            continue
        judged += 1
        if finished is None:
            late.append(f"{duty.what}: due {duty.due:%H:%M:%S.%f}, never done")
        elif finished - duty.due > bound:
            word = "done" if duty.done is not None else "still undone when answered"
            late.append(f"{duty.what}: {word} {_s(finished - duty.due):.1f} s after falling due")
        if (
            killed_at is not None
            and duty.since < killed_at
            and (finished is None or finished >= killed_at)
        ):
            of_dead += 1
            if takeover_at is None or duty.due < takeover_at:
                in_gap += 1
            if duty.done is not None:
                lateness = max(0.0, _s(duty.done - duty.due))
                worst = lateness if worst is None else max(worst, lateness)
    return DutyCheck(judged, waiting, of_dead, in_gap, worst, tuple(late))


def read_duties(engine: Engine, *, ack_timeout_s: float) -> list[Duty]:
    """Every reminder and outbox duty of the run, from the database (blocking)."""
    timeout = timedelta(seconds=ack_timeout_s)
    with Session(engine) as s:
        alerted = s.exec(
            select(Reservation.id, Reservation.alerted_at, Reservation.acknowledged_at).where(
                col(Reservation.alerted_at).is_not(None)
            )
        ).all()
        reminded: dict[uuid.UUID, list[datetime]] = collections.defaultdict(list)
        for rid, at in s.exec(
            select(Incident.reservation_id, Incident.at).where(
                col(Incident.kind) == "unacknowledged"
            )
        ).all():
            if rid is not None:
                reminded[rid].append(at)
        moved: dict[uuid.UUID, list[datetime]] = collections.defaultdict(list)
        for rid, status, at in s.exec(
            select(ReservationEvent.reservation_id, ReservationEvent.status, ReservationEvent.at)
        ).all():
            if status not in (S.PENDING, S.ASSIGNED):
                moved[rid].append(at)
        rows = [
            (row.id, row.topic, row.created_at, row.not_before, row.sent_at)
            for row in s.exec(select(OutboxMessage)).all()
        ]
    duties: list[Duty] = []
    for rid, alerted_at, acknowledged_at in alerted:
        assert alerted_at is not None  # noqa: S101 - selected so
        after = [t for t in moved[rid] if t >= alerted_at]
        if acknowledged_at is not None:
            after.append(acknowledged_at)
        done = [t for t in reminded[rid] if t >= alerted_at]
        duties.append(
            Duty(
                f"reminder of {rid}",
                alerted_at,
                alerted_at + timeout,
                min(done, default=None),
                min(after, default=None),
            )
        )
    for row_id, topic, created_at, not_before, sent_at in rows:
        due = max(created_at, not_before)
        # Both default to "now", read one after the other: only a real delay counts.
        kind = "delayed clearing" if not_before - created_at > DELAYED else "outbox row"
        duties.append(Duty(f"{kind} {row_id} to {topic}", created_at, due, sent_at))
    return duties
