"""The largest fleet BusHail sustains on this machine, loopback only.

For growing fleet sizes, writes a synthetic GTFS feed (routes of 10 stops, one minute
apart, a trip every 2 minutes all day: more trips than buses, so every bus is busy),
starts the managed Mosquitto and the API on SQLite in this process (simulators.platform),
and runs ``bushail-sim load`` as a second process against it at ``--speed 1`` with one
position per vehicle per 10 simulated seconds, every stop a real gateway and every bus a
real driver display (one MQTT login each), riders booking at ``--rate`` per second.
A size is sustained when booking-to-driver-alert p99 is under 100 ms, no driver alert
is lost and nothing errs. Prints one line per size and the largest sustained one.

    .venv/bin/python bench/bench_fleet.py [--sizes 20,50,100,200,400] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from broker_config.broker import free_port
from simulators.city import vehicle_ids
from simulators.platform import Platform

P99_LIMIT_MS = 100.0
STOPS_PER_ROUTE = 10
HEADWAY_MIN = 2


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_feed(folder: Path, routes: int) -> set[str]:
    """A synthetic feed of ``routes`` routes; returns its stop ids."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
        "B,Bench Bus,https://example.org,Asia/Taipei,zh-TW\n"
    )
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "ALL,1,1,1,1,1,1,1,20200101,20351231\n"
    )
    stops = ["stop_id,stop_name,stop_lat,stop_lon"]
    route_rows = ["route_id,agency_id,route_short_name,route_long_name,route_type"]
    trips = ["route_id,service_id,trip_id,trip_headsign,direction_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    ids: set[str] = set()
    for r in range(routes):
        route_id = f"B{r:04d}"
        route_rows.append(f"{route_id},B,{r + 1},Bench {r + 1},3")
        route_stops = [f"{route_id}-{i:02d}" for i in range(STOPS_PER_ROUTE)]
        for i, stop_id in enumerate(route_stops):
            lat = 25.0 + (r // 50) * 0.01 + i * 0.001
            lon = 121.4 + (r % 50) * 0.004
            stops.append(f"{stop_id},站{stop_id},{lat:.5f},{lon:.5f}")
            ids.add(stop_id)
        for start in range(0, 26 * 3600, HEADWAY_MIN * 60):
            trip_id = f"{route_id}-{start // 60:04d}"
            trips.append(f"{route_id},ALL,{trip_id},終點,0")
            for i, stop_id in enumerate(route_stops):
                t = _hms(start + i * 60)
                times.append(f"{trip_id},{t},{t},{stop_id},{i + 1}")
    (folder / "stops.txt").write_text("\n".join(stops) + "\n")
    (folder / "routes.txt").write_text("\n".join(route_rows) + "\n")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    return ids


async def run_size(size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    routes = max(1, math.ceil(size / 4))
    feed = work / f"feed-{size}"
    stops = write_feed(feed, routes)
    vehicles = vehicle_ids(size, "BENCH-")
    async with Platform(
        work / f"state-{size}", feed, stops=stops, vehicles=set(vehicles), port=free_port()
    ) as platform:
        assert platform.broker is not None
        report = work / f"report-{size}.json"
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "bushail-sim"),
            "load",
            "--api",
            platform.api_url,
            "--feed",
            str(feed),
            "--rate",
            str(args.rate),
            "--duration",
            str(args.duration),
            "--vehicles",
            str(size),
            "--vehicle-prefix",
            "BENCH-",
            "--speed",
            "1",
            "--position-interval",
            "10",
            "--cannot-stop",
            "0",
            "--no-show",
            "0",
            "--rider-poll",
            "5",
            "--broker-state",
            str(platform.broker.state_dir),
            "--mqtt-port",
            str(platform.broker.port),
            "--report",
            str(report),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _out, err = await asyncio.wait_for(proc.communicate(), args.duration + 600)
        if proc.returncode != 0 or not report.exists():
            return {"error": err.decode(errors="replace")[-2000:]}
        data: dict[str, Any] = json.loads(report.read_text())
        data["stops"] = len(stops)
        return data


def sustained(data: dict[str, Any]) -> bool:
    lat = data.get("latency_ms", {}).get("booking_to_alert", {})
    p99 = lat.get("p99")
    return (
        "error" not in data
        and p99 is not None
        and p99 < P99_LIMIT_MS
        and data["lost_messages"]["driver_alerts"] == 0
        and not data["errors"]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,50,100,200,400", help="fleet sizes to try")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per size")
    parser.add_argument("--rate", type=float, default=1.0, help="bookings per second")
    args = parser.parse_args()
    best: tuple[int, int] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            data = await run_size(size, args, Path(tmp))
            ok = sustained(data)
            if "error" in data:
                print(f"fleet {size:5d}: failed to run: {data['error']}")
                break
            lat = data["latency_ms"]["booking_to_alert"]
            ann = data["latency_ms"]["arriving_to_stop_announcement"]
            print(
                f"fleet {size:5d}, stops {data['stops']:5d}: booking-to-alert "
                f"p50 {lat['p50']} ms p99 {lat['p99']} ms (n={lat['count']}), "
                f"arriving-to-announcement p99 {ann['p99']} ms, "
                f"positions {data['positions_published']}, lost alerts "
                f"{data['lost_messages']['driver_alerts']}, errors {data['errors']}: "
                f"{'sustained' if ok else 'NOT sustained'}",
                flush=True,
            )
            if not ok:
                break
            best = (size, data["stops"])
    if best is None:
        print("no fleet size sustained the target")
    else:
        print(
            f"largest fleet sustained: {best[0]} vehicles, {best[1]} stops "
            f"(1 position / vehicle / 10 s, --speed 1, booking-to-alert p99 < "
            f"{P99_LIMIT_MS:.0f} ms)"
        )


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (e.g. a timeout) unwinds like Ctrl-C, so Mosquitto and the load stop too.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    asyncio.run(main())
