"""Several API instances on PostgreSQL: booking throughput, booking -> DriverAlert latency,
and the kill -9 take-over.

For 1, 2 and 3 instances (``bushail-api serve`` processes, each with its own name, broker
logins and port, on one scratch PostgreSQL database and one managed Mosquitto, all fresh
for every rate), bus V1 stands at S1 of the fault scenario's route R1 (its position every
second) and riders book S2, S3 and S4 in direction 0, which V1 gets in the booking's own
transaction. Bookings are sent open loop: send times are fixed in advance (one every
1/rate s, whatever the answers), each request to the next instance in turn. For each rate
(``--rates``, ``--duration`` s each) it prints the achieved rate, the HTTP answer p50/p99,
booking -> DriverAlert at a subscriber of V1's alert topics p50/p95/p99/max, bookings
whose alert never came, duplicate deliveries, and whether the rate was sustained (every
booking answered and alerted, alert p99 under ``--bound`` ms). CPU of every process
(utime + stime from /proc before and after) says what limits it: this machine's cores are
shared by the API instances, PostgreSQL, Mosquitto and this load generator.

Then, for 2 and 3 instances, booking at ``--kill-rate``: ``kill -9`` of the leader
(``/healthz``), ``--kills`` times (the dead one started again between kills), the take-over
time (the kill -> a survivor's ``/healthz`` says ``leader``) and the longest booking ->
alert of the bookings sent around it.

    .venv/bin/python -m bench.bench_instances [--instances 1,2,3] [--rates 20,50,100]
        [--duration 20] [--bound 100] [--kills 3] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from broker_config.aio import cancel_and_wait
from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.errors import MqttError
from broker_config.registry import DeviceRegistry
from broker_config.session import MqttSession, SessionOptions
from broker_config.topics import Owner, login_for
from simulators.cluster.const import DELIVERIES_MONITOR, TAKEOVER_WATCH_S, instance_names
from simulators.cluster.deliveries import DeliveryCounter
from simulators.cluster.instances import Cluster, RoundRobin
from simulators.faults.const import STOPS, VEHICLE
from simulators.faults.database import prepare_database, scratch_database
from simulators.faults.feed import bus_position
from simulators.stats import percentile

#: The stops a rider books (direction 0, ahead of V1 at S1): one active booking each.
COMBOS = ("S2", "S3", "S4")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: How long after the last booking its alert may still come.
ALERT_WAIT_S = 10.0
#: Requests in flight at most; the rest wait their turn here, in order. httpx's pool
#: (100 connections) hands a free connection to waiting requests in time quadratic in
#: their number: past a few hundred, this process, not the server, was the bottleneck.
IN_FLIGHT = 64


# -- CPU time from /proc -------------------------------------------------------------------
def _cpu_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def _machine_ticks() -> int:
    """Busy CPU ticks of the whole machine, all cores (/proc/stat: all but idle, iowait)."""
    cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(cpu[:8]) - cpu[3] - cpu[4]  # guest time is counted in user already


def _backends(database: str) -> list[int]:
    """The PostgreSQL backends serving ``database`` (a backend's title names it)."""
    name = f" {database} ".encode()
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            title = cmdline.read_bytes()
            if title.startswith(b"postgres: ") and name in title:
                pids.append(int(cmdline.parent.name))
    return pids


Sample = tuple[dict[str, int], dict[int, int], int]


class CpuMeter:
    """CPU between ``start()`` and ``stop()``, in % of one core: named processes, this
    one (``bench``), the PostgreSQL backends serving ``database``, and ``others``: what
    the rest of the machine used meanwhile (other work on it, PostgreSQL's own upkeep)."""

    def __init__(self, pids: dict[str, int], database: str) -> None:
        self._pids = {**pids, "bench": os.getpid()}
        self._database = database
        self._before: Sample = ({}, {}, 0)
        self._began = 0.0
        self.percent: dict[str, float] = {}

    def _sample(self) -> Sample:
        named = {name: _cpu_ticks(pid) or 0 for name, pid in self._pids.items()}
        backends = {pid: _cpu_ticks(pid) or 0 for pid in _backends(self._database)}
        return named, backends, _machine_ticks()

    def start(self) -> None:
        self._before, self._began = self._sample(), time.monotonic()

    def stop(self) -> None:
        (named0, backends0, machine0), elapsed = self._before, time.monotonic() - self._began
        named1, backends1, machine1 = self._sample()
        ticks = {name: t - named0.get(name, 0) for name, t in named1.items()}
        # A backend that came meanwhile counts from zero; one that went took its ticks.
        ticks["postgres"] = sum(t - backends0.get(pid, 0) for pid, t in backends1.items())
        ticks["others"] = machine1 - machine0 - sum(ticks.values())
        self.percent = {name: 100 * t / CLOCK_TICKS / elapsed for name, t in ticks.items()}

    def line(self) -> str:
        parts = [f"{n} {p:.0f}%" for n, p in sorted(self.percent.items(), key=lambda x: -x[1])]
        total = sum(self.percent.values())
        return f"CPU {', '.join(parts)}; machine {total:.0f}% of {100 * (os.cpu_count() or 1)}%"


# -- one rig: database, broker, instances, bus, subscriber ---------------------------
@dataclass
class Rig:
    database: str
    broker: ManagedBroker
    cluster: Cluster
    deliveries: DeliveryCounter
    client: httpx.AsyncClient
    riders: list[dict[str, str]] = field(default_factory=list)
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT))

    def pids(self) -> dict[str, int]:
        """The API instances' and Mosquitto's process ids, by name."""
        named = [(i.name, i.process.pid) for i in self.cluster.instances]
        named.append(("mosquitto", self.broker.pid))
        return {name: pid for name, pid in named if pid is not None}


async def _drive(broker: ManagedBroker) -> None:
    """V1's GPS: standing at S1, direction 0, a position every second."""
    endpoint = broker.endpoint(login_for(Owner.VEHICLE, VEHICLE))
    async with MqttSession(endpoint, SessionOptions()) as bus:
        await bus.wait_connected(10)
        while True:
            with contextlib.suppress(MqttError):
                await bus.publish(broker.topics.vehicle_position(VEHICLE), bus_position(), qos=0)
            await asyncio.sleep(1.0)


@contextlib.asynccontextmanager
async def rig(instances: int, workdir: Path, postgres_url: str) -> AsyncIterator[Rig]:
    workdir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(scratch_database("postgresql", workdir, postgres_url))
        await asyncio.to_thread(prepare_database, url, workdir / "feed")
        names = instance_names(instances)
        registry = DeviceRegistry(
            stops=set(STOPS),
            vehicles={VEHICLE},
            servers=set(names),
            monitors={DELIVERIES_MONITOR},
        )
        broker = await stack.enter_async_context(
            ManagedBroker(BrokerSettings(state_dir=workdir / "broker", port=0), registry)
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUSHAIL_")}
        env.update(
            {
                "BUSHAIL_API_DATABASE_URL": url,
                "BUSHAIL_API_MQTT_PORT": str(broker.port),
                "BUSHAIL_API_MQTT_CREDENTIALS_FILE": str(broker.state_dir / "credentials.json"),
                "BUSHAIL_API_MAX_ACTIVE_RESERVATIONS_PER_RIDER": str(len(COMBOS)),
                "BUSHAIL_API_MAX_BOOKINGS_PER_MINUTE_PER_RIDER": "1000",
                # Every bench rider signs up from 127.0.0.1.
                "BUSHAIL_API_SIGN_UP_LIMIT": "1000000",
                # Measure bookings: no reminders of the alerts nobody answers.
                "BUSHAIL_API_ACK_TIMEOUT_S": "3600",
            }
        )
        cluster = await stack.enter_async_context(
            Cluster(names=names, env=env, workdir=workdir, log_level="warning")
        )
        deliveries = await stack.enter_async_context(DeliveryCounter(broker))
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url="http://bushail-api", transport=RoundRobin(cluster), timeout=15.0
            )
        )
        gps = asyncio.create_task(_drive(broker), name="bench-gps")
        try:
            await asyncio.sleep(1.5)  # V1's first position has reached every instance
            yield Rig(make_url(url).database or "", broker, cluster, deliveries, client)
        finally:
            await cancel_and_wait(gps)


async def _sign_up(p: Rig, count: int) -> None:
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> dict[str, str]:
        async with gate:
            r = await p.client.post("/v1/riders", json={"display_name": f"bench {i}"})
            r.raise_for_status()
            return {"Authorization": f"Bearer {r.json()['token']}"}

    p.riders = list(await asyncio.gather(*(one(i) for i in range(count))))


# -- open-loop bookings ---------------------------------------------------------------------
@dataclass
class Sent:
    at: float
    answered_s: float | None = None
    reservation_id: str | None = None
    error: str | None = None


async def _book(p: Rig, i: int, sent: Sent, *, retry_s: float) -> None:
    """Booking ``i`` (rider i // 3, stop COMBOS[i % 3]), retried on another instance when
    the one it went to fails (the same Idempotency-Key: never booked twice)."""
    body = {"stop_id": COMBOS[i % len(COMBOS)], "route_id": "R1", "direction_id": 0}
    headers = {**p.riders[i // len(COMBOS)], "Idempotency-Key": uuid.uuid4().hex}
    deadline = sent.at + retry_s
    while True:
        try:
            async with p.gate:
                r = await p.client.post("/v1/reservations", json=body, headers=headers)
        except httpx.TransportError as exc:
            sent.error = f"{type(exc).__name__}"
        else:
            if r.status_code == 201:
                sent.answered_s = time.monotonic() - sent.at
                sent.reservation_id = r.json()["id"]
                sent.error = None
                return
            sent.error = f"HTTP {r.status_code}"
            if r.status_code < 500:
                return
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.05)


async def _open_loop(
    p: Rig,
    rate: float,
    count: int,
    *,
    retry_s: float = 0.0,
    until: asyncio.Event | None = None,
) -> list[Sent]:
    """Send ``count`` bookings (fewer if ``until`` is set first) at fixed times, one every
    1/rate s from now; latencies count from the time a booking was due (a late sender is
    not excused)."""
    start = time.monotonic()
    sent: list[Sent] = []
    tasks = []
    for k in range(count):
        if until is not None and until.is_set():
            break
        due = start + k / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        s = Sent(at=due)
        sent.append(s)
        tasks.append(asyncio.create_task(_book(p, k, s, retry_s=retry_s)))
    await asyncio.gather(*tasks)
    return sent


async def _await_alerts(p: Rig, sent: list[Sent], timeout: float = ALERT_WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    alert_at = p.deliveries.alert_at
    while time.monotonic() < deadline:
        if all(s.reservation_id in alert_at for s in sent if s.reservation_id):
            return
        await asyncio.sleep(0.05)


def _alert_ms(p: Rig, sent: list[Sent]) -> list[float]:
    alert_at = p.deliveries.alert_at
    return [
        (alert_at[s.reservation_id] - s.at) * 1000
        for s in sent
        if s.reservation_id and s.reservation_id in alert_at
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


@dataclass(frozen=True)
class RateResult:
    instances: int
    rate: float
    sustained: bool
    line: str


async def measure_rate(
    instances: int, rate: float, args: argparse.Namespace, workdir: Path
) -> RateResult:
    count = int(rate * args.duration)
    async with rig(instances, workdir, args.postgres_url) as p:
        await _sign_up(p, count // len(COMBOS) + 1)
        meter = CpuMeter(p.pids(), p.database)
        began = time.monotonic()
        meter.start()
        sent = await _open_loop(p, rate, count)
        elapsed = time.monotonic() - began
        meter.stop()
        await _await_alerts(p, sent)
        deliveries = p.deliveries.summary()
    answered = [s for s in sent if s.reservation_id]
    http = [s.answered_s * 1000 for s in answered if s.answered_s is not None]
    alerts = _alert_ms(p, sent)
    errors = len(sent) - len(answered)
    no_alert = len(answered) - len(alerts)
    p99 = percentile(alerts, 99)
    sustained = errors == 0 and no_alert == 0 and p99 is not None and p99 < args.bound
    line = (
        f"{instances} inst. {rate:5.0f}/s: {len(answered)}/{len(sent)} answered "
        f"({len(answered) / elapsed:.1f}/s), errors {errors}; HTTP p50 "
        f"{_ms(percentile(http, 50))} p99 {_ms(percentile(http, 99))} ms; booking->alert "
        f"p50 {_ms(percentile(alerts, 50))} p95 {_ms(percentile(alerts, 95))} p99 {_ms(p99)} "
        f"max {_ms(max(alerts, default=None))} ms; no alert {no_alert}; duplicate deliveries "
        f"{deliveries.duplicates}, seq conflicts {deliveries.conflicts}; "
        f"{'sustained' if sustained else 'NOT sustained'}\n    {meter.line()}"
        + "".join(f"\n    {example}" for example in deliveries.examples[:3])
    )
    return RateResult(instances, rate, sustained, line)


async def measure_takeover(instances: int, args: argparse.Namespace, workdir: Path) -> list[str]:
    """Book at ``--kill-rate`` while the leader is killed ``--kills`` times."""
    lines = []
    # Enough riders for 30 s a kill; the bookings stop 3 s after the last take-over.
    count = int(args.kill_rate * 30.0 * args.kills) + 1
    done = asyncio.Event()
    async with rig(instances, workdir, args.postgres_url) as p:
        await _sign_up(p, count // len(COMBOS) + 1)
        booking = asyncio.create_task(
            _open_loop(p, args.kill_rate, count, retry_s=30.0, until=done)
        )
        kills = []
        try:
            for _ in range(args.kills):
                await asyncio.sleep(3.0)  # load before the kill
                leader = await p.cluster.leader()
                if leader is None:
                    lines.append(f"{instances} instances: no instance reports leadership")
                    break
                kill = await p.cluster.kill(leader, was_leader=True)
                await p.deliveries.mark()
                takeover = await p.cluster.takeover(kill, within_s=TAKEOVER_WATCH_S)
                kills.append((kill, takeover))
                await p.cluster.start(leader)  # back, as a follower
            await asyncio.sleep(3.0)
        finally:
            done.set()
            sent = await booking
        await _await_alerts(p, sent)
        alert_at = p.deliveries.alert_at
        deliveries = p.deliveries.summary()
    for n, (kill, takeover) in enumerate(kills, 1):
        # Bookings sent from a second before the kill to two after the take-over.
        end = kill.at + (takeover.seconds if takeover else TAKEOVER_WATCH_S) + 2.0
        around = [s for s in sent if kill.at - 1.0 <= s.at <= end]
        waits = [
            (alert_at[s.reservation_id] - s.at) * 1000
            for s in around
            if s.reservation_id and s.reservation_id in alert_at
        ]
        missing = sum(1 for s in around if not s.reservation_id or s.reservation_id not in alert_at)
        took = f"{takeover.seconds:.2f} s ({takeover.instance})" if takeover else "none"
        lines.append(
            f"{instances} inst. kill {n} of {kill.instance}: take-over {took}; "
            f"{len(around)} bookings around it, booking->alert max {_ms(max(waits, default=None))} "
            f"ms, without alert {missing}"
        )
    lines.append(
        f"{instances} inst.: {len(sent)} bookings across the kills; duplicate deliveries "
        f"{deliveries.duplicates}, published again after a kill {deliveries.republished}, "
        f"seq conflicts {deliveries.conflicts}"
    )
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_instances",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--instances", default="1,2,3", help="instance counts (1,2,3)")
    parser.add_argument("--rates", default="20,50,100", help="bookings per second (20,50,100)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate (20)")
    parser.add_argument(
        "--bound", type=float, default=100.0, help="booking->alert p99 to sustain (100 ms)"
    )
    parser.add_argument("--kills", type=int, default=3, help="leader kills per count (3)")
    parser.add_argument(
        "--kill-rate", type=float, default=20.0, help="bookings per second while killing (20)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BUSHAIL_TEST_POSTGRES_URL"),
        help="a PostgreSQL server where scratch databases may be created and dropped "
        "(default: BUSHAIL_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's logs and state")
    return parser


async def _run(args: argparse.Namespace, root: Path) -> int:
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"(the machine is not quiet: load average {load:.1f}; see 'others' below)")
    counts = [int(n) for n in args.instances.split(",") if n]
    rates = [float(r) for r in args.rates.split(",") if r]
    results: list[RateResult] = []
    for n, rate in itertools.product(counts, rates):
        result = await measure_rate(n, rate, args, root / f"{n}-{rate:g}")
        results.append(result)
        print(result.line, flush=True)
    print()
    for n in counts:
        kept = [r.rate for r in results if r.instances == n and r.sustained]
        best = f"{max(kept):g}/s" if kept else "none of the rates"
        print(f"{n} instance(s): highest rate sustained {best} (alert p99 < {args.bound:g} ms)")
    print()
    for n in counts:
        if n >= 2 and args.kills > 0:
            for line in await measure_takeover(n, args, root / f"{n}-kill"):
                print(line, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if not args.postgres_url:
        print("the benchmark needs --postgres-url or BUSHAIL_TEST_POSTGRES_URL", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="bushail-instances-"))
    try:
        return asyncio.run(_run(args, root))
    finally:
        if args.keep:
            print(f"logs and state kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
