"""``bushail-broker``: render the Mosquitto configuration and run it as a managed child.

bushail-broker run --state-dir state/broker --feed gtfs.zip --vehicles 5
bushail-broker render --state-dir state/broker --vehicle-id KKA-1234
bushail-broker password stop.TPE-1001 --state-dir state/broker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from broker_config.broker import (
    BrokerSettings,
    ManagedBroker,
    MosquittoNotFoundError,
    free_port,
    render,
)
from broker_config.errors import InvalidIdError
from broker_config.registry import Credentials, DeviceRegistry, read_gtfs_stop_ids

__all__ = ["build_parser", "main"]

logger = logging.getLogger("bushail.broker")

DEFAULT_VEHICLE_PREFIX = "BUS-"

_DESCRIPTION = """\
BusHail's MQTT broker: renders Mosquitto's configuration (no anonymous logins, one
login and ACL per stop gateway, vehicle and server, persistence on) into a state
directory and runs Mosquitto as a managed child process.
BusHail 的 MQTT broker：產生 Mosquitto 設定（不允許匿名登入，每個站牌、車輛與伺服器
各有帳號與存取權限，並保存會話），並以子行程執行 Mosquitto。

Settings also come from BUSHAIL_BROKER_* environment variables (e.g.
BUSHAIL_BROKER_STATE_DIR); options given here win.
"""


def _add_broker_options(parser: argparse.ArgumentParser, *, port_help: str) -> None:
    parser.add_argument(
        "--state-dir", type=Path, help="where config, passwords and persistence live"
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=port_help)
    parser.add_argument("--root", help="topic root prefix (default bushail/v1)")
    devices = parser.add_argument_group("devices (added to those already registered)")
    devices.add_argument(
        "--feed",
        type=Path,
        action="append",
        default=[],
        metavar="GTFS",
        help="a GTFS feed (zip or folder): one gateway login per stop in stops.txt",
    )
    fleet = devices.add_mutually_exclusive_group()
    fleet.add_argument(
        "--vehicles",
        type=int,
        metavar="N",
        help=f"register N vehicles named {DEFAULT_VEHICLE_PREFIX}001 ... (see --vehicle-prefix)",
    )
    fleet.add_argument(
        "--vehicle-id",
        action="append",
        default=[],
        metavar="ID",
        help="register this vehicle (a plate number works); repeat for more",
    )
    devices.add_argument(
        "--vehicle-prefix",
        default=DEFAULT_VEHICLE_PREFIX,
        help="name prefix of the vehicles made by --vehicles (default %(default)s)",
    )
    devices.add_argument(
        "--servers",
        nargs="+",
        default=[],
        metavar="INSTANCE",
        help="server logins server.INSTANCE (default: api)",
    )
    listeners = parser.add_argument_group("optional listeners")
    listeners.add_argument("--websocket-port", type=int, help="also listen for MQTT over WebSocket")
    listeners.add_argument("--tls-port", type=int, help="also listen for MQTT over TLS")
    listeners.add_argument("--tls-certfile", type=Path, help="server certificate (PEM)")
    listeners.add_argument("--tls-keyfile", type=Path, help="server private key (PEM)")
    listeners.add_argument("--tls-cafile", type=Path, help="CA bundle for client certificates")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bushail-broker",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log Mosquitto's own lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="render the config and run Mosquitto in the foreground (Ctrl-C stops it)",
        description="Render the config, then run Mosquitto until Ctrl-C or SIGTERM; "
        "stopping saves sessions and retained messages.",
    )
    _add_broker_options(run, port_help="MQTT port (default 1883; 0 picks a free one)")

    rend = sub.add_parser(
        "render",
        help="only write mosquitto.conf, passwd, acl and credentials into the state dir",
        description="Write the files Mosquitto needs into the state directory and print "
        "the path of mosquitto.conf; run it with 'mosquitto -c PATH'.",
    )
    _add_broker_options(rend, port_help="MQTT port written into the config (default 1883)")

    pw = sub.add_parser(
        "password",
        help="print the password of one device login",
        description="Print the generated password of LOGIN (stop.ID, vehicle.ID or "
        "server.INSTANCE), to configure that device.",
    )
    pw.add_argument("login", metavar="LOGIN", help="e.g. stop.TPE-1001")
    pw.add_argument("--state-dir", type=Path, help="the broker's state directory")
    return parser


def _settings(args: argparse.Namespace) -> BrokerSettings:
    fields = {
        "state_dir": "state_dir",
        "host": "host",
        "port": "port",
        "root": "root",
        "websocket_port": "websocket_port",
        "tls_port": "tls_port",
        "tls_certfile": "tls_certfile",
        "tls_keyfile": "tls_keyfile",
        "tls_cafile": "tls_cafile",
    }
    overrides: dict[str, Any] = {
        field: getattr(args, name)
        for name, field in fields.items()
        if getattr(args, name, None) is not None
    }
    return BrokerSettings(**overrides)


def _registry(args: argparse.Namespace) -> DeviceRegistry:
    stops: set[str] = set()
    for feed in args.feed:
        stops |= read_gtfs_stop_ids(feed)
    if args.vehicles is not None:
        if args.vehicles < 0:
            raise ValueError("--vehicles must be 0 or more")
        vehicles = {f"{args.vehicle_prefix}{n:03d}" for n in range(1, args.vehicles + 1)}
    else:
        vehicles = set(args.vehicle_id)
    servers = set(args.servers) or {"api"}
    return DeviceRegistry(stops=stops, vehicles=vehicles, servers=servers)


async def _run(settings: BrokerSettings, registry: DeviceRegistry) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with ManagedBroker(settings, registry) as broker:
        logger.info(
            "mosquitto runs on %s:%d, state in %s; logins: %d; "
            "'bushail-broker password LOGIN --state-dir %s' prints a device's password",
            settings.host,
            broker.port,
            broker.state_dir,
            len(broker.registry.logins()),
            broker.state_dir,
        )
        stopping = asyncio.create_task(stop.wait())
        exiting = asyncio.create_task(broker.wait())
        done, pending = await asyncio.wait({stopping, exiting}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if exiting in done:
            code = exiting.result()
            logger.error("mosquitto exited by itself (code %d): %s", code, broker.log_lines[-5:])
            return 1
        logger.info("stopping mosquitto")
    return 0


def _password(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = settings.state_dir.resolve() / "credentials.json"
    if not path.exists():
        sys.stderr.write(
            f"no credentials in {path}: run 'bushail-broker render' first\n"
            f"{path} 沒有帳號密碼：請先執行 'bushail-broker render'\n"
        )
        return 1
    try:
        password = Credentials(path).password(args.login)
    except KeyError:
        sys.stderr.write(
            f"unknown login {args.login!r}: register the device (--feed, --vehicle-id ...)\n"
            f"沒有帳號 {args.login!r}：請先註冊此裝置（--feed、--vehicle-id …）\n"
        )
        return 1
    sys.stdout.write(password + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bushail-broker`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "password":
        return _password(args)
    try:
        settings = _settings(args)
        registry = _registry(args)
        if args.command == "render":
            port = settings.port or free_port(settings.host)
            sys.stdout.write(f"{render(settings, registry, port)}\n")
            return 0
        return asyncio.run(_run(settings, registry))
    except (InvalidIdError, ValueError, OSError, MosquittoNotFoundError) as exc:
        sys.stderr.write(f"bushail-broker: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
