"""The city bench's rows and its report: the steps' table, the per-unit costs, the
extrapolation to Taipei size and what limited the run (``bench/bench_city.py`` measures;
this module only reads its rows)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import percentile

TAIPEI = (3500, 5000, 1.0)  # buses (= displays), gateways, bookings/s
#: A shard sending this late (p99, seconds), or this busy (share of a core), is a limit.
LAG_LIMIT_S = 1.0
SHARD_BUSY = 0.9


# -- a step's figures ------------------------------------------------------------------
@dataclass
class Bookings:
    sent: int = 0
    errors: int = 0
    unassigned: int = 0
    lost: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class Row:
    step: str
    buses: int
    gateways: int
    #: Devices sending health (gateways and displays; none before the devices step).
    devices: int
    seconds: float
    #: Shares of one core (1.0 = 100%).
    api_cpu: float
    api_mb: tuple[float, float]
    broker_cpu: float
    broker_mb: tuple[float, float]
    shards_cpu: list[float]
    main_cpu: float
    #: Busy share of all the machine's cores together (everyone's jobs).
    machine_busy: float
    messages_s: float
    lag_p99_s: float
    bookings: Bookings | None = None
    connected: bool = True
    #: Seconds waited after the ramp before the window (see ``settle``).
    settled_s: float = 0.0
    #: Times Mosquitto wrote its whole persistence database during the window.
    broker_saves: int = 0
    #: Device connections that dropped during the window.
    dropped: int = 0

    @property
    def generators_cpu(self) -> float:
        return sum(self.shards_cpu) + self.main_cpu


# -- the report --------------------------------------------------------------------------
def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _mb(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.0f} ({pair[1]:.0f})"


def table(rows: Sequence[Row], rate: float) -> list[str]:
    out = [
        "| step | buses | gateways | devices with health | API CPU | API RSS (peak) MB | "
        "broker CPU | broker RSS (peak) MB | generators CPU | machine busy | device msgs/s"
        " | booking→alert p50 / p95 / p99 ms | lost |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = r.bookings
        if b is None:
            lat, lost = "-", "-"
        else:
            qs = [percentile(b.latencies_ms, q) for q in (0.5, 0.95, 0.99)]
            lat = " / ".join(f"{q:.1f}" for q in qs) + f" (n={len(b.latencies_ms)}, {rate:g}/s)"
            lost = f"{b.lost}"
        name = r.step if r.connected else f"{r.step} (not all connected)"
        out.append(
            f"| {name} | {r.buses:,} | {r.gateways:,} | {r.devices:,} | {_pct(r.api_cpu)} | "
            f"{_mb(r.api_mb)} | {_pct(r.broker_cpu)} | {_mb(r.broker_mb)} | "
            f"{_pct(r.generators_cpu)} | {_pct(r.machine_busy)} of {os.cpu_count()} cores | "
            f"{r.messages_s:.1f} | {lat} | {lost} |"
        )
    return out


@dataclass(frozen=True, slots=True)
class Costs:
    """(CPU share of one core, MB) of the API and of the broker for one unit."""

    api_cpu: float
    api_mb: float
    broker_cpu: float
    broker_mb: float


def unit_costs(rows: Sequence[Row], rate: float) -> dict[str, Costs]:
    idle, buses, devices, bookings = rows

    def diff(a: Row, b: Row, per: float) -> Costs:
        per = per or float("nan")
        return Costs(
            (b.api_cpu - a.api_cpu) / per,
            (b.api_mb[0] - a.api_mb[0]) / per,
            (b.broker_cpu - a.broker_cpu) / per,
            (b.broker_mb[0] - a.broker_mb[0]) / per,
        )

    return {
        "idle": Costs(idle.api_cpu, idle.api_mb[0], idle.broker_cpu, idle.broker_mb[0]),
        "per 1,000 buses (a position / 10 s)": diff(idle, buses, buses.buses / 1000),
        "per 1,000 devices (health / 30 s)": diff(buses, devices, devices.devices / 1000),
        "per booking/s": diff(devices, bookings, rate),
    }


def cost_lines(costs: dict[str, Costs]) -> list[str]:
    out = [
        "| unit | API CPU (% of one core) | API RSS MB | broker CPU (% of one core) | "
        "broker RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name, c in costs.items():
        out.append(
            f"| {name} | {c.api_cpu * 100:.2f} | {c.api_mb:.1f} | {c.broker_cpu * 100:.2f} | "
            f"{c.broker_mb:.1f} |"
        )
    if min(getattr(c, f) for c in costs.values() for f in ("api_cpu", "broker_cpu")) < 0:
        out.append(
            "\n(a negative cost is smaller than the windows' noise, a few % of a core on a "
            "shared machine: longer --duration or a higher --rate sharpens it)"
        )
    book = costs["per booking/s"]
    out.append(
        f"\nCPU per booking: API {book.api_cpu * 1000:.1f} ms, broker "
        f"{book.broker_cpu * 1000:.1f} ms."
    )
    return out


def extrapolate(costs: dict[str, Costs]) -> tuple[Costs, str]:
    buses, gateways, rate = TAIPEI
    units = {
        "idle": 1.0,
        "per 1,000 buses (a position / 10 s)": buses / 1000,
        "per 1,000 devices (health / 30 s)": (buses + gateways) / 1000,
        "per booking/s": rate,
    }
    total = Costs(
        *(
            sum(getattr(costs[u], f) * n for u, n in units.items())
            for f in ("api_cpu", "api_mb", "broker_cpu", "broker_mb")
        )
    )
    line = (
        f"Taipei size ({buses:,} buses, {gateways:,} gateways, {buses:,} displays, {rate:g} "
        f"booking/s) from the per-unit costs: API {_pct(total.api_cpu)} of one core, "
        f"{total.api_mb:.0f} MB; broker {_pct(total.broker_cpu)} of one core, "
        f"{total.broker_mb:.0f} MB (goal: API under 50%: "
        f"{'met' if total.api_cpu < 0.5 else 'NOT met'})."
    )
    return total, line


def limits(rows: Sequence[Row]) -> list[str]:
    """What limited the run, as far as the figures tell."""
    out = []
    for r in rows:
        why = []
        if not r.connected:
            why.append("not every device connected")
        if r.dropped:
            why.append(f"{r.dropped} device connections dropped")
        if r.lag_p99_s > LAG_LIMIT_S:
            why.append(f"generators sent {r.lag_p99_s:.1f} s late (p99)")
        if any(c > SHARD_BUSY for c in r.shards_cpu):
            why.append("a load shard used a whole core")
        if r.machine_busy > 0.95:
            why.append(f"the machine was {_pct(r.machine_busy)} busy (other jobs included)")
        if why:
            out.append(f"- {r.step}: " + "; ".join(why))
    return out or ["- nothing on the generators' side: their lag and CPU stayed low"]


def report(rows: Sequence[Row], args: argparse.Namespace, started: str) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    b = rows[-1].bookings
    assert b is not None
    print(
        f"\nbench_city {started}, {os.cpu_count()} cores ({cpu}), load average at the end "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        "command: "
        + shlex.join([Path(sys.executable).name, "-m", "bench.bench_city", *sys.argv[1:]])
    )
    print(
        f"steady windows of {args.duration:g} s; database {args.db_kind}; {args.shards} load "
        f"shards; CPU as % of one core\n"
    )
    print("\n".join(table(rows, args.rate)))
    print(
        "\nwindows began after the ramp had settled (see settle()): "
        + ", ".join(f"{r.step} {r.settled_s:.0f} s" for r in rows[:3])
    )
    print(
        "Mosquitto saved its whole database (every 20 changes, and every 60 s) in each "
        "window: " + ", ".join(f"{r.step} {r.broker_saves}" for r in rows)
    )
    print(
        f"\nbookings: {b.sent} sent, {b.errors} refused, {b.unassigned} unassigned, "
        f"lost alerts: {b.lost}"
    )
    print(
        f"the API counts online with a health: {args.seen['stop']:,} of {args.gateways:,} "
        f"gateways, {args.seen['vehicle']:,} of {args.buses:,} displays"
    )
    p99 = percentile(b.latencies_ms, 0.99)
    print(f"booking→alert p99 {p99:.1f} ms (goal < 50 ms: {'met' if p99 < 50 else 'NOT met'})")
    costs = unit_costs(rows, args.rate)
    print("\nper-unit costs (differences between the steps):\n")
    print("\n".join(cost_lines(costs)))
    _total, line = extrapolate(costs)
    print("\n" + line)
    if (args.buses, args.gateways, args.rate) == TAIPEI:
        print("(this run is Taipei size: the sum of the per-unit costs is its bookings row)")
    gen = max(r.generators_cpu for r in rows)
    print(
        f"\nload generators: at most {_pct(gen)} of one core in a window "
        f"({args.shards} shards + the booking client); what limited:"
    )
    print("\n".join(limits(rows)))
