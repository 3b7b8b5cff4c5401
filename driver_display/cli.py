"""``bushail-display --vehicle VEHICLE_ID``: run one onboard driver display.

Every option can also come from the environment (``BUSHAIL_DISPLAY_VEHICLE_ID``,
``BUSHAIL_DISPLAY_BROKER_HOST``, ``BUSHAIL_DISPLAY_PASSWORD`` ...); options win.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from broker_config.device.audio import AudioSink, TextSink, make_sink
from broker_config.device.speech import make_speaker
from broker_config.device.speech_queue import SpeechQueue
from broker_config.topics import Owner, login_for
from driver_display.const import DEFAULT_HTTP_PORT, THEMES
from driver_display.display import DriverDisplay
from driver_display.outbox import SqliteOutbox
from driver_display.settings import DisplaySettings
from driver_display.speech_output import SpeechSoundOutput
from driver_display.web import ScreenServer, create_app

__all__ = ["build_parser", "main", "run"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bushail-display",
        description=(
            "The onboard driver display of one bus: logs in as vehicle.{VEHICLE_ID}, "
            "shows and sounds the vehicle's pick-up and drop-off alerts, and sends the "
            "driver's one-tap answers (kept on disk until the broker has them). The "
            "screen is served on http://HOST:PORT/ for the unit's kiosk browser."
        ),
        epilog="Settings also come from BUSHAIL_DISPLAY_* environment variables.",
    )
    add = parser.add_argument
    add("--vehicle", dest="vehicle_id", metavar="VEHICLE_ID", help="the vehicle id (e.g. KKA-1234)")
    add("--broker-host", help="MQTT broker host (default 127.0.0.1)")
    add("--broker-port", type=int, help="MQTT broker port (default 1883)")
    add("--root", help="topic root prefix (default bushail/v1)")
    add(
        "--credentials-file",
        type=Path,
        help="the broker's credentials.json to read this vehicle's password from "
        "(or set BUSHAIL_DISPLAY_PASSWORD)",
    )
    add("--state-dir", type=Path, help="where unsent answers are kept (default state/display)")
    add("--http-host", help="screen address (default 127.0.0.1)")
    add(
        "--http-port",
        type=int,
        help=f"screen port, 0 for any free one (default {DEFAULT_HTTP_PORT})",
    )
    add(
        "--no-screen",
        dest="serve_screen",
        action="store_false",
        default=None,
        help="do not serve the web screen (sound and answers only through the API)",
    )
    add("--lang", choices=["zh-TW", "en"], help="first language of screen and speech")
    add("--theme", choices=list(THEMES), help="day (high contrast) or night (dark)")
    add("--audio", choices=["device", "wav", "text"], help="sound to aplay, WAV files or the log")
    add("--audio-folder", type=Path, help="folder for --audio wav")
    add(
        "--reminder-interval",
        dest="reminder_interval_s",
        type=float,
        metavar="SECONDS",
        help="chime again after this long while an alert is unacknowledged (default 20)",
    )
    add("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def settings_from_args(args: argparse.Namespace) -> DisplaySettings:
    fields = set(DisplaySettings.model_fields)
    overrides: dict[str, Any] = {
        key: value for key, value in vars(args).items() if key in fields and value is not None
    }
    return DisplaySettings(**overrides)


def _sink(settings: DisplaySettings, name: str) -> AudioSink:
    try:
        return make_sink(
            settings.audio, folder=settings.audio_folder, device=settings.audio_device, name=name
        )
    except (FileNotFoundError, ValueError) as exc:
        logger.warning("no audio (%s): sounds go to the log only", exc)
        return TextSink(name=name)


async def run(settings: DisplaySettings, stop: asyncio.Event) -> None:
    """Run a display (and its screen, if enabled) until ``stop`` is set."""
    if settings.vehicle_id is None:
        raise ValueError("the display needs a vehicle id (--vehicle or VEHICLE_ID)")
    sink = _sink(settings, settings.vehicle_id)
    speaker = make_speaker(sink)
    async with (
        SqliteOutbox(settings.outbox_path(settings.vehicle_id)) as outbox,
        SpeechQueue(speaker) as queue,
        DriverDisplay(settings, outbox=outbox, sound=SpeechSoundOutput(sink, queue)) as display,
    ):
        if not await speaker.self_test():
            logger.error("vehicle %s: the speaker self-test failed", display.vehicle_id)
        if not settings.serve_screen:
            await stop.wait()
            return
        async with ScreenServer(create_app(display), settings.http_host, settings.http_port):
            await stop.wait()


async def _main(settings: DisplaySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await run(settings, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = settings_from_args(args)
    if settings.vehicle_id is None:
        parser.error("--vehicle is required (or set BUSHAIL_DISPLAY_VEHICLE_ID)")
    try:
        settings.endpoint(login_for(Owner.VEHICLE, settings.vehicle_id))
    except (ValueError, KeyError) as exc:
        parser.error(str(exc))
    asyncio.run(_main(settings))
    return 0
