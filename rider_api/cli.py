"""``bushail-api``: serve the rider API, import a network, create the tables."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["main"]


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
        import uvicorn

        from rider_api.app import create_app

        host = args.host or settings.host
        port = args.port if args.port is not None else settings.port
        uvicorn.run(create_app(settings), host=host, port=port, log_level=args.log_level)
        return 0
    if args.command == "init-db":
        _init_db(settings.resolved_database_url())
        return 0
    if args.command == "network" and args.network_command == "import":
        from rider_api.network.errors import FeedError
        from rider_api.network.importer import import_feed

        url = args.database_url or settings.resolved_database_url()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        _init_db(url)
        try:
            report = import_feed(url, args.feed)
        except (FeedError, FileNotFoundError) as exc:
            sys.stderr.write(f"import failed, nothing changed: {exc}\n")
            return 1
        sys.stdout.write(f"{report}\n")
        return 0
    return 2


def _init_db(url: str) -> None:
    from rider_api.db.migrate import upgrade

    upgrade(url)


if __name__ == "__main__":
    raise SystemExit(main())
