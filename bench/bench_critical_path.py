"""The critical path: POST /v1/reservations -> the DriverAlert at the assigned bus (and
-> the StopCall at the stop), beside a bare floor timed the same way in the same run.

Per database (``--database sqlite|postgresql|both``): a fresh database with the demo
feed, the managed Mosquitto, the API as its own process (``bushail-api serve``) and the
floor (``bench/floor_app.py``: FastAPI ``async def`` -> one INSERT and commit -> one bare
paho QoS 1 publish to the bus's topic, on the same kind of database) as another.

- **Buses approaching**: every route direction has a bus (a ``vehicle.*`` login of its
  own, as a driver display has) stopped at its first stop, its position re-published
  every 30 s so it stays fresh. Any stop two or more after the first is booked, so
  every booking is assigned in its own transaction and its DriverAlert sent at once.
  Not the second stop: a bus standing at the stop before makes a booking ``arriving``
  at its next position, and with positions every 30 s those transitions came in one
  burst per bus (15-20 transactions and their messages, the tail of whichever block,
  floor's or project's, the burst fell in); ``bench_dispatch`` times that path. Each
  bus subscribes to its own alerts; a monitor login reads the stops' calls.
- **Open loop**: send times are fixed in advance (``rate`` per second) and every latency
  runs from the scheduled send time, so a server that falls behind is charged for the
  queue it builds (no coordinated omission). The receive time is the moment the
  client's session read the message off its socket.
- **Warm-up**: each system first takes ``--warmup`` seconds at the measured rate, not
  counted, so its connections and pools have grown to what that rate needs (it was 2 s
  at 10/s; 0.4 against 5 s at 50/s changed nothing measurable on PostgreSQL). Its
  bookings stay active (250 at 50/s), and a rate the system cannot sustain already
  fails here.
- **Same machine for both**: the floor and the project take turns in blocks of
  ``--block`` seconds (floor, project, floor, ...) until each has had ``--duration``
  seconds, so both see the same background load; ratios are printed beside the figures.
- **Throughput**: a ramp of rates (``--ramp``), ``--step`` seconds each, floor and project
  in turn; a rate is sustained if nothing is lost, the alert p99 stays under
  ``--p99-bound-ms`` and the backlog does not grow (the last third of the step's bookings
  wait no longer than the first third, with slack for noise; a failed step is run once
  more). The highest rate sustained before the first
  failure is each one's maximum.
- Riders book three times each (three different stops), as ``bench_booking`` does; the
  acknowledgement timeout is raised to an hour so that no reminder runs during the
  bench (the displays here do not tap), and reservations stay active throughout.

    .venv/bin/python -m bench.bench_critical_path [--database both] [--rate 50]
        [--duration 60] [--block 10] [--warmup 5] [--ramp 50,100,150,200,300,400,600] [--step 8]
        [--profile-dir DIR]   # py-spy records the API process during the latency phase
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench import loop_stalls
from bench.common import (
    FEED,
    ApiProcess,
    Direction,
    HttpPool,
    bookable_stops,
    ensure_postgres_database,
    percentile,
    prepare_db,
    process_cpu_s,
    wait_ready,
)
from bench.floor_app import FLOOR_LOGIN
from broker_config.aio import cancel_and_wait
from broker_config.broker import BrokerSettings, ManagedBroker, free_port
from broker_config.messages import VehiclePosition, VehicleStopStatus
from broker_config.registry import DeviceRegistry, read_gtfs_stop_ids
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import TopicKind, Topics
from rider_api.db.engine import libpq_conninfo

MONITOR = "bench"
SETTLE_S = 10.0


@dataclass(slots=True)
class Booking:
    """One request: when it was due, and what came back."""

    scheduled: float
    status: int = 0
    key: str | None = None
    assigned: bool = False
    #: The answer's body when it was not a 201 (printed once per run).
    error: bytes = b""


@dataclass
class Arrivals:
    """First arrival (monotonic, as read off the socket) per reservation id."""

    alerts: dict[str, float] = field(default_factory=dict)
    calls: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_alert(self, msg: ReceivedMessage) -> None:
        if msg.payload:
            self.alerts.setdefault(json.loads(msg.payload)["reservation_id"], msg.received_at)
            self.changed.set()

    async def on_call(self, msg: ReceivedMessage) -> None:
        if msg.payload:
            self.calls.setdefault(json.loads(msg.payload)["reservation_id"], msg.received_at)
            self.changed.set()


@dataclass
class Stats:
    """Figures of a set of bookings of one system."""

    sent: int
    errors: int
    unassigned: int
    lost: int
    alert_ms: list[float]
    call_ms: list[float]
    cpu_s: float

    def p(self, q: float, calls: bool = False) -> float:
        return percentile(self.call_ms if calls else self.alert_ms, q)

    @property
    def cpu_ms_per_booking(self) -> float:
        done = self.sent - self.errors
        return self.cpu_s * 1000 / done if done else float("nan")


def summarize(
    bookings: Sequence[Booking], arrivals: Arrivals, *, calls: bool, cpu_s: float
) -> Stats:
    alert_ms, call_ms, errors, unassigned, lost = [], [], 0, 0, 0
    failed = [b for b in bookings if b.error]
    if failed:
        print(
            f"  {len(failed)} bookings failed or unassigned, e.g. {failed[0].status}: "
            f"{failed[0].error.decode(errors='replace')}"
        )
    for b in bookings:
        if b.status != 201 or b.key is None:
            errors += 1
            continue
        if not b.assigned:
            unassigned += 1
        at = arrivals.alerts.get(b.key)
        if at is None:
            lost += 1
        else:
            alert_ms.append((at - b.scheduled) * 1000)
        if calls:
            call_at = arrivals.calls.get(b.key)
            if call_at is None:
                lost += at is not None  # counted once per booking
            else:
                call_ms.append((call_at - b.scheduled) * 1000)
    return Stats(len(bookings), errors, unassigned, lost, alert_ms, call_ms, cpu_s)


class System:
    """A server under test, booked the same way whichever it is."""

    def __init__(self, name: str, port: int, pid: int, choices: list[tuple[str, str, int]]) -> None:
        self.name = name
        self.pool = HttpPool("127.0.0.1", port)
        self.pid = pid
        self.choices = choices
        self.booked = 0  # bookings made so far: each takes the next choice (and rider)

    @property
    def calls(self) -> bool:
        """Whether this system also sends the stop its call (the floor does not)."""
        return False

    async def prepare(self, count: int) -> None:
        """Get ready for ``count`` more bookings (riders to book with)."""

    async def request(self, n: int) -> tuple[int, bytes]:
        raise NotImplementedError

    def parse(self, booking: Booking, body: bytes) -> None:
        data = json.loads(body)
        booking.key = data["id"]
        booking.assigned = True

    async def book(self, n: int, booking: Booking) -> None:
        try:
            status, body = await self.request(n)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            booking.status = -1
            return
        booking.status = status
        if status == 201:
            self.parse(booking, body)
        else:
            booking.error = body[:300]


class Floor(System):
    def __init__(
        self,
        port: int,
        pid: int,
        choices: list[tuple[str, str, int]],
        vehicle_of: dict[tuple[str, int], str],
    ) -> None:
        super().__init__("floor", port, pid, choices)
        self.vehicle_of = vehicle_of

    async def request(self, n: int) -> tuple[int, bytes]:
        stop_id, route_id, direction_id = self.choices[n % len(self.choices)]
        body = {
            "stop_id": stop_id,
            "route_id": route_id,
            "direction_id": direction_id,
            "vehicle_id": self.vehicle_of[(route_id, direction_id)],
        }
        return await self.pool.request("POST", "/v1/bookings", body)


class Project(System):
    def __init__(self, port: int, pid: int, choices: list[tuple[str, str, int]]) -> None:
        super().__init__("project", port, pid, choices)
        self.riders: list[dict[str, str]] = []

    @property
    def calls(self) -> bool:
        return True

    async def prepare(self, count: int) -> None:
        # Three bookings per rider: three consecutive choices, so three different stops.
        needed = (self.booked + count) // 3 + 1
        sem = asyncio.Semaphore(8)

        async def sign_up(i: int) -> dict[str, str]:
            async with sem:
                status, body = await self.pool.request(
                    "POST", "/v1/riders", {"display_name": f"bench {i}"}
                )
            if status != 201:
                raise RuntimeError(f"sign-up failed: {status} {body[:200]!r}")
            return {"Authorization": f"Bearer {json.loads(body)['token']}"}

        fresh = range(len(self.riders), needed)
        self.riders += await asyncio.gather(*(sign_up(i) for i in fresh))

    async def request(self, n: int) -> tuple[int, bytes]:
        stop_id, route_id, direction_id = self.choices[n % len(self.choices)]
        body = {"stop_id": stop_id, "route_id": route_id, "direction_id": direction_id}
        return await self.pool.request(
            "POST", "/v1/reservations", body, headers=self.riders[n // 3]
        )

    def parse(self, booking: Booking, body: bytes) -> None:
        data = json.loads(body)
        booking.key = data["id"]
        booking.assigned = data["status"] == "assigned"
        if not booking.assigned:
            booking.error = body[:300]


async def fire(system: System, rate: float, seconds: float, arrivals: Arrivals) -> Stats:
    """Book at ``rate`` for ``seconds``, open loop; wait for the messages; summarize."""
    count = max(1, round(rate * seconds))
    await system.prepare(count)
    first = system.booked
    system.booked += count
    cpu0 = process_cpu_s(system.pid)
    start = time.monotonic() + 0.05
    bookings = [Booking(start + k / rate) for k in range(count)]
    tasks = []
    for k, booking in enumerate(bookings):
        delay = booking.scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(system.book(first + k, booking)))
    await asyncio.gather(*tasks)
    deadline = time.monotonic() + SETTLE_S

    def missing() -> bool:
        for b in bookings:
            if b.key is None:
                continue
            if b.key not in arrivals.alerts:
                return True
            if system.calls and b.key not in arrivals.calls:
                return True
        return False

    while missing() and time.monotonic() < deadline:
        arrivals.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.changed.wait(), 0.2)
    cpu = process_cpu_s(system.pid) - cpu0
    return summarize(bookings, arrivals, calls=system.calls, cpu_s=cpu)


def merge(parts: Sequence[Stats]) -> Stats:
    return Stats(
        sum(p.sent for p in parts),
        sum(p.errors for p in parts),
        sum(p.unassigned for p in parts),
        sum(p.lost for p in parts),
        [x for p in parts for x in p.alert_ms],
        [x for p in parts for x in p.call_ms],
        sum(p.cpu_s for p in parts),
    )


# -- set-up ------------------------------------------------------------------------------
def vehicle_id(d: Direction) -> str:
    return f"CP-{d.route_id}-{d.direction_id}"


def position(d: Direction) -> VehiclePosition:
    """The bus of ``d`` stopped at its first stop: every later stop can be assigned to it."""
    lat, lon = d.coordinates[0]
    return VehiclePosition(
        route_id=d.route_id,
        direction_id=1 if d.direction_id == 1 else 0,
        trip_id=d.trip_id,
        lat=lat,
        lon=lon,
        stop_id=d.stop_ids[0],
        current_stop_sequence=1,
        current_status=VehicleStopStatus.STOPPED_AT,
        timestamp=time.time(),
    )


def reset_floor_db(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        ensure_postgres_database(url)
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS floor_booking")
    elif parsed.database:
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def floor_process(
    port: int, url: str, broker: ManagedBroker
) -> AsyncIterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.floor_app",
            "--port",
            str(port),
            "--database",
            url,
            "--mqtt-port",
            str(broker.port),
            "--credentials-file",
            str(broker.state_dir / "credentials.json"),
        ]
    )
    try:
        await wait_ready(port, "ready", proc)
        yield proc
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.asynccontextmanager
async def profiler(pid: int, out: Path | None) -> AsyncIterator[None]:
    """py-spy sampling ``pid`` for the block's lifetime, if asked (``--profile-dir``);
    afterwards the block's loop stalls are printed (``bench.loop_stalls``)."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [exe, *loop_stalls.py_spy_args(pid, out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 30)
    if out.exists():
        print(f"profile of the API's first block: {out} (speedscope)")
        print(loop_stalls.report(out))


def _row(label: str, s: Stats) -> str:
    calls = f"{s.p(0.5, True):9.1f}{s.p(0.99, True):9.1f}" if s.call_ms else f"{'-':>9}{'-':>9}"
    return (
        f"{label:<10}{s.sent:>6}{s.lost:>5}{s.errors + s.unassigned:>5}"
        f"{s.p(0.5):9.1f}{s.p(0.95):9.1f}{s.p(0.99):9.1f}{max(s.alert_ms, default=0):9.0f}"
        f" {calls}{s.cpu_ms_per_booking:8.2f}"
    )


def print_latency(label: str, rate: float, floor: Stats, project: Stats, blocks: int) -> None:
    print(
        f"\n{label}: {rate:g} bookings/s, {floor.sent} per system in {blocks} alternating "
        "blocks; ms from the scheduled send time"
    )
    print(
        f"{'system':<10}{'sent':>6}{'lost':>5}{'err':>5}{'alert50':>9}{'p95':>9}{'p99':>9}"
        f"{'max':>9} {'call50':>9}{'p99':>9}{'cpu ms':>8}"
    )
    print(_row("floor", floor))
    print(_row("project", project))
    r50, r95, r99 = (project.p(q) / floor.p(q) for q in (0.5, 0.95, 0.99))
    cpu = project.cpu_ms_per_booking / floor.cpu_ms_per_booking
    verdict = "met" if r99 <= 2 else "NOT met"
    print(
        f"{'ratio':<10}{'':>16}{r50:8.1f}x{r95:8.1f}x{r99:8.1f}x{'':>28}{cpu:7.1f}x"
        f"   (goal p99 <= 2x the floor: {verdict})"
    )


# -- one database ------------------------------------------------------------------------
async def run_database(
    kind: str, project_url: str, floor_url: str, args: argparse.Namespace, workdir: Path
) -> None:
    directions = [d for d in prepare_db(project_url) if len(d.stop_ids) >= 4]
    reset_floor_db(floor_url)
    vehicles = {vehicle_id(d): d for d in directions}
    vehicle_of = {(d.route_id, d.direction_id): vid for vid, d in vehicles.items()}
    # Two stops or more ahead of the waiting bus (see the module's docstring). One
    # direction per stop and route: a rider may book a stop once per route.
    choices = list({(s, r): (s, r, d) for s, r, d in bookable_stops(directions, skip=2)}.values())
    random.Random(7).shuffle(choices)
    registry = DeviceRegistry(
        stops=read_gtfs_stop_ids(FEED),
        vehicles=set(vehicles),
        servers={"api", FLOOR_LOGIN.removeprefix("server.")},
        monitors={MONITOR},
    )
    topics = Topics()
    arrivals = Arrivals()
    broker_settings = BrokerSettings(state_dir=workdir / f"broker-{kind}", port=0)
    async with contextlib.AsyncExitStack() as stack:
        broker = await stack.enter_async_context(ManagedBroker(broker_settings, registry))
        # The buses first: their alert subscriptions and positions are in place before
        # the API starts.
        buses: dict[str, MqttSession] = {}
        for vid in vehicles:
            options = SessionOptions(client_id=f"vehicle.{vid}", clean_start=True)
            bus = await stack.enter_async_context(
                MqttSession(broker.endpoint(f"vehicle.{vid}"), options)
            )
            await bus.wait_connected(10)
            await bus.subscribe(topics.vehicle_alerts_filter(vid), arrivals.on_alert)
            buses[vid] = bus
        monitor = await stack.enter_async_context(
            MqttSession(
                broker.endpoint(f"monitor.{MONITOR}"),
                SessionOptions(client_id=f"monitor.{MONITOR}", clean_start=True),
            )
        )
        await monitor.wait_connected(10)
        await monitor.subscribe(topics.all_of(TopicKind.STOP_CALL), arrivals.on_call)

        api_port, floor_port = free_port(), free_port()
        env = {
            "BUSHAIL_API_DATABASE_URL": project_url,
            "BUSHAIL_API_STATE_DIR": str(workdir / f"api-{kind}"),
            "BUSHAIL_API_MQTT_PORT": str(broker.port),
            "BUSHAIL_API_MQTT_CREDENTIALS_FILE": str(broker.state_dir / "credentials.json"),
            "BUSHAIL_API_MAX_BOOKINGS_PER_MINUTE_PER_RIDER": "1000",
            "BUSHAIL_API_SIGN_UP_LIMIT": "10000000",
            "BUSHAIL_API_ACK_TIMEOUT_S": "3600",
        }
        api = await stack.enter_async_context(ApiProcess(api_port, env))
        floor_proc = await stack.enter_async_context(floor_process(floor_port, floor_url, broker))

        async def keep_positions_fresh() -> None:
            while True:
                for vid, bus in buses.items():
                    await bus.publish(topics.vehicle_position(vid), position(vehicles[vid]))
                await asyncio.sleep(30)

        refresher = asyncio.create_task(keep_positions_fresh())
        stack.push_async_callback(cancel_and_wait, refresher)
        await asyncio.sleep(0.5)

        floor = Floor(floor_port, floor_proc.pid, choices, vehicle_of)
        project = Project(api_port, api.pid, choices)
        for system in (floor, project):
            stack.push_async_callback(system.pool.close)
            # Connections, caches, first imports, and the database pools grown to what
            # the measured rate needs: at the rate itself, not counted.
            warm = await fire(system, args.rate, args.warmup, arrivals)
            if warm.errors or warm.unassigned or warm.lost:
                raise RuntimeError(f"{kind} {system.name} warm-up failed: {warm}")

        blocks = max(1, round(args.duration / args.block))
        parts: dict[str, list[Stats]] = {"floor": [], "project": []}
        out = Path(args.profile_dir) / f"project-{kind}.json" if args.profile_dir else None
        for _ in range(blocks):
            parts["floor"].append(await fire(floor, args.rate, args.block, arrivals))
            async with profiler(project.pid, out if _ == 0 else None):
                parts["project"].append(await fire(project, args.rate, args.block, arrivals))
        f, p = merge(parts["floor"]), merge(parts["project"])
        print_latency(kind, args.rate, f, p, blocks)
        idle = {s.name: process_cpu_s(s.pid) for s in (floor, project)}
        await asyncio.sleep(5)
        print(
            "idle afterwards (CPU, % of one core): "
            + ", ".join(
                f"{s.name} {(process_cpu_s(s.pid) - idle[s.name]) / 5:.1%}"
                for s in (floor, project)
            )
        )

        rates = [float(r) for r in args.ramp.split(",") if r.strip()]
        if rates:
            await ramp(kind, rates, args, floor, project, arrivals)


def keeps_up(s: Stats, bound_ms: float) -> bool:
    """Nothing lost, the alert p99 under ``bound_ms``, and no backlog building up over the
    step: the last third of its bookings waited no longer than the first third (medians;
    2x and 10 ms of slack for a noisy machine). A server past its rate queues more with
    every second."""
    if s.lost or s.errors or s.unassigned or len(s.alert_ms) < 9 or s.p(0.99) > bound_ms:
        return False
    third = len(s.alert_ms) // 3
    first = statistics.median(s.alert_ms[:third])
    last = statistics.median(s.alert_ms[-third:])
    return last <= 2 * first + 10


async def ramp(
    kind: str,
    rates: list[float],
    args: argparse.Namespace,
    floor: System,
    project: System,
    arrivals: Arrivals,
) -> None:
    print(
        f"\n{kind} ramp: {args.step:g} s per rate, floor and project in turn; sustained = "
        f"nothing lost, alert p99 <= {args.p99_bound_ms:g} ms and no growing backlog (a "
        "failed step is run once more)"
    )
    print(f"{'rate/s':>7}  {'floor p50/p99 ms':>18}  {'project p50/p99 ms':>20}")
    best: dict[str, float] = {"floor": 0.0, "project": 0.0}
    alive = {"floor": True, "project": True}
    for rate in rates:
        cells = []
        for system in (floor, project):
            if not alive[system.name]:
                cells.append("-")
                continue
            for _attempt in range(2):
                s = await fire(system, rate, args.step, arrivals)
                await asyncio.sleep(1.0)
                ok = keeps_up(s, args.p99_bound_ms)
                if ok:
                    break
            if ok:
                best[system.name] = rate
            else:
                alive[system.name] = False
            cells.append(f"{s.p(0.5):.0f}/{s.p(0.99):.0f}{'' if ok else ' x'}")
        print(f"{rate:7.0f}  {cells[0]:>18}  {cells[1]:>20}")
        if not any(alive.values()):
            break
    top = rates[-1]
    f_best, p_best = best["floor"], best["project"]
    share = p_best / f_best if f_best else float("nan")
    verdict = "met" if share >= 0.5 else "NOT met"
    floor_txt = f">= {f_best:g}" if alive["floor"] and f_best == top else f"{f_best:g}"
    project_txt = f">= {p_best:g}" if alive["project"] and p_best == top else f"{p_best:g}"
    print(
        f"max sustained: floor {floor_txt}/s, project {project_txt}/s = {share:.0%} of the "
        f"floor (goal >= 50%: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per system")
    parser.add_argument("--block", type=float, default=10.0, help="seconds per turn")
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds at --rate before, not counted"
    )
    parser.add_argument("--ramp", default="50,100,150,200,300,400,600")
    parser.add_argument("--step", type=float, default=8.0, help="seconds per ramp rate")
    parser.add_argument("--p99-bound-ms", type=float, default=200.0, help="ramp: alert p99")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BUSHAIL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/bushail_bench_cp"
        ),
        help="the project's scratch database (the floor uses the same name + '_floor')",
    )
    parser.add_argument("--profile-dir", default=None, help="py-spy the API's first block")
    args = parser.parse_args()
    print(
        f"bench_critical_path {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.database in ("sqlite", "both"):
            asyncio.run(
                run_database(
                    "sqlite",
                    f"sqlite:///{work / 'project.db'}",
                    f"sqlite:///{work / 'floor.db'}",
                    args,
                    work,
                )
            )
        if args.database in ("postgresql", "both"):
            pg = make_url(args.postgres_url)
            floor_pg = pg.set(database=f"{pg.database}_floor").render_as_string(False)
            asyncio.run(run_database("postgresql", args.postgres_url, floor_pg, args, work))


if __name__ == "__main__":
    main()
