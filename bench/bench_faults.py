"""Nothing lost, whatever fails: the fault-injection suite, counted.

For each fault (``simulators.faults``: kill -9 and restart of Mosquitto and of the API,
kill -9 of a stop gateway, driver taps during a broker or an API outage, button presses
during both, a device joining the server's subscriptions or taking its client id), runs
a fresh Mosquitto, a fresh database and the real API as its own process on loopback,
books ``--bookings`` times through the HTTP API while the fault happens, and counts the
bookings made, the device events made, and what was lost, duplicated or left stuck once
everything has settled. Prints one row per fault and database; the exit code is 1 when
anything was lost, duplicated or stuck, and every such item is listed under the table.

With ``--instances N`` (2 or 3; PostgreSQL only) each fault runs on N API processes
sharing the database (``simulators.cluster.faults``): requests round robin over the live
instances, API faults on the leader (``api-kill``, ``api-restart``) or on one that does
not lead (``api-kill-follower``, ``api-restart-follower``) at a moment drawn from
``--seed``, every instance down for ``tap-api-down`` and ``press-both-down``. The table
then also counts duplicated transitions, deliveries by (topic, seq) at a subscriber
(duplicates / sent again after a fault / seq conflicts) and the take-over time after
the leader's death.

    .venv/bin/python -m bench.bench_faults [--bookings 300] [--database sqlite|postgresql|both]
        [--instances 1|2|3] [--seed N] [--faults broker-kill,api-kill ...]
        [--postgres-url URL] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from simulators.cluster import run_fault_on_instances
from simulators.faults import (
    FAULT_TEXT,
    DatabaseKind,
    Fault,
    FaultReport,
    format_table,
    iter_faults,
    run_fault,
)


def _parser() -> argparse.ArgumentParser:
    faults = "\n".join(f"  {f.value:21s} {FAULT_TEXT[f]}" for f in Fault)
    parser = argparse.ArgumentParser(
        prog="bench_faults",
        description=__doc__,
        epilog="faults:\n" + faults,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bookings", type=int, default=300, help="bookings per fault (300)")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql", "both"],
        default=None,
        help="sqlite (the default with one instance), postgresql (the only one with several) "
        "or both",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="API instances per fault (1; several need PostgreSQL)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the moment an API fault strikes with several instances (random: printed)",
    )
    parser.add_argument(
        "--faults", default="", help="comma-separated faults to run (default: all of them)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BUSHAIL_TEST_POSTGRES_URL"),
        help="a PostgreSQL server where scratch databases may be created and dropped "
        "(default: BUSHAIL_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--settle", type=float, default=30.0, help="longest wait for things to settle (30 s)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="bookings in flight (4)")
    parser.add_argument("--keep", action="store_true", help="keep each run's logs and state")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the harness")
    return parser


async def _run(
    args: argparse.Namespace,
    faults: list[Fault],
    databases: list[DatabaseKind],
    crashed: list[str],
) -> list[FaultReport]:
    root = Path(tempfile.mkdtemp(prefix="bushail-faults-"))
    reports: list[FaultReport] = []
    try:
        for database in databases:
            for fault in faults:
                workdir = root / f"{fault}-{database}"
                try:
                    if args.instances > 1:
                        report = await run_fault_on_instances(
                            fault,
                            instances=args.instances,
                            bookings=args.bookings,
                            workdir=workdir,
                            postgres_url=args.postgres_url,
                            seed=args.seed,
                            settle_s=args.settle,
                            concurrency=args.concurrency,
                        )
                    else:
                        report = await run_fault(
                            fault,
                            database=database,
                            bookings=args.bookings,
                            workdir=workdir,
                            postgres_url=args.postgres_url,
                            settle_s=args.settle,
                            concurrency=args.concurrency,
                        )
                except Exception as exc:
                    # The harness itself failed (a process that would not start ...).
                    crashed.append(f"{fault} on {database}: {type(exc).__name__}: {exc}")
                    print(f"{fault} on {database}: CRASHED: {exc}", file=sys.stderr, flush=True)
                    continue
                reports.append(report)
                mark = "ok" if report.clean else "FAILED"
                print(
                    f"{fault} on {database}: {mark} ({report.seconds:.1f} s, settled in "
                    f"{report.settle_seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if args.keep:
            print(f"logs and state kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return reports


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Each run's INFO lines go to its harness.log; the terminal gets errors (all with -v).
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO if args.verbose else logging.ERROR)
    if args.instances < 1:
        print("--instances: 1 or more", file=sys.stderr)
        return 2
    several = args.instances > 1
    if several and args.database not in (None, "postgresql"):
        print(
            f"--instances {args.instances} needs --database postgresql: several API instances "
            "share one PostgreSQL database (SQLite serves one process only)",
            file=sys.stderr,
        )
        return 2
    try:
        names = [f for f in args.faults.split(",") if f]
        faults = list(iter_faults(names, instances=args.instances))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    chosen: str = args.database or ("postgresql" if several else "sqlite")
    databases: list[DatabaseKind] = [
        kind for kind in ("sqlite", "postgresql") if chosen in (kind, "both")
    ]
    if several and args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    if "postgresql" in databases and not args.postgres_url:
        what = f"{args.instances} API instances share" if several else "a run on"
        print(
            f"{what} PostgreSQL: give --postgres-url or BUSHAIL_TEST_POSTGRES_URL",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    crashed: list[str] = []
    reports = asyncio.run(_run(args, faults, databases, crashed))
    print(format_table(reports))
    instances = f", {args.instances} API instances (seed {args.seed})" if several else ""
    print(
        f"\n{args.bookings} bookings per fault{instances}, "
        f"{time.monotonic() - started:.0f} s in all"
    )
    failed = [r for r in reports if not r.clean]
    for report in failed:
        print("\n" + report.describe())
    for line in crashed:
        print(f"\nthe harness failed: {line}")
    return 1 if failed or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
