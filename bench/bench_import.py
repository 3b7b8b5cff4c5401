"""GTFS import speed and memory: stop_times per second and peak RSS, SQLite and PostgreSQL.

Builds a large synthetic feed (deterministic, seeded) shaped like the real Cairns feed
in ``tests/data``: routes with two directions, each a pattern of stops along a shape,
trips every few minutes through the day on weekday, Saturday and Sunday services, a few
stop times without a time (interpolated at import), long trip ids, most trips with a
headsign. It is written as a zip (stop_times.txt streamed, never held in memory), then
imported as ``bushail-api network import`` does (``upgrade`` then ``import_feed``) into a
fresh SQLite file and a fresh PostgreSQL database, twice each: into the empty database,
then again over the first import (the everyday case: the old network is deleted in the
same transaction). Each import runs in a child process of its own, so its peak RSS
(``ru_maxrss``) is its own; the child also reports its RSS before the import (Python
and the project's modules loaded), so the import's own share is the difference. "readers
locked out" is how long the import kept the network's readers waiting
(``ImportReport.readers_locked_out_s``: on PostgreSQL the swap of the staging tables,
from its lock to the commit; never on SQLite, whose readers read the WAL).

    .venv/bin/python -m bench.bench_import [--stop-times 2000000] [--database both]
    .venv/bin/python -m bench.bench_import --feed tests/data/cairns_gtfs.zip
    .venv/bin/python -m bench.bench_import --stop-times 200000 --profile /tmp/prof

``--profile DIR`` runs each child under py-spy (``pip install py-spy``) and prints where
the time went, by function (own time) and by the import's steps (time including callees).
PostgreSQL: the server of ``--postgres-url`` (default ``BUSHAIL_TEST_POSTGRES_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres``); a scratch database is created and
dropped.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent

#: Stops per route pattern (Cairns: 10 to 90), seconds between stops, trips' headways.
_PATTERN_STOPS = (20, 60)
_HOP_S = (45, 150)
_SERVICES = (
    ("WKD", "1,1,1,1,1,0,0", 1.0),
    ("SAT", "0,0,0,0,0,1,0", 0.6),
    ("SUN", "0,0,0,0,0,0,1", 0.4),
)


# --- the synthetic feed ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pattern:
    route_id: str
    direction_id: int
    stops: tuple[int, ...]
    hops: tuple[int, ...]
    shape_id: str


def _patterns(rng: random.Random, routes: int, stops: int) -> list[_Pattern]:
    out = []
    for r in range(routes):
        route_id = f"{100 + r}-{423 + r % 7}"
        n = rng.randint(*_PATTERN_STOPS)
        start = rng.randrange(stops)
        step = rng.choice((1, 2, 3, 5, 7))
        outbound = tuple((start + i * step) % stops for i in range(n))
        hops = tuple(rng.randint(*_HOP_S) for _ in range(n - 1))
        for direction_id, order, hop in ((0, outbound, hops), (1, outbound[::-1], hops[::-1])):
            shape_id = f"{1100000 + 2 * r + direction_id}"
            out.append(_Pattern(route_id, direction_id, order, hop, shape_id))
    return out


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def write_feed(path: Path, stop_times: int, seed: int = 16) -> dict[str, int]:
    """Write a feed with about ``stop_times`` stop times (exactly: the last trip is cut
    short) to the zip ``path``; returns its row counts."""
    rng = random.Random(seed)
    mean_stops = sum(_PATTERN_STOPS) / 2
    trips_wanted = max(1, math.ceil(stop_times / mean_stops))
    # Cairns: ~60 trips per route; a city of millions of stop times has more routes.
    routes = max(1, round(trips_wanted / 120))
    stops = max(50, routes * 12)
    patterns = _patterns(rng, routes, stops)
    counts: collections.Counter[str] = collections.Counter()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:

        def table(name: str, header: str, rows: Iterator[str]) -> None:
            with z.open(name, "w") as raw, io.TextIOWrapper(raw, "utf-8", newline="") as out:
                out.write(header + "\r\n")
                for row in rows:
                    out.write(row)
                    out.write("\r\n")
                    counts[name] += 1

        table(
            "agency.txt",
            "agency_name,agency_url,agency_timezone,agency_lang,agency_phone",
            iter(['"Synthetic Transit (bench)",https://example.org,Australia/Brisbane,en,']),
        )
        table(
            "stops.txt",
            "stop_id,stop_code,stop_name,stop_desc,stop_lat,stop_lon,location_type,parent_station",
            (
                f'{750000 + s},,"Stop {s} - Hail and Ride, Bay {s % 9}",,'
                f"{-16.9 + (s % 97) * 0.004:.6f},{145.7 + (s // 97) * 0.004:.6f},0,"
                for s in range(stops)
            ),
        )
        table(
            "routes.txt",
            "route_id,route_short_name,route_long_name,route_desc,route_type,route_color",
            (
                f'{p.route_id},{p.route_id.split("-")[0]},"Route {p.route_id} - Terminus",,3,7BC142'
                for p in patterns
                if p.direction_id == 0
            ),
        )
        table(
            "calendar.txt",
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
            "start_date,end_date",
            (f"SYN-{name},{days},20260105,20261225" for name, days, _share in _SERVICES),
        )
        table(
            "calendar_dates.txt",
            "service_id,date,exception_type",
            iter(["SYN-WKD,20260126,2", "SYN-SUN,20260126,1", "SYN-WKD,20260403,2"]),
        )
        table(
            "shapes.txt",
            "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,shape_dist_traveled",
            (
                f"{p.shape_id},{-16.9 + (s % 97) * 0.004 + k * 0.0008:.6f},"
                f"{145.7 + (s // 97) * 0.004:.6f},{10001 + 5 * i + k},{(5 * i + k) * 80.0:.1f}"
                for p in patterns
                for i, s in enumerate(p.stops)
                for k in range(5)
            ),
        )

        # Trips: service days share the trips out; each pattern runs from 05:00 on.
        plan: list[tuple[str, _Pattern, str, int, str]] = []
        total = 0
        shares = sum(share for *_x, share in _SERVICES)
        number = 4165878
        while total < stop_times:
            for name, _days, share in _SERVICES:
                per_service = max(1, round(len(patterns) * share / shares))
                for p in rng.sample(patterns, min(per_service, len(patterns))):
                    if total >= stop_times:
                        break
                    trip_id = f"SYN2026-SYN_MUL-{name}-00-{number}"
                    number += 1
                    start = 5 * 3600 + rng.randrange(0, 19 * 3600, 60)
                    headsign = (
                        "" if rng.random() < 0.1 else f'"{p.route_id} to Terminus {p.stops[-1]}"'
                    )
                    plan.append((trip_id, p, f"SYN-{name}", start, headsign))
                    total += len(p.stops)
        table(
            "trips.txt",
            "route_id,service_id,trip_id,trip_headsign,direction_id,block_id,shape_id",
            (
                f"{p.route_id},{service},{trip_id},{headsign},{p.direction_id},,{p.shape_id}"
                for trip_id, p, service, _start, headsign in plan
            ),
        )

        def stop_time_rows() -> Iterator[str]:
            left = stop_times
            for trip_id, p, _service, start, _headsign in plan:
                t = start
                n = min(len(p.stops), left)
                left -= n
                for i in range(n):
                    if i:
                        t += p.hops[i - 1]
                    # About 1 in 600 middle stops has no time (Cairns: 65 of 37,790).
                    timed = i in (0, n - 1) or rng.random() >= 1 / 600
                    hms = _hms(t) if timed else ""
                    yield (
                        f"{trip_id},{hms},{hms},{750000 + p.stops[i]},{i + 1},0,0,{i * 400.0:.1f}"
                    )

        table(
            "stop_times.txt",
            "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,"
            "drop_off_type,shape_dist_traveled",
            stop_time_rows(),
        )
    return dict(counts)


# --- one import, in a child process -----------------------------------------------------


def _rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(url: str, feed: str) -> None:
    """Import as ``bushail-api network import`` does; print one JSON line."""
    from rider_api.db.migrate import upgrade
    from rider_api.network.importer import import_feed

    upgrade(url)
    before = _rss_mib()
    started = time.perf_counter()
    report = import_feed(url, feed)
    seconds = time.perf_counter() - started
    out = {
        "stop_times": report.counts["stop_times"],
        "seconds": seconds,
        "rss_before_mib": before,
        "peak_rss_mib": _rss_mib(),
        "readers_locked_out_s": report.readers_locked_out_s,
    }
    sys.stdout.write(json.dumps(out) + "\n")


def _run_child(url: str, feed: Path, profile: Path | None, label: str) -> dict[str, float | None]:
    command = [sys.executable, "-m", "bench.bench_import", "--child", url, str(feed)]
    if profile is not None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out = profile / f"{label}.txt"
        command = [
            py_spy,
            "record",
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            str(out),
            "--",
            *command,
        ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"import failed ({label}):\n{done.stderr[-4000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    result: dict[str, float | None] = json.loads(line)
    return result


def _print_profile(path: Path, label: str, top: int = 14) -> None:
    """Own time per function, and time including callees for the import's own functions."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        samples = int(n)
        frames = stack.split(";")
        # Only the import itself: the child's start-up and the migrations are left out.
        if not any("import_feed" in f for f in frames):
            continue
        total += samples
        own[_frame(frames[-1])] += samples
        for name in {_frame(f) for f in frames if "rider_api/network" in f}:
            inclusive[name] += samples
    print(f"\n  profile of {label}: {total} samples in import_feed")
    print("  own time (the function itself):")
    for name, samples in own.most_common(top):
        print(f"    {samples / total:6.1%}  {name}")
    print("  including callees (rider_api.network):")
    for name, samples in inclusive.most_common(top):
        print(f"    {samples / total:6.1%}  {name}")


def _frame(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)".
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    return f"{name} ({Path(file).name})"


# --- databases ------------------------------------------------------------------------------


@contextmanager
def _sqlite_database(workdir: Path) -> Iterator[tuple[str, Path]]:
    path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
    try:
        yield f"sqlite:///{path}", path
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def _postgres_database(base_url: str) -> Iterator[str]:
    from rider_api.db.engine import make_sync_engine

    name = f"bench_import_{uuid.uuid4().hex[:10]}"
    admin = make_sync_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _sqlite_size(path: Path) -> int:
    return sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{path}{suffix}").exists()
    )


def _postgres_size(url: str) -> int:
    from rider_api.db.engine import make_sync_engine

    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    finally:
        engine.dispose()


# --- the table --------------------------------------------------------------------------------


_HEADER = (
    "| database | run | stop_times | seconds | stop_times/s | peak RSS (the import's own) "
    "| readers locked out | database size |\n|---|---|---|---|---|---|---|---|"
)


def _row(database: str, run: str, result: dict[str, float | None], size: int) -> str:
    """One line of the table; "readers locked out" is how long the import kept readers
    of the network waiting (PostgreSQL: the swap, from its lock to the commit)."""
    n = int(result["stop_times"] or 0)
    seconds = result["seconds"] or math.nan
    peak, before = result["peak_rss_mib"] or 0.0, result["rss_before_mib"] or 0.0
    locked = result.get("readers_locked_out_s")
    locked_text = "never" if locked is None else f"{locked * 1000:.0f} ms"
    return (
        f"| {database} | {run} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} | "
        f"{peak:.0f} MiB ({peak - before:+.0f}) | {locked_text} | {size / 2**20:.0f} MiB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stop-times", type=int, default=2_000_000)
    parser.add_argument("--feed", type=Path, default=None, help="import this feed instead")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BUSHAIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--profile", type=Path, default=None, help="py-spy output folder")
    parser.add_argument("--child", nargs=2, metavar=("URL", "FEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        feed: Path = args.feed
        if feed is None:
            feed = workdir / "synthetic_gtfs.zip"
            started = time.perf_counter()
            counts = write_feed(feed, args.stop_times, args.seed)
            print(
                f"feed: {feed.stat().st_size / 2**20:.1f} MiB zip in "
                f"{time.perf_counter() - started:.1f} s; "
                + ", ".join(f"{n:,} {name.removesuffix('.txt')}" for name, n in counts.items())
            )
        print(_HEADER)
        labels: list[str] = []
        if args.database in ("sqlite", "both"):
            with _sqlite_database(workdir) as (url, path):
                for run in ("empty", "replace"):
                    labels.append(label := f"sqlite-{run}")
                    result = _run_child(url, feed, args.profile, label)
                    print(_row("SQLite", run, result, _sqlite_size(path)), flush=True)
        if args.database in ("postgresql", "both"):
            with _postgres_database(args.postgres_url) as url:
                for run in ("empty", "replace"):
                    labels.append(label := f"postgresql-{run}")
                    result = _run_child(url, feed, args.profile, label)
                    print(_row("PostgreSQL", run, result, _postgres_size(url)), flush=True)
        if args.profile is not None:
            for label in labels:
                _print_profile(args.profile / f"{label}.txt", label)


if __name__ == "__main__":
    main()
