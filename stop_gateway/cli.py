"""``bushail-gateway --stop STOP_ID``: run one talking bus-stop gateway."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stop_gateway.buttons import TerminalKeypad
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings

__all__ = ["build_parser", "main"]

KEYS_HELP = "keys: r repeat, h help, c cancel, b/space/enter book (and choose a route), q quit"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bushail-gateway",
        description=(
            "Run the talking gateway of one bus stop: it logs in to the broker as "
            "stop.STOP_ID, says each call for this stop in Mandarin and English, and "
            "handles the stop's buttons. Every option can also be set with an "
            "environment variable BUSHAIL_GATEWAY_<NAME> (e.g. BUSHAIL_GATEWAY_BROKER_HOST)."
        ),
        epilog=KEYS_HELP + " (with --keyboard).",
    )
    add = parser.add_argument
    add("--stop", dest="stop_id", required=True, help="the GTFS stop_id this gateway serves")
    add("--broker-host", help="broker host (default 127.0.0.1)")
    add("--broker-port", type=int, help="broker port (default 1883)")
    add("--root", help="topic root (default bushail/v1)")
    add("--login", help="MQTT username (default stop.STOP_ID)")
    add("--credentials-file", type=Path, help="the broker's credentials.json to read the password")
    add("--tls", action="store_true", default=None, help="connect with TLS")
    add("--ca-file", type=Path, help="CA certificate for TLS")
    add(
        "--language",
        dest="languages",
        action="append",
        choices=["zh-TW", "en"],
        help="language order for prompts, first first (repeat the flag; default zh-TW then en)",
    )
    add("--voice-zh", help="espeak-ng Mandarin voice (default sit/cmn-latn-pinyin)")
    add("--voice-en", help="espeak-ng English voice (default gmw/en-us)")
    add("--rate", type=int, help="speech rate in words per minute (default 165)")
    add("--volume", type=float, help="speech volume 0..1 (default 1.0)")
    add(
        "--audio-sink",
        choices=["device", "wav", "text"],
        help="device: play with aplay; wav: write files into --wav-dir; text: log only",
    )
    add("--audio-device", help="ALSA device for aplay (e.g. plughw:1,0)")
    add("--wav-dir", type=Path, help="folder for the wav sink")
    add(
        "--route",
        dest="routes",
        action="append",
        metavar="ROUTE_ID:DIR:NAME_ZH:NAME_EN[:HEADSIGN_ZH:HEADSIGN_EN]",
        help="a route serving the stop, offered when booking without a phone (repeatable)",
    )
    add("--routes-file", type=Path, help="JSON list of routes serving the stop")
    add("--lexicon-file", type=Path, help='pronunciation fixes {"zh-TW": {...}, "en": {...}}')
    add("--health-interval", dest="health_interval_s", type=float, help="seconds between health")
    add(
        "--state-dir",
        type=Path,
        help="keep button presses not yet answered by the server here, across restarts "
        "(default: in memory only)",
    )
    add("--no-self-test", dest="self_test", action="store_false", default=None)
    add("--keyboard", action="store_true", help="read the buttons from this terminal. " + KEYS_HELP)
    add("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


async def _run(settings: GatewaySettings, keyboard: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with StopGateway(settings) as gateway:
        if keyboard:
            async with TerminalKeypad() as keypad:
                keys = asyncio.create_task(gateway.run_keypad(keypad))
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({keys, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (keys, stopper):
                    task.cancel()
        else:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    skip = {"keyboard", "log_level"}
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if v is not None and k not in skip
    }
    try:
        settings = GatewaySettings(**overrides)
    except (ValidationError, ValueError) as exc:
        sys.stderr.write(f"bushail-gateway: invalid settings: {exc}\n")
        return 2
    if args.keyboard:
        sys.stderr.write(KEYS_HELP + "\n")
    try:
        asyncio.run(_run(settings, args.keyboard))
    except KeyboardInterrupt:
        pass
    except (ValueError, KeyError) as exc:
        sys.stderr.write(f"bushail-gateway: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
