"""The city's cost: the API's and the broker's own CPU and memory per 1,000 buses, per
1,000 connected devices and per booking, with the simulated devices in processes of
their own.

Starts the managed Mosquitto (its own process, the project's config: logins, ACLs,
persistence) and the API as its own process (``bushail-api serve``, SQLite in the temp
folder unless ``--database-url postgresql://...``), on a synthetic feed of routes of 20
stops one minute apart (``--gateways`` stops in all, one trip per route). The devices
run in ``--shards`` load processes (``bench/city_load.py``), each owning a disjoint
slice of the buses and gateways, each device a real MQTT login sending what the real
device sends (light stand-ins: see city_load's docstring). Connections ramp up at
``--ramp-rate`` per second; periodic sends are staggered evenly over their period.

Steps, each a row; CPU is utime+stime from /proc/<pid>/stat over the step's steady
window (``--duration`` s, beginning ``--settle`` s after the ramp and once the API's and
the broker's CPU no longer falls: see ``settle``), memory is VmRSS and VmHWM from
/proc/<pid>/status at its end:

1. idle: API and broker, no devices;
2. buses: every bus connected as its driver display's login (birth, will, its
   subscriptions), sending a VehiclePosition (QoS 0) every 10 s while it drives;
3. devices: + every stop gateway connected, and health (QoS 0) every 30 s from every
   gateway and display (a display is its bus's login: displays = buses);
4. bookings: + riders booking at ``--rate`` per second a stop two ahead of a bus, open
   loop; booking -> DriverAlert read at the vehicle's topic, from the scheduled send.

Per-unit costs are the differences between steps; the extrapolation to Taipei size
(3,500 buses, 5,000 gateways, 3,500 displays, 1 booking/s) adds them up. The load
generators' own CPU and lag are printed beside, to tell when they, and not the server,
are the limit (the report is ``bench/city_report.py``). Loopback only; ends only the
processes it started, by PID.

    .venv/bin/python -m bench.bench_city [--buses 3500] [--gateways 5000] [--rate 1]
        [--duration 30] [--shards 2] [--ramp-rate 250] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.city_load import SEGMENT_S, Route, bus_fix
from bench.city_report import TAIPEI, Bookings, Row, report
from bench.common import ApiProcess, HttpPool, prepare_db, process_cpu_s
from broker_config.broker import BrokerSettings, ManagedBroker, free_port
from broker_config.registry import DeviceRegistry

ROOT = Path(__file__).resolve().parent.parent
STOPS_PER_ROUTE = 20
ALERT_SETTLE_S = 10.0
OPERATOR_TOKEN = secrets.token_urlsafe(18)
SETTLE_SLICE_S = 2.0
SETTLE_MAX_S = 60.0


# -- the feed ----------------------------------------------------------------------------
def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_feed(folder: Path, stops: int) -> list[Route]:
    """A feed of about ``stops`` stops on routes of STOPS_PER_ROUTE (at least 3), one
    trip per route, SEGMENT_S between stops; returns its routes."""
    per_route = max(3, min(STOPS_PER_ROUTE, stops))
    count = max(1, math.ceil(stops / per_route))
    folder.mkdir(parents=True)
    (folder / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
        "B,Bench Bus,https://example.org,Asia/Taipei,zh-TW\n"
    )
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
        "end_date\nALL,1,1,1,1,1,1,1,20200101,20351231\n"
    )
    stop_rows = ["stop_id,stop_name,stop_lat,stop_lon"]
    route_rows = ["route_id,agency_id,route_short_name,route_long_name,route_type"]
    trips = ["route_id,service_id,trip_id,trip_headsign,direction_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    routes = []
    for r in range(count):
        route_id = f"C{r:04d}"
        trip_id = f"{route_id}-T"
        route_rows.append(f"{route_id},B,{r + 1},City {r + 1},3")
        trips.append(f"{route_id},ALL,{trip_id},終點,0")
        ids, coords = [], []
        for i in range(per_route):
            stop_id = f"{route_id}-{i:02d}"
            lat, lon = 24.9 + (r // 50) * 0.02 + i * 0.004, 121.3 + (r % 50) * 0.006
            stop_rows.append(f"{stop_id},站{stop_id},{lat:.5f},{lon:.5f}")
            t = _hms(6 * 3600 + i * int(SEGMENT_S))
            times.append(f"{trip_id},{t},{t},{stop_id},{i + 1}")
            ids.append(stop_id)
            coords.append((round(lat, 5), round(lon, 5)))
        routes.append(Route(route_id, tuple(ids), tuple(coords), trip_id))
    (folder / "stops.txt").write_text("\n".join(stop_rows) + "\n")
    (folder / "routes.txt").write_text("\n".join(route_rows) + "\n")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    return routes


@dataclass(frozen=True, slots=True)
class Bus:
    vehicle_id: str
    route: Route
    slot: int
    on_route: int


def plan_buses(count: int, routes: Sequence[Route]) -> list[Bus]:
    """``count`` buses spread over the routes, evenly spaced along each."""
    per = [count // len(routes) + (1 if r < count % len(routes) else 0) for r in range(len(routes))]
    return [
        Bus(f"CITY-{k:04d}", routes[k % len(routes)], k // len(routes), per[k % len(routes)])
        for k in range(count)
    ]


# -- measuring ---------------------------------------------------------------------------
def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    found = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in found:
            found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Shards:
    """The load processes, their events, and the arrivals they report."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.alerts: dict[str, float] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, configs: Sequence[Path]) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        for path in configs:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.city_load",
                str(path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
                env=env,
            )
            self.procs.append(proc)
            self._readers.append(asyncio.create_task(self._read(proc)))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            event = json.loads(line)
            if event["ev"] == "alert":
                self.alerts.setdefault(event["rid"], event["t"])
            else:
                await self.events.put(event)

    async def command(self, cmd: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write((json.dumps({"cmd": cmd}) + "\n").encode())
            await proc.stdin.drain()

    async def gather(self, kind: str, timeout: float) -> list[dict[str, Any]]:
        """One event of ``kind`` from every shard."""
        got: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while len(got) < len(self.procs):
                event = await self.events.get()
                if event["ev"] == kind:
                    got.append(event)
        return got

    async def stop(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            await self.command("stop")
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()  # this process's own child, by its PID
                await proc.wait()
        for task in self._readers:
            task.cancel()


class Meter:
    """CPU of the measured processes over a window."""

    def __init__(self, api: int, broker: int, shards: Sequence[int]) -> None:
        self.api, self.broker, self.shards = api, broker, list(shards)

    def read(self) -> tuple[float, dict[str, Any]]:
        return time.monotonic(), {
            "api": process_cpu_s(self.api),
            "broker": process_cpu_s(self.broker),
            "shards": [process_cpu_s(p) for p in self.shards],
            "main": time.process_time(),
            "machine": machine_ticks(),
        }

    def row(
        self,
        step: str,
        counts: tuple[int, int, int],
        start: tuple[float, dict[str, Any]],
        stats: tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]] | None,
    ) -> Row:
        t1, end = self.read()
        t0, begin = start
        secs = t1 - t0
        busy = (end["machine"][0] - begin["machine"][0]) / max(
            1, end["machine"][1] - begin["machine"][1]
        )
        sent = 0.0
        lag = 0.0
        dropped = 0
        if stats:
            for a, b in zip(*stats, strict=True):
                sent += sum(b["sent"][k] - a["sent"][k] for k in ("position", "health"))
                lag = max(lag, b["lag_p99_s"])
                dropped += b["lost"] - a["lost"]
        return Row(
            step,
            *counts,
            secs,
            (end["api"] - begin["api"]) / secs,
            memory_mb(self.api),
            (end["broker"] - begin["broker"]) / secs,
            memory_mb(self.broker),
            [(e - b) / secs for b, e in zip(begin["shards"], end["shards"], strict=True)],
            (end["main"] - begin["main"]) / secs,
            busy,
            sent / secs,
            lag,
            dropped=dropped,
        )


def broker_saves(broker: ManagedBroker, since: float, until: float) -> int:
    """Mosquitto's database saves logged between two wall times (its lines start with
    the epoch second; the managed broker keeps the last 500 lines)."""
    count = 0
    for line in broker.log_lines:
        stamp, _, text = line.partition(": ")
        if "Saving in-memory database" in text and stamp.isdigit():
            count += since - 1 <= int(stamp) <= until
    return count


async def settle(meter: Meter, at_least: float, slice_s: float) -> float:
    """Wait until the API and the broker are done with a ramp; the seconds waited.

    A ramp leaves work behind (Mosquitto saves its whole database every
    ``autosave_changes`` changes, and each connection's birth and subscriptions are
    changes): the window starts once the API + broker CPU over a ``slice_s`` slice no
    longer falls (at least 80% of the slice before, less 1% of a core), or after
    SETTLE_MAX_S.
    """
    start = time.monotonic()
    await asyncio.sleep(at_least)
    before = math.inf
    while time.monotonic() - start < SETTLE_MAX_S:
        t0, a = meter.read()
        await asyncio.sleep(slice_s)
        t1, b = meter.read()
        used = (b["api"] - a["api"] + b["broker"] - a["broker"]) / (t1 - t0)
        if before < math.inf and used >= 0.8 * before - 0.01:
            break
        before = used
    return time.monotonic() - start


# -- bookings ----------------------------------------------------------------------------
async def sign_up(pool: HttpPool, count: int) -> list[dict[str, str]]:
    riders = []
    for i in range(count):
        status, body = await pool.request("POST", "/v1/riders", {"display_name": f"city {i}"})
        if status != 201:
            raise RuntimeError(f"sign-up failed: {status} {body[:200]!r}")
        riders.append({"Authorization": f"Bearer {json.loads(body)['token']}"})
    return riders


def pick_stop(rng: random.Random, buses: Sequence[Bus], epoch: float) -> tuple[str, str]:
    """A stop two ahead of some bus (never a route's last): (stop_id, route_id)."""
    for _ in range(100):
        bus = rng.choice(buses)
        index, *_rest = bus_fix(bus.route, bus.slot, bus.on_route, time.time(), epoch)
        target = index + 2
        if target < len(bus.route.stop_ids) - 1:
            return bus.route.stop_ids[target], bus.route.route_id
    bus = buses[0]
    return bus.route.stop_ids[1], bus.route.route_id


async def book(
    pool: HttpPool,
    riders: list[dict[str, str]],
    rate: float,
    seconds: float,
    buses: Sequence[Bus],
    epoch: float,
) -> tuple[Bookings, list[tuple[float, str]]]:
    """Open loop at ``rate``/s for ``seconds``: the figures so far, and the scheduled send
    time and id of every assigned booking."""
    rng = random.Random(16)
    count = max(1, round(rate * seconds))
    result = Bookings(sent=count)
    sent: list[tuple[float, str]] = []  # (scheduled, reservation id) of assigned ones

    async def one(k: int, scheduled: float) -> None:
        stop_id, route_id = pick_stop(rng, buses, epoch)
        body = {"stop_id": stop_id, "route_id": route_id, "direction_id": 0}
        try:
            status, raw = await pool.request("POST", "/v1/reservations", body, riders[k])
        except (OSError, ValueError, asyncio.IncompleteReadError):
            result.errors += 1
            return
        if status != 201:
            result.errors += 1
            print(f"  booking refused: {status} {raw[:200]!r}", flush=True)
            return
        data = json.loads(raw)
        if data["status"] != "assigned":
            result.unassigned += 1
            return
        sent.append((scheduled, data["id"]))

    start = time.monotonic() + 0.05
    tasks = []
    for k in range(count):
        scheduled = start + k / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k, scheduled)))
    await asyncio.gather(*tasks)
    return result, sent


def finish_bookings(result: Bookings, sent: list[tuple[float, str]], shards: Shards) -> Bookings:
    for scheduled, rid in sent:
        at = shards.alerts.get(rid)
        if at is None:
            result.lost += 1
        else:
            result.latencies_ms.append((at - scheduled) * 1000)
    return result


async def wait_alerts(sent: Sequence[tuple[float, str]], shards: Shards) -> None:
    deadline = time.monotonic() + ALERT_SETTLE_S
    while any(r not in shards.alerts for _t, r in sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


# -- the run -----------------------------------------------------------------------------
def shard_configs(
    work: Path,
    args: argparse.Namespace,
    broker: ManagedBroker,
    routes: Sequence[Route],
    buses: Sequence[Bus],
    gateways: Sequence[str],
    epoch: float,
) -> list[Path]:
    """One config per shard; shard ``i`` owns every ``shards``-th bus and gateway."""
    paths = []
    n = args.shards
    for i in range(n):
        config = {
            "host": broker.host,
            "port": broker.port,
            "credentials": str(broker.state_dir / "credentials.json"),
            "routes": [
                {
                    "route_id": r.route_id,
                    "stop_ids": r.stop_ids,
                    "coords": r.coords,
                    "trip_id": r.trip_id,
                }
                for r in routes
            ],
            "buses": [
                [b.vehicle_id, b.route.route_id, b.slot, b.on_route, k]
                for k, b in enumerate(buses)
                if k % n == i
            ],
            "gateways": [[s, k] for k, s in enumerate(gateways) if k % n == i],
            "total_buses": max(1, len(buses)),
            "total_devices": max(1, len(buses) + len(gateways)),
            "epoch": epoch,
            "ramp_rate": args.ramp_rate / n,
            "position_s": args.position_interval,
            "health_s": args.health_interval,
        }
        path = work / f"shard-{i}.json"
        path.write_text(json.dumps(config))
        paths.append(path)
    return paths


@contextlib.asynccontextmanager
async def running_shards(configs: Sequence[Path]) -> AsyncIterator[Shards]:
    shards = Shards()
    try:
        await shards.start(configs)
        yield shards
    finally:
        await shards.stop()


async def measure(args: argparse.Namespace, work: Path, db_url: str) -> list[Row]:
    routes = write_feed(work / "feed", args.gateways)
    gateways = [s for r in routes for s in r.stop_ids][: args.gateways]
    buses = plan_buses(args.buses, routes)
    await asyncio.to_thread(prepare_db, db_url, work / "feed")
    registry = DeviceRegistry(
        stops=set(gateways), vehicles={b.vehicle_id for b in buses}, servers={"api"}
    )
    rows: list[Row] = []
    # "information" adds Mosquitto's "Saving in-memory database" lines, counted per window.
    settings = BrokerSettings(
        state_dir=work / "broker", port=0, log_type="error warning notice information"
    )
    async with contextlib.AsyncExitStack() as stack:
        broker = await stack.enter_async_context(ManagedBroker(settings, registry))
        assert broker.pid is not None
        env = {
            "BUSHAIL_API_DATABASE_URL": db_url,
            "BUSHAIL_API_STATE_DIR": str(work / "api"),
            "BUSHAIL_API_MQTT_PORT": str(broker.port),
            "BUSHAIL_API_MQTT_CREDENTIALS_FILE": str(broker.state_dir / "credentials.json"),
            "BUSHAIL_API_SIGN_UP_LIMIT": "10000000",
            "BUSHAIL_API_OPERATOR_TOKENS": json.dumps([OPERATOR_TOKEN]),
            # No reminders during the run: the stand-in displays do not tap.
            "BUSHAIL_API_ACK_TIMEOUT_S": "3600",
        }
        api = await stack.enter_async_context(ApiProcess(free_port(), env))
        pool = HttpPool("127.0.0.1", api.port)
        stack.push_async_callback(pool.close)
        riders = await sign_up(pool, max(1, round(args.rate * args.duration)))
        epoch = time.time()
        configs = shard_configs(work, args, broker, routes, buses, gateways, epoch)
        shards = await stack.enter_async_context(running_shards(configs))
        meter = Meter(api.pid, broker.pid, [p.pid for p in shards.procs])
        ramp_timeout = 60 + (len(buses) + len(gateways)) / args.ramp_rate * 2

        async def stats() -> list[dict[str, Any]]:
            await shards.command("stats")
            return await shards.gather("stats", 30)

        async def step(name: str, counts: tuple[int, int, int], ready: str | None) -> Row:
            connected = True
            if ready is not None:
                await shards.command(ready)
                got = await shards.gather("ready", ramp_timeout)
                connected = all(e["failed"] == 0 for e in got)
                if not connected:
                    print(f"  not every device connected: {got}", flush=True)
            waited = await settle(
                meter, args.settle, min(SETTLE_SLICE_S, max(0.5, args.duration / 4))
            )
            before = await stats()
            start, wall = meter.read(), time.time()
            await asyncio.sleep(args.duration)
            row = meter.row(name, counts, start, (before, await stats()))
            row.broker_saves = broker_saves(broker, wall, time.time())
            row.connected = connected
            row.settled_s = waited
            print(f"  measured: {name} (settled after {waited:.0f} s)", flush=True)
            return row

        k, g = len(buses), len(gateways)
        rows.append(await step("idle", (0, 0, 0), None))
        rows.append(await step("buses", (k, 0, 0), "buses"))
        rows.append(await step("devices", (k, g, k + g), "devices"))
        before = await stats()
        start, wall = meter.read(), time.time()
        result, sent = await book(pool, riders, args.rate, args.duration, buses, epoch)
        row = meter.row("bookings", (k, g, k + g), start, (before, await stats()))
        row.broker_saves = broker_saves(broker, wall, time.time())
        await wait_alerts(sent, shards)
        row.bookings = finish_bookings(result, sent, shards)
        rows.append(row)
        print("  measured: bookings", flush=True)
        args.seen = await devices_seen(pool)
    return rows


async def devices_seen(pool: HttpPool) -> dict[str, int]:
    """How many gateways and displays the API itself counts online with a health."""
    auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    status, body = await pool.request("GET", "/v1/ops/devices", headers=auth)
    if status != 200:
        raise RuntimeError(f"/v1/ops/devices answered {status}: {body[:200]!r}")
    seen = {"stop": 0, "vehicle": 0}
    for device in json.loads(body):
        if device["kind"] in seen and device["state"] == "online" and device["health"]:
            seen[device["kind"]] += 1
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buses", type=int, default=TAIPEI[0], help="buses (and displays)")
    parser.add_argument("--gateways", type=int, default=TAIPEI[1], help="stop gateways")
    parser.add_argument("--rate", type=float, default=TAIPEI[2], help="bookings per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per step")
    parser.add_argument(
        "--settle",
        type=float,
        default=20.0,
        # Mosquitto's saves after a ramp of 8,500 connections go on 15-20 s at a steady
        # rate, which the "no longer falling" test alone does not see.
        help="seconds at least between a ramp and its window",
    )
    parser.add_argument("--shards", type=int, default=2, help="load processes")
    parser.add_argument("--ramp-rate", type=float, default=250.0, help="connections per s")
    parser.add_argument("--position-interval", type=float, default=10.0)
    parser.add_argument("--health-interval", type=float, default=30.0)
    parser.add_argument(
        "--database-url", default=None, help="postgresql://... (default: SQLite in the temp folder)"
    )
    args = parser.parse_args()
    if args.buses < 1 or args.gateways < 1 or args.shards < 1 or args.rate <= 0:
        parser.error("at least one bus, one gateway and one shard, and a positive rate")
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(
        f"bench_city {started}: {args.buses} buses, {args.gateways} gateways, "
        f"{args.rate:g} bookings/s, {args.duration:g} s per step",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-city-") as tmp:
        work = Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'city.db'}"
        args.db_kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        rows = asyncio.run(measure(args, work, url))
    report(rows, args, started)


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (e.g. a timeout) unwinds like Ctrl-C, so what we started stops too.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    main()
