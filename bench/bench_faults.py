"""Nothing lost, whatever fails: the fault-injection suite, counted.

For each fault (``simulators.faults``: kill -9 and restart of Mosquitto and of the API,
kill -9 of a stop gateway, driver taps during a broker or an API outage, button presses
during both, a device joining the server's subscriptions or taking its client id), runs
a fresh Mosquitto, a fresh database and the real API as its own process on loopback,
books ``--bookings`` times through the HTTP API while the fault happens, and counts the
bookings made, the device events made, and what was lost, duplicated or left stuck once
everything has settled. Prints one row per fault and database; the exit code is 1 when
anything was lost, duplicated or stuck, and every such item is listed under the table.

    .venv/bin/python -m bench.bench_faults [--bookings 300] [--database sqlite|postgresql|both]
        [--faults broker-kill,api-kill ...] [--postgres-url URL] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

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
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
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
    try:
        faults = list(iter_faults([f for f in args.faults.split(",") if f]))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    databases: list[DatabaseKind] = (
        ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    )
    if "postgresql" in databases and not args.postgres_url:
        print("PostgreSQL needs --postgres-url or BUSHAIL_TEST_POSTGRES_URL", file=sys.stderr)
        return 2
    started = time.monotonic()
    crashed: list[str] = []
    reports = asyncio.run(_run(args, faults, databases, crashed))
    print(format_table(reports))
    print(f"\n{args.bookings} bookings per fault, {time.monotonic() - started:.0f} s in all")
    failed = [r for r in reports if not r.clean]
    for report in failed:
        print("\n" + report.describe())
    for line in crashed:
        print(f"\nthe harness failed: {line}")
    return 1 if failed or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
