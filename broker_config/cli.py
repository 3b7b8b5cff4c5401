"""``bushail-broker``: render the Mosquitto configuration and run it as a managed child.

bushail-broker run --state-dir state/broker --feed gtfs.zip --vehicles 5
bushail-broker render --state-dir state/broker --vehicle-id KKA-1234
bushail-broker password stop.TPE-1001 --state-dir state/broker
bushail-broker tls init --state-dir state/broker --host broker.example.org
bushail-broker device revoke stop.TPE-1001 --state-dir state/broker
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from broker_config.admin import DeviceAdmin, LoginChange
from broker_config.aio import cancel_and_wait
from broker_config.broker import (
    BrokerSettings,
    ManagedBroker,
    MosquittoNotFoundError,
    free_port,
    is_loopback,
    render,
)
from broker_config.errors import InvalidIdError
from broker_config.registry import Credentials, DeviceRegistry, read_gtfs_stop_ids
from broker_config.tls import certificate_expiry, certificate_names, init_tls

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
    listeners.add_argument(
        "--tls-port",
        type=int,
        help="also listen for MQTT over TLS (8883 is usual), with the certificate of "
        "'bushail-broker tls init' unless --tls-certfile/--tls-keyfile are given",
    )
    listeners.add_argument("--tls-certfile", type=Path, help="server certificate (PEM)")
    listeners.add_argument("--tls-keyfile", type=Path, help="server private key (PEM)")
    listeners.add_argument("--tls-cafile", type=Path, help="CA bundle for client certificates")
    listeners.add_argument(
        "--allow-plaintext",
        action="store_true",
        default=None,
        help="let plain MQTT listen on a --host other than loopback (a trusted private "
        "network only; without it such a listener is refused, or bound to 127.0.0.1 "
        "when TLS is on)",
    )


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, help="the broker's state directory")
    parser.add_argument("--root", help="topic root prefix (default bushail/v1)")


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
    _add_tls_parser(sub)
    _add_device_parser(sub)
    return parser


def _add_tls_parser(sub: Any) -> None:
    tls = sub.add_parser(
        "tls",
        help="make a local CA and the broker's TLS certificate",
        description="Certificates for the TLS listener, in STATE_DIR/tls/. Clients verify "
        "the broker with ca.crt (BUSHAIL_API_MQTT_CA_FILE, BUSHAIL_GATEWAY_CA_FILE, "
        "BUSHAIL_DISPLAY_CA_FILE) and log in with their passwords.",
    )
    tls_sub = tls.add_subparsers(dest="tls_command", required=True, metavar="ACTION")
    init = tls_sub.add_parser(
        "init",
        help="make the CA (once) and a server certificate for the broker's names",
        description="Make ca.key/ca.crt unless they exist (or --new-ca), and issue "
        "server.key/server.crt for 127.0.0.1, ::1, localhost and every --host. Run it "
        "again to add names or renew the server certificate; the CA stays, so clients "
        "keep trusting the broker. Then run the broker with --tls-port 8883.",
    )
    init.add_argument("--state-dir", type=Path, help="the broker's state directory")
    init.add_argument(
        "--host",
        dest="names",
        action="append",
        default=[],
        metavar="NAME",
        help="a DNS name or IP address clients use to reach the broker; repeat for more",
    )
    init.add_argument(
        "--new-ca",
        action="store_true",
        help="replace the CA too (every client must then be given the new ca.crt)",
    )


def _add_device_parser(sub: Any) -> None:
    device = sub.add_parser(
        "device",
        help="rotate, revoke or restore a device login",
        description="Change a login in the state dir; a broker running from it (bushail-"
        "broker run) re-reads its password file at once, closes the connections the "
        "change cut off, and the change is confirmed by the old password being refused.",
    )
    dev_sub = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    listing = dev_sub.add_parser("list", help="every login, and which are revoked")
    _add_state_options(listing)
    for action, text in (
        ("rotate", "give LOGIN a new password; the old one is refused at once"),
        ("revoke", "cut a stolen or retired device off: refused and disconnected at once"),
        ("restore", "undo a revocation (with --new-password for a device back from a theft)"),
    ):
        cmd = dev_sub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        cmd.add_argument("login", metavar="LOGIN", help="e.g. stop.TPE-1001")
        _add_state_options(cmd)
        if action == "restore":
            cmd.add_argument(
                "--new-password", action="store_true", help="also give it a new password"
            )


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
        "allow_plaintext": "allow_plaintext",
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
            "mosquitto runs on %s:%d%s, state in %s; logins: %d; "
            "'bushail-broker password LOGIN --state-dir %s' prints a device's password",
            broker.host,
            broker.port,
            "" if broker.tls_port is None else f" and TLS on {settings.host}:{broker.tls_port}",
            broker.state_dir,
            len(broker.registry.logins()),
            broker.state_dir,
        )
        stopping = asyncio.create_task(stop.wait())
        exiting = asyncio.create_task(broker.wait())
        done, pending = await asyncio.wait({stopping, exiting}, return_when=asyncio.FIRST_COMPLETED)
        await cancel_and_wait(*pending)
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


def _tls(args: argparse.Namespace) -> int:
    settings = _settings(args)
    hosts = list(args.names)
    if not is_loopback(settings.host):
        hosts.append(settings.host)  # BUSHAIL_BROKER_HOST, unless a wildcard (left out)
    files = init_tls(settings.state_dir, hosts=hosts, new_ca=args.new_ca)
    names = ", ".join(certificate_names(files.server_cert))
    expiry = certificate_expiry(files.server_cert).date().isoformat()
    sys.stdout.write(
        f"CA certificate (give it to every client): {files.ca_cert}\n"
        f"CA key (keep it here, owner-only):       {files.ca_key}\n"
        f"server certificate for {names}, valid until {expiry}:\n"
        f"  {files.server_cert}\n  {files.server_key}\n"
        f"Run the broker with --tls-port 8883 (or BUSHAIL_BROKER_TLS_PORT=8883).\n"
    )
    return 0


def _describe(change: LoginChange) -> str:
    if not change.reloaded:
        return (
            f"{change.login}: {change.kind}; no broker runs from this state dir: "
            "the change applies when it starts"
        )
    if change.old_password_refused is None:
        return f"{change.login}: {change.kind}; the broker has re-read its password file"
    if change.old_password_refused:
        return (
            f"{change.login}: {change.kind}; the broker refuses the old password "
            f"(confirmed after {change.confirmed_after_s:.2f} s) and has closed any "
            "connection that used it"
        )
    return f"{change.login}: {change.kind}, BUT the broker still accepts the old password"


async def _device_change(admin: DeviceAdmin, args: argparse.Namespace) -> LoginChange:
    if args.device_command == "rotate":
        return await admin.rotate(args.login)
    if args.device_command == "revoke":
        return await admin.revoke(args.login)
    return await admin.restore(args.login, new_password=args.new_password)


def _device(args: argparse.Namespace) -> int:
    settings = _settings(args)
    admin = DeviceAdmin(settings.state_dir, root=settings.root)
    if args.device_command == "list":
        for state in admin.logins():
            sys.stdout.write(f"{state.login}{'  revoked' if state.revoked else ''}\n")
        return 0
    change = asyncio.run(_device_change(admin, args))
    sys.stdout.write(_describe(change) + "\n")
    if change.kind != "revoked":
        sys.stdout.write(
            f"'bushail-broker password {change.login} --state-dir {admin.state_dir}' "
            "prints its password for the device\n"
        )
    return 1 if change.old_password_refused is False else 0


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
        if args.command == "tls":
            return _tls(args)
        if args.command == "device":
            return _device(args)
        settings = _settings(args)
        registry = _registry(args)
        if args.command == "render":
            port = settings.port or free_port("127.0.0.1")
            sys.stdout.write(f"{render(settings, registry, port)}\n")
            return 0
        return asyncio.run(_run(settings, registry))
    except (InvalidIdError, ValueError, KeyError, OSError, MosquittoNotFoundError) as exc:
        sys.stderr.write(f"bushail-broker: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
