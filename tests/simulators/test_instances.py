"""No single point of failure: two API instances on one PostgreSQL database and the real
Mosquitto, bookings, cancels, driver taps and help presses through both, then ``kill -9``
of the leader at a random moment under load (``simulators.cluster``).

Nothing may be lost or duplicated (no reservation, no transition, no delivery in the
normal case), nothing left unsent or pending, a survivor must lead within 10 s and do
every timed duty of the dead leader within 10 s of falling due. The moment of the kill
comes from a seed, in every failure message; ``BUSHAIL_TEST_SEED`` replays one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from simulators.cluster import TAKEOVER_BOUND_S, run_instances

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

INSTANCES = 2
BOOKINGS = 40


@pytest.fixture
def seed() -> int:
    given = os.environ.get("BUSHAIL_TEST_SEED")
    return int(given) if given else random.SystemRandom().randrange(1_000_000)


@pytest.mark.timeout(90)
async def test_killing_the_leader_under_load_loses_and_duplicates_nothing(
    tmp_path: Path, postgres_url: str, seed: int
) -> None:
    report = await run_instances(
        instances=INSTANCES,
        bookings=BOOKINGS,
        workdir=tmp_path,
        postgres_url=postgres_url,
        seed=seed,
        settle_s=15.0,
    )
    why = report.describe()
    assert report.bookings == BOOKINGS, why
    assert report.events > 0, why
    assert all(n > 0 for _name, n in report.requests), why
    assert report.killed_leader, why
    assert report.takeover_s is not None, why
    assert report.takeover_s < TAKEOVER_BOUND_S, why
    assert report.leaders_at_end == 1, why
    assert report.duties_of_dead > 0, why
    assert (
        report.lost_reservations,
        report.duplicated_transitions,
        report.duplicate_deliveries,
        report.seq_conflicts,
        report.unsent_outbox,
        report.pending_events,
        report.duties_late,
        report.lost,
        report.duplicated,
        report.stuck,
    ) == (0, 0, 0, 0, 0, 0, 0, 0, 0, 0), why
    assert report.clean, why
