"""Running one fault: its harness and script, the settling audit, and its report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from broker_config.errors import MqttError
from simulators.faults.const import DatabaseKind, Fault
from simulators.faults.harness import Harness, Options
from simulators.faults.report import FaultReport
from simulators.faults.scenarios import FAULTS

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Also log this process's INFO lines (devices, harness) to ``path`` meanwhile."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(min(previous, logging.INFO) if previous else logging.NOTSET)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


async def run_fault(
    fault: Fault,
    *,
    database: DatabaseKind = "sqlite",
    bookings: int = 300,
    workdir: Path,
    postgres_url: str | None = None,
    settle_s: float = 30.0,
    concurrency: int = 4,
) -> FaultReport:
    """Run ``fault``'s scenario in ``workdir`` (logs stay there) and count what it lost."""
    workdir.mkdir(parents=True, exist_ok=True)
    options = Options(bookings=bookings, settle_s=settle_s, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with _log_to(workdir / "harness.log"):
        async with Harness(
            fault, database=database, workdir=workdir, options=options, postgres_url=postgres_url
        ) as harness:
            try:
                await FAULTS[fault](harness)
            except (TimeoutError, MqttError, OSError, RuntimeError) as exc:
                # Something the script waited for never happened: a finding, not a crash.
                logger.exception("%s: the script stopped", fault)
                harness.notes.append(f"the {fault} script stopped: {type(exc).__name__}: {exc}")
            healed = loop.time()
            tally = await harness.settle()
            settled = loop.time()
            made = harness.made()
    answered = sum(1 for b in made.bookings if b.reservation_id is not None)
    events = len(made.taps) + sum(made.presses.values())
    return FaultReport(
        fault=fault,
        database=database,
        bookings=answered,
        events=events,
        lost=tally.count("lost"),
        duplicated=tally.count("duplicated"),
        stuck=tally.count("stuck"),
        seconds=loop.time() - started,
        settle_seconds=settled - healed,
        problems=tuple(
            [f"lost: {p}" for p in tally.lost]
            + [f"duplicated: {p}" for p in tally.duplicated]
            + [f"stuck: {p}" for p in tally.stuck]
        ),
    )
