"""Nothing lost, whatever fails: every fault of ``simulators.faults``, bounded.

Each fault runs against its own Mosquitto, database and API process, with 20 bookings
instead of the benchmark's 300 (``bench/bench_faults.py``), and must lose, duplicate and
leave stuck nothing. PostgreSQL runs the faults that lean on the database hardest (a
killed or stopped API with bookings or taps in flight, a killed broker).

With two API instances on PostgreSQL (``simulators.cluster.faults``) the faults that
matter most for several instances run with a few bookings each: the leader killed at a
moment drawn from a seed (``BUSHAIL_TEST_SEED`` replays one), the broker killed under all
of them, and a device joining the server's ``$share`` groups or taking an instance's
client id. There, no delivery may come twice with no fault between the copies, no
transition may be written twice, and exactly one instance must lead at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.cluster import run_fault_on_instances
from simulators.faults import Fault, FaultReport, run_fault

pytestmark = [pytest.mark.e2e]

BOOKINGS = 20
SETTLE_S = 15.0
#: Faults whose scenario makes device events (taps, presses), besides the bookings.
WITH_EVENTS = frozenset(Fault) - {
    Fault.BROKER_KILL,
    Fault.BROKER_RESTART,
    Fault.API_KILL,
    Fault.API_RESTART,
}
POSTGRES_FAULTS = [Fault.BROKER_KILL, Fault.API_KILL, Fault.TAP_API_DOWN]
SINGLE_FAULTS = [f for f in Fault if f not in (Fault.API_KILL_FOLLOWER, Fault.API_RESTART_FOLLOWER)]
#: With two instances: few bookings each, the whole set within about a minute.
INSTANCES = 2
SEVERAL_BOOKINGS = 8
SEVERAL_FAULTS = [Fault.API_KILL, Fault.BROKER_KILL, Fault.ROGUE_SHARE, Fault.ROGUE_CLIENT_ID]


def _check(report: FaultReport) -> None:
    assert report.bookings == BOOKINGS, report.describe()
    if report.fault in WITH_EVENTS:
        assert report.events > 0, report.describe()
    assert report.clean, report.describe()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", SINGLE_FAULTS, ids=str)
async def test_nothing_is_lost_on_sqlite(fault: Fault, tmp_path: Path) -> None:
    report = await run_fault(
        fault, database="sqlite", bookings=BOOKINGS, workdir=tmp_path, settle_s=SETTLE_S
    )
    _check(report)


@pytest.mark.postgres
@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", POSTGRES_FAULTS, ids=str)
async def test_nothing_is_lost_on_postgresql(
    fault: Fault, tmp_path: Path, postgres_url: str
) -> None:
    report = await run_fault(
        fault,
        database="postgresql",
        bookings=BOOKINGS,
        workdir=tmp_path,
        postgres_url=postgres_url,
        settle_s=SETTLE_S,
    )
    _check(report)


@pytest.mark.postgres
@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", SEVERAL_FAULTS, ids=str)
async def test_nothing_is_lost_with_two_instances(
    fault: Fault, tmp_path: Path, postgres_url: str, seed: int
) -> None:
    report = await run_fault_on_instances(
        fault,
        instances=INSTANCES,
        bookings=SEVERAL_BOOKINGS,
        workdir=tmp_path,
        postgres_url=postgres_url,
        seed=seed,
        settle_s=SETTLE_S,
    )
    why = f"{report.describe()}\n(logs: {tmp_path})"
    several = report.several
    assert several is not None, why
    assert (several.instances, several.seed) == (INSTANCES, seed), why
    if fault is Fault.API_KILL:
        assert several.hit is not None, why
        assert several.hit.endswith("(leader)"), why
        assert several.takeover_s is not None, why
    assert several.leaders_at_end == 1, why
    assert (several.duplicate_deliveries, several.seq_conflicts) == (0, 0), why
    assert report.duplicated_transitions == 0, why
    assert report.bookings == SEVERAL_BOOKINGS, why
    if fault is not Fault.BROKER_KILL:  # with several instances api-kill makes events too
        assert report.events > 0, why
    assert report.clean, why
