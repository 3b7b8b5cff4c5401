"""``bushail-sim``: a whole BusHail city on one machine.

bushail-sim demo [--feed DIR] [--date YYYY-MM-DD] [--speed 10] [--vehicles 12] ...
bushail-sim demo --instances 2 --database-url postgresql://USER@HOST/DB ...
bushail-sim demo --positions gtfs-rt   (buses reported by an agency feed the API polls)
bushail-sim load --api http://127.0.0.1:8000 --rate 2 --duration 60 --vehicles 20 ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import signal
import sys
import zoneinfo
from collections.abc import Sequence
from pathlib import Path

from broker_config.broker import MosquittoNotFoundError
from broker_config.registry import Credentials
from broker_config.session import BrokerEndpoint
from rider_api.network.demo_feed import DEMO_FEED
from simulators.city import City, CityConfig, vehicle_ids
from simulators.devices import DriverPolicy
from simulators.gtfs_rt import FeedServer, FeedVehicle, PositionBoard
from simulators.motion import DelayModel, MotionSettings
from simulators.network import SimNetwork, load_network
from simulators.platform import Platform, check_instances

__all__ = ["build_parser", "main"]

logger = logging.getLogger("bushail.sim")

_DESCRIPTION = """\
BusHail simulators: buses driving a GTFS feed's trips, the real stop gateway and driver
display code for every stop and bus (one MQTT login each), simulated drivers, and
riders booking through the HTTP API.
BusHail 模擬器：公車依 GTFS 班表行駛，每個站牌與每輛車都執行真正的裝置程式
（各有自己的 MQTT 帳號），模擬司機，以及透過 HTTP API 預約的模擬乘客。
"""


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _clock(text: str) -> int:
    try:
        hours, minutes = (int(p) for p in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {text!r}") from None
    return hours * 3600 + minutes * 60


def _add_city_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--feed", type=Path, default=DEMO_FEED, help="GTFS zip or folder (default: Taipei demo)")
    add("--date", type=_date, help="service date to simulate (default: today in the feed's zone)")
    add(
        "--start",
        type=_clock,
        metavar="HH:MM",
        help="simulated start time (default: now if buses run for an hour more, else 07:30)",
    )
    add(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (demo default 10, load default 1)",
    )
    add("--vehicles", type=int, default=12, help="buses in the fleet (default 12)")
    add("--vehicle-prefix", default="SIM-", help="vehicle ids are PREFIX001 ... (default SIM-)")
    add(
        "--riders-per-hour",
        type=float,
        default=60.0,
        help="riders booking per simulated hour (default 60)",
    )
    add(
        "--position-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="simulated seconds between positions of a bus (default 10)",
    )
    add("--dwell", type=float, default=20.0, help="shortest stop in seconds (default 20)")
    add("--delay", type=float, default=0.0, help="mean lateness at the first stop, seconds")
    add("--jitter", type=float, default=20.0, help="lateness change per segment, seconds (sd)")
    add("--cannot-stop", type=float, default=0.02, help="share of pick-ups refused (bus full)")
    add("--no-show", type=float, default=0.02, help="share of riders who do not come")
    add("--duration", type=float, help="stop by itself after this many real seconds")
    add(
        "--rider-poll",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="real seconds between a rider's status checks (default 1)",
    )
    add("--seed", type=int, default=1, help="random seed")
    add("-v", "--verbose", action="store_true", help="log at INFO to stderr too")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bushail-sim",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="run the managed broker, the API and a simulated city (the README's command)",
        description="Starts Mosquitto, the rider API on SQLite (or --instances N of it on "
        "one PostgreSQL database), imports the feed and runs the city; prints the rider "
        "app, operator console, each instance and a driver screen address. "
        "Ctrl-C stops everything. 啟動 broker、API 與模擬城市；Ctrl-C 結束。",
    )
    _add_city_options(demo)
    demo.set_defaults(speed=10.0)
    demo.add_argument(
        "--port",
        type=int,
        default=8000,
        help="API port (default 8000); with several instances, the next ones follow it",
    )
    demo.add_argument(
        "--instances",
        type=int,
        default=1,
        help="API instances serving the city (default 1); more than one needs --database-url "
        "postgresql://...",
    )
    demo.add_argument(
        "--database-url",
        metavar="URL",
        help="the API's database (default: a fresh SQLite file in the state dir); a "
        "PostgreSQL database is migrated and fed the feed, not emptied",
    )
    demo.add_argument(
        "--state-dir", type=Path, default=Path("state/demo"), help="default state/demo"
    )
    demo.add_argument(
        "--refresh", type=float, default=5.0, help="real seconds between summaries (default 5)"
    )
    demo.add_argument(
        "--no-screen", action="store_true", help="do not serve a driver display screen"
    )
    demo.add_argument(
        "--positions",
        choices=["mqtt", "gtfs-rt", "both"],
        default="mqtt",
        help="how buses report where they are: their own MQTT positions (default), or "
        "an agency's GTFS-Realtime feed served on 127.0.0.1 and polled by the API "
        "(gtfs-rt: buses keep their driver displays but send no position; both: the two)",
    )
    load = sub.add_parser(
        "load",
        help="drive a running platform and write a JSON report",
        description="Runs simulated buses, gateways and riders against a running API and "
        "broker, then writes throughput, latency percentiles, lost messages and errors.",
    )
    _add_city_options(load)
    load.add_argument("--api", required=True, help="the API's base URL")
    load.add_argument("--rate", type=float, required=True, help="bookings per real second")
    load.add_argument(
        "--broker-state",
        type=Path,
        default=Path("state/demo/broker"),
        help="the broker's state dir (credentials.json; the devices must be registered)",
    )
    load.add_argument("--mqtt-host", default="127.0.0.1")
    load.add_argument("--mqtt-port", type=int, default=1883)
    load.add_argument("--report", type=Path, required=True, help="where to write the JSON")
    load.set_defaults(duration=60.0)
    return parser


def _today(network: SimNetwork) -> tuple[dt.date, int]:
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(network.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    now = dt.datetime.now(tz)
    return now.date(), now.hour * 3600 + now.minute * 60 + now.second


#: Where the demo starts when now is not worth watching: the morning peak.
MORNING_PEAK_S = 7 * 3600 + 30 * 60


def start_of(network: SimNetwork, date: dt.date, now_s: int) -> int:
    """Now if buses run (or start within half an hour) and keep running for an hour
    more, else the morning peak.

    At the tail of the service day (23:35 in Taipei) "now" would show the last few
    buses leave, then riders' bookings pile up pending with nothing to serve them.
    """
    trips = network.trips_on(date)
    running = any(t.start_s - 1800 <= now_s < t.end_s for t in trips)
    lasting = any(t.start_s >= now_s + 3600 for t in trips)
    return now_s if running and lasting else MORNING_PEAK_S


def city_config(args: argparse.Namespace, network: SimNetwork) -> CityConfig:
    today, now_s = _today(network)
    date = args.date or today
    start = args.start if args.start is not None else start_of(network, date, now_s)
    return CityConfig(
        date=date,
        start_s=start,
        speed=args.speed,
        vehicles=vehicle_ids(args.vehicles, args.vehicle_prefix),
        riders_per_hour=args.riders_per_hour,
        no_show_p=args.no_show,
        position_interval_s=args.position_interval,
        motion=MotionSettings(dwell_s=args.dwell),
        delay=DelayModel(initial_s=args.delay, jitter_s=args.jitter, max_early_s=30),
        policy=DriverPolicy(cannot_stop_p=args.cannot_stop),
        seed=args.seed,
        rider_poll_s=args.rider_poll,
    )


def _setup_logging(log_file: Path | None, verbose: bool) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if verbose else logging.ERROR)
    console.setFormatter(fmt)
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        handler.setFormatter(fmt)
        root.addHandler(handler)


STOP_GRACE_S = 15.0


def _stop_event() -> asyncio.Event:
    """Set on SIGINT/SIGTERM. A start-up stuck waiting (a broker gone away) must not
    outlive the signal: the main task is cancelled after a grace period, or at once on
    a second signal; cancellation still closes every ``async with`` (no orphans)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal() -> None:
        if main is None:
            stop.set()
            return
        if stop.is_set():
            main.cancel()
            return
        stop.set()
        loop.call_later(STOP_GRACE_S, main.cancel)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    return stop


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until stopped; True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def run_demo(args: argparse.Namespace) -> int:
    stop = _stop_event()
    network = await asyncio.to_thread(load_network, args.feed)
    config = city_config(args, network)
    loop = asyncio.get_running_loop()
    deadline = None if args.duration is None else loop.time() + args.duration
    _out(f"BusHail demo: 載入路網 loading {args.feed} ...")
    agency = contextlib.AsyncExitStack()
    feeds: list[str] = []
    if args.positions != "mqtt":
        board = PositionBoard()
        feed = await agency.enter_async_context(FeedServer(board))
        feeds.append(feed.url)
        config.make_vehicle = functools.partial(
            FeedVehicle, board=board, mqtt_positions=args.positions == "both"
        )
        _out(f"GTFS-Realtime 車輛位置 agency feed: {feed.url}")
    async with (
        agency,
        Platform(
            args.state_dir,
            args.feed,
            stops=set(network.stops),
            vehicles=set(config.vehicles),
            port=args.port,
            timezone=network.timezone,
            instances=args.instances,
            database_url=args.database_url,
            gtfs_rt_feeds=feeds,
        ) as platform,
    ):
        mqtt_port = platform.broker.port if platform.broker else None
        _out(f"mosquitto pid {platform.mosquitto_pid} (port {mqtt_port})")
        if len(platform.instances) > 1:
            for instance in platform.instances:
                _out(f"API 實例 instance {instance.name}: {instance.url}/")
        async with City(
            network, config, endpoint_for=platform.endpoint_for, api_url=platform.api_url
        ) as city:
            async with contextlib.AsyncExitStack() as stack:
                screen_url = None
                if not args.no_screen and city.vehicles:
                    from driver_display.web import ScreenServer, create_app

                    first = next(iter(city.vehicles.values()))
                    screen = await stack.enter_async_context(
                        ScreenServer(create_app(first.display), "127.0.0.1", 0)
                    )
                    screen_url = f"{screen.url}/ ({first.vehicle_id})"
                _out(f"乘客 App rider app:          {platform.api_url}/")
                _out(f"營運主控台 operator console:  {platform.api_url}/ops")
                _out(f"營運權杖 operator token:      {platform.operator_token}")
                if screen_url:
                    _out(f"司機螢幕 driver display:      {screen_url}")
                _out(
                    f"{len(city.gateways)} 站牌 stops, {len(city.vehicles)} 公車 buses, "
                    f"x{config.speed:g}; Ctrl-C 結束 to stop"
                )
                while True:
                    wait = args.refresh
                    if deadline is not None:
                        wait = max(0.0, min(wait, deadline - loop.time()))
                    if await _wait(stop, wait):
                        break
                    _out()
                    _out(city.summary())
                    if deadline is not None and loop.time() >= deadline:
                        break
            _out()
            _out(city.summary())
            _out(f"completed {city.stats.completed()}")
    _out("stopped 已停止")
    return 0


async def run_load(args: argparse.Namespace) -> int:
    stop = _stop_event()
    network = await asyncio.to_thread(load_network, args.feed)
    config = city_config(args, network)
    config.riders_per_hour = args.rate * 3600 * args.speed
    # Measure the platform, not the timetable: book only ahead of a running bus.
    config.targeted_share = 1.0
    config.untargeted_fallback = False
    credentials = Credentials(args.broker_state / "credentials.json")

    def endpoint_for(login: str) -> BrokerEndpoint:
        return BrokerEndpoint(args.mqtt_host, args.mqtt_port, login, credentials.password(login))

    async with City(network, config, endpoint_for=endpoint_for, api_url=args.api) as city:
        await _wait(stop, args.duration)
        report = city.stats.report()
    report["config"] = {
        "api": args.api,
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "vehicles": len(config.vehicles),
        "speed": config.speed,
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _out(json.dumps(report["latency_ms"], ensure_ascii=False))
    _out(f"report written to {args.report}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            check_instances(args.instances, args.database_url)
        except ValueError as exc:
            parser.error(str(exc))
    log_file = args.state_dir / "demo.log" if args.command == "demo" else None
    _setup_logging(log_file, args.verbose)
    try:
        if args.command == "demo":
            return asyncio.run(run_demo(args))
        return asyncio.run(run_load(args))
    except MosquittoNotFoundError as exc:
        parser.exit(2, f"error: {exc}\n")
    except (OSError, KeyError) as exc:
        parser.exit(1, f"error: {exc}\n")
    except SystemExit as exc:
        # uvicorn exits this way when the port is taken.
        parser.exit(
            1,
            f"error: the API could not start (port {getattr(args, 'port', '?')} in use?): {exc}\n",
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130
    return 0
