"""``bushail-api``: serve the rider API, import a network, create the tables."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rider_api.settings import ApiSettings

__all__ = ["docs_exposure_warning", "main"]

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bushail-api",
        description=(
            "BusHail rider API: reservations, dispatcher, outbox to MQTT, rider app and "
            "operator console. Settings come from BUSHAIL_API_* environment variables "
            "(e.g. BUSHAIL_API_DATABASE_URL, BUSHAIL_API_MQTT_PORT, "
            "BUSHAIL_API_MQTT_CREDENTIALS_FILE, BUSHAIL_API_OPERATOR_TOKENS='[\"...\"]')."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API (binds 127.0.0.1 by default)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--log-level", default="info")
    net = sub.add_parser("network", help="manage the transit network")
    net_sub = net.add_subparsers(dest="network_command", required=True)
    imp = net_sub.add_parser(
        "import", help="load a GTFS zip or folder, replacing the network atomically"
    )
    imp.add_argument("feed", type=Path, help="GTFS .zip file or folder")
    imp.add_argument("--database-url", default=None, help="override BUSHAIL_API_DATABASE_URL")
    sub.add_parser("init-db", help="create or migrate the database tables (Alembic upgrade)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(getattr(args, "log_level", "info")).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from rider_api.settings import ApiSettings

    settings = ApiSettings()
    if args.command == "serve":
        if "freeze_heap_at_start" not in settings.model_fields_set:
            settings = settings.model_copy(update={"freeze_heap_at_start": True})
        import uvicorn

        from rider_api.app import create_app

        host = args.host or settings.host
        port = args.port if args.port is not None else settings.port
        warning = docs_exposure_warning(settings, host)
        if warning:
            logger.warning("%s", warning)
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level=args.log_level,
            # Live streams never end by themselves: without a bound a stop would wait
            # for every rider to close their page.
            timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
        )
        return 0
    if args.command == "init-db":
        _init_db(settings.resolved_database_url())
        return 0
    if args.command == "network" and args.network_command == "import":
        from rider_api.network.errors import FeedError
        from rider_api.network.importer import import_feed

        url = args.database_url or settings.resolved_database_url()
        from rider_api.core.private_files import private_dir

        private_dir(settings.state_dir)
        _init_db(url)
        try:
            report = import_feed(url, args.feed)
        except (FeedError, FileNotFoundError) as exc:
            sys.stderr.write(f"import failed, nothing changed: {exc}\n")
            return 1
        sys.stdout.write(f"{report}\n")
        return 0
    return 2


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def docs_exposure_warning(settings: ApiSettings, host: str) -> str | None:
    """What to tell an operator starting the API on ``host`` with the API docs on."""
    if not settings.api_docs or _is_loopback(host):
        return None
    return (
        f"the API docs (/docs, /redoc, /openapi.json) are on and the server listens on "
        f"{host}, beyond this machine: set BUSHAIL_API_API_DOCS=false in production"
    )


def _init_db(url: str) -> None:
    from rider_api.db.migrate import upgrade

    upgrade(url)


if __name__ == "__main__":
    raise SystemExit(main())
