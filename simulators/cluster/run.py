"""Running the multi-instance scenario: the burst spread over the instances, ``kill -9``
of the leader at a seeded random moment, the take-over watched, the audit, the report."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from broker_config.errors import MqttError
from simulators.cluster.const import ACK_TIMEOUT_S, TAKEOVER_BOUND_S, TAKEOVER_WATCH_S
from simulators.cluster.harness import ClusterHarness, plan_kill
from simulators.cluster.instances import Kill, Takeover
from simulators.cluster.report import InstancesReport
from simulators.faults.audit import duplicated_transitions
from simulators.faults.harness import Options
from simulators.faults.run import log_to

__all__ = ["run_instances"]

logger = logging.getLogger(__name__)


@dataclass
class _Outcome:
    kill: Kill | None = None
    takeover: Takeover | None = None


async def _script(h: ClusterHarness, outcome: _Outcome, watch_s: float) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(0.2))
        await h.wait_alerts()
        await h.tap_assigned()
        await h.press(2)
        await h.moment(progress)
        await h.tap_assigned()  # these taps meet the leader's death on their way
        outcome.kill = await h.kill_leader()
        await h.press(2)  # while no instance may lead
        outcome.takeover = await h.cluster.takeover(outcome.kill, within_s=watch_s)
    await h.wait_alerts()
    await h.tap_assigned()
    await h.press(2)


async def run_instances(
    *,
    instances: int = 2,
    bookings: int = 40,
    workdir: Path,
    postgres_url: str,
    seed: int | None = None,
    settle_s: float = 15.0,
    concurrency: int = 4,
    ack_timeout_s: float = ACK_TIMEOUT_S,
    watch_s: float = TAKEOVER_WATCH_S,
    bound_s: float = TAKEOVER_BOUND_S,
) -> InstancesReport:
    """Run the scenario in ``workdir`` (logs stay there: ``api-apiN.log`` per instance,
    ``broker.log``, ``harness.log``) and count what it lost, duplicated or left late."""
    if instances < 2:
        raise ValueError("the scenario kills one of several instances: 2 at least")
    if seed is None:
        seed = random.SystemRandom().randrange(1_000_000)
    plan = plan_kill(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    options = Options(bookings=bookings, settle_s=settle_s, concurrency=concurrency)
    outcome = _Outcome()
    started = time.monotonic()
    with log_to(workdir / "harness.log"):
        logger.info(
            "seed %d: kill -9 of the leader at %.0f%% of %d bookings, %.0f ms later",
            seed,
            plan.fraction * 100,
            bookings,
            plan.delay_s * 1000,
        )
        async with ClusterHarness(
            instances=instances,
            workdir=workdir,
            options=options,
            postgres_url=postgres_url,
            ack_timeout_s=ack_timeout_s,
            plan=plan,
        ) as h:
            try:
                await _script(h, outcome, watch_s)
            except (TimeoutError, MqttError, OSError, RuntimeError, httpx.HTTPError) as exc:
                # Something the script waited for never happened: a finding, not a crash.
                logger.exception("the multi-instance script stopped")
                h.notes.append(f"the script stopped: {type(exc).__name__}: {exc}")
            tally = await h.settle()
            duties = await h.duties(outcome.kill, outcome.takeover, bound_s=bound_s)
            seen = await h.observe()
            leaders = await h.cluster.leaders()
            deliveries = h.deliveries.summary()
            made = h.made()
            requests = dict(h.spread.transport.sent)
    kill, takeover = outcome.kill, outcome.takeover
    transitions, transition_lines = duplicated_transitions(seen)
    problems = [
        *(f"lost: {p}" for p in tally.lost),
        *(f"duplicated: {p}" for p in tally.duplicated),
        *(f"stuck: {p}" for p in tally.stuck),
        *(f"duplicated transition: {p}" for p in transition_lines),
        *(f"delivery: {p}" for p in deliveries.examples),
        *(f"late duty: {p}" for p in duties.late),
    ]
    if duties.waiting:
        problems.append(f"{duties.waiting} timed duties still not done when last looked")
    if kill is not None and takeover is None:
        problems.append(f"no survivor reported leadership within {watch_s:g} s of the kill")
    spread = ", ".join(f"{name} {n}" for name, n in sorted(requests.items()))
    logger.info("requests per instance: %s", spread)
    leaders_at_end = None if set(leaders) == {None} else leaders[True]
    return InstancesReport(
        instances=instances,
        seed=seed,
        killed=kill.instance if kill else None,
        killed_leader=bool(kill and kill.was_leader),
        bookings=sum(1 for b in made.bookings if b.reservation_id is not None),
        cancels=sum(1 for b in made.bookings if b.cancelled),
        events=len(made.taps) + sum(made.presses.values()),
        lost_reservations=sum(
            1
            for b in made.bookings
            if b.reservation_id is not None and b.reservation_id not in seen.reservations
        ),
        lost=tally.count("lost"),
        duplicated=tally.count("duplicated"),
        duplicated_transitions=transitions,
        deliveries=deliveries.messages,
        distinct_deliveries=deliveries.distinct,
        duplicate_deliveries=deliveries.duplicates,
        republished=deliveries.republished,
        seq_conflicts=deliveries.conflicts,
        stuck=tally.count("stuck"),
        unsent_outbox=len(seen.unsent),
        pending_events=sum(seen.device_pending.values()),
        takeover_s=takeover.seconds if takeover else None,
        leaders_at_end=leaders_at_end,
        duties=duties.judged,
        duties_of_dead=duties.of_dead,
        duties_in_gap=duties.in_gap,
        duties_late=len(duties.late),
        duty_max_late_s=duties.max_late_s,
        seconds=time.monotonic() - started,
        requests=tuple(sorted(requests.items())),
        problems=tuple(problems),
        bound_s=bound_s,
    )
