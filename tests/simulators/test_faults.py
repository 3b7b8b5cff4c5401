"""Nothing lost, whatever fails: every fault of ``simulators.faults``, bounded.

Each fault runs against its own Mosquitto, database and API process, with 20 bookings
instead of the benchmark's 300 (``bench/bench_faults.py``), and must lose, duplicate and
leave stuck nothing. PostgreSQL runs the faults that lean on the database hardest (a
killed or stopped API with bookings or taps in flight, a killed broker).
"""

from __future__ import annotations

from pathlib import Path

import pytest

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


def _check(report: FaultReport) -> None:
    assert report.bookings == BOOKINGS, report.describe()
    if report.fault in WITH_EVENTS:
        assert report.events > 0, report.describe()
    assert report.clean, report.describe()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", list(Fault), ids=str)
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
