"""Running one fault: its harness and script, the settling audit, and its report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broker_config.errors import MqttError
from simulators.faults.audit import Made, Observed, Tally, duplicated_transitions
from simulators.faults.const import DatabaseKind, Fault
from simulators.faults.harness import Harness, Options
from simulators.faults.report import FaultReport, Several
from simulators.faults.scenarios import FAULTS

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def log_to(path: Path) -> Iterator[None]:
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


@dataclass(frozen=True, slots=True)
class Played:
    """A script played on a harness and settled: the last audit and what it read."""

    tally: Tally
    made: Made
    #: None when the last look failed (the tally says why).
    seen: Observed | None
    settle_seconds: float


async def play(harness: Harness, fault: Fault) -> Played:
    """Run ``fault``'s script on ``harness`` (inside its ``async with``), then settle."""
    loop = asyncio.get_running_loop()
    try:
        await FAULTS[fault](harness)
    except (TimeoutError, MqttError, OSError, RuntimeError) as exc:
        # Something the script waited for never happened: a finding, not a crash.
        logger.exception("%s: the script stopped", fault)
        harness.notes.append(f"the {fault} script stopped: {type(exc).__name__}: {exc}")
    healed = loop.time()
    tally = await harness.settle()
    settled = loop.time()
    seen: Observed | None = None
    try:
        seen = await harness.observe()
    except (MqttError, TimeoutError, OSError) as exc:
        tally.stuck.append(f"could not observe for the transitions: {exc}")
    return Played(tally, harness.made(), seen, settled - healed)


def report(
    fault: Fault,
    database: DatabaseKind,
    played: Played,
    *,
    seconds: float,
    several: Several | None = None,
    more_problems: tuple[str, ...] = (),
) -> FaultReport:
    """The counts of one played scenario, each problem listed under its kind."""
    tally, made = played.tally, played.made
    transitions, transition_lines = (
        duplicated_transitions(played.seen) if played.seen is not None else (0, [])
    )
    return FaultReport(
        fault=fault,
        database=database,
        bookings=sum(1 for b in made.bookings if b.reservation_id is not None),
        events=len(made.taps) + sum(made.presses.values()),
        lost=tally.count("lost"),
        duplicated=tally.count("duplicated"),
        stuck=tally.count("stuck"),
        duplicated_transitions=transitions,
        seconds=seconds,
        settle_seconds=played.settle_seconds,
        problems=(
            *(f"lost: {p}" for p in tally.lost),
            *(f"duplicated: {p}" for p in tally.duplicated),
            *(f"stuck: {p}" for p in tally.stuck),
            *(f"duplicated transition: {p}" for p in transition_lines),
            *more_problems,
        ),
        several=several,
    )


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
    """Run ``fault``'s scenario in ``workdir`` (logs stay there) and count what it lost.

    One API process; ``simulators.cluster.run_fault_on_instances`` runs the same with
    several."""
    workdir.mkdir(parents=True, exist_ok=True)
    options = Options(bookings=bookings, settle_s=settle_s, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with log_to(workdir / "harness.log"):
        async with Harness(
            fault, database=database, workdir=workdir, options=options, postgres_url=postgres_url
        ) as harness:
            played = await play(harness, fault)
    return report(fault, database, played, seconds=loop.time() - started)
