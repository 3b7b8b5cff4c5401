"""The fault suite with several API instances (``simulators.faults`` on N processes).

Every fault of ``simulators.faults`` on one scratch PostgreSQL database, one managed
Mosquitto and ``instances`` API processes (``api1`` ..), the riders' requests spread
round robin over the live ones. Each fault keeps its meaning across instances:

- the broker faults hit the one broker every instance is connected to;
- ``api-kill`` / ``api-restart`` hit the instance that leads, at a moment drawn from the
  seed, and the take-over is timed (the kill until a survivor says it leads);
  ``api-kill-follower`` / ``api-restart-follower`` hit one that does not lead; both make
  driver taps and help presses on the way and while the instance is down;
- ``tap-api-down`` and ``press-both-down`` stop *every* instance. The rider-facing
  guarantee is that a driver's tap or a rider's press is applied once, whichever
  instances are up when it is made. With one instance down the others hear the event at
  once (each instance subscribes on its own; no shared subscription), so that case is
  the api-kill rows'; the hard case is none up: each instance's persistent session holds
  the event, they come back together and all race to apply it;
- ``rogue-share`` joins ``$share`` groups named after every instance, ``rogue-client-id``
  takes each instance's client id in turn, and the server must notice neither.

Counted as the single-instance suite does (the same audit), plus history rows duplicated
per (reservation, status), deliveries at a subscriber by (topic, seq) (extra copies with
no fault between them are duplicates; copies again after a fault are counted apart), and
the take-over time when the leader dies.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

from simulators.cluster.harness import ClusterHarness, plan_kill
from simulators.faults.const import Fault
from simulators.faults.harness import Options
from simulators.faults.report import FaultReport, Several
from simulators.faults.run import log_to, play, report

__all__ = ["run_fault_on_instances"]

logger = logging.getLogger(__name__)


async def run_fault_on_instances(
    fault: Fault,
    *,
    instances: int,
    bookings: int = 300,
    workdir: Path,
    postgres_url: str | None,
    seed: int | None = None,
    settle_s: float = 30.0,
    concurrency: int = 4,
) -> FaultReport:
    """Run ``fault``'s scenario with ``instances`` API processes on PostgreSQL in
    ``workdir`` (logs: ``api-apiN.log`` per instance, ``broker.log``, ``harness.log``)."""
    if instances < 2:
        raise ValueError("several instances: 2 at least (one instance: run_fault)")
    if not postgres_url:
        raise ValueError(
            "several API instances share one PostgreSQL database (SQLite serves one "
            "process): give a server URL (--postgres-url or BUSHAIL_TEST_POSTGRES_URL)"
        )
    if seed is None:
        seed = random.SystemRandom().randrange(1_000_000)
    plan = plan_kill(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    options = Options(bookings=bookings, settle_s=settle_s, concurrency=concurrency)
    started = time.monotonic()
    with log_to(workdir / "harness.log"):
        logger.info(
            "%s on %d instances, seed %d: an API fault at %.0f%% of %d bookings, %.0f ms later",
            fault,
            instances,
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
            ack_timeout_s=None,
            fault=fault,
            plan=plan,
        ) as h:
            played = await play(h, fault)
            leaders = await h.cluster.leaders()
            deliveries = h.deliveries.summary()
            requests = dict(h.spread.transport.sent)
        spread = ", ".join(f"{name} {n}" for name, n in sorted(requests.items()))
        logger.info("requests per instance: %s", spread)
        logger.info("deliveries at the counting subscriber: %s", deliveries)
    several = Several(
        instances=instances,
        seed=seed,
        hit=", ".join(h.hits) or None,
        deliveries=deliveries.messages,
        distinct_deliveries=deliveries.distinct,
        duplicate_deliveries=deliveries.duplicates,
        republished=deliveries.republished,
        seq_conflicts=deliveries.conflicts,
        takeover_s=h.takeover.seconds if h.takeover else None,
        leaders_at_end=None if set(leaders) == {None} else leaders[True],
        requests=tuple((name, requests.get(name, 0)) for name in h.names),
    )
    more = [f"delivery: {line}" for line in deliveries.examples]
    idle = [name for name, n in several.requests if not n]
    if idle:
        more.append(f"not spread: no request reached {', '.join(idle)}")
    if several.leaders_at_end != 1:
        more.append(f"{several.leaders_at_end} instance(s) lead at the end")
    return report(
        fault,
        "postgresql",
        played,
        seconds=time.monotonic() - started,
        several=several,
        more_problems=tuple(more),
    )
