"""Settings of the driver display (env prefix ``BUSHAIL_DISPLAY_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from broker_config.device.audio import SinkKind
from broker_config.device.runtime import DeviceSettings
from broker_config.messages import Lang
from driver_display.const import (
    DEFAULT_HEALTH_INTERVAL_S,
    DEFAULT_HTTP_PORT,
    DEFAULT_REMINDER_INTERVAL_S,
    DEFAULT_THEME,
    OUTBOX_FILENAME,
    Theme,
)

__all__ = ["DisplaySettings"]


class DisplaySettings(DeviceSettings):
    """One onboard display: its vehicle, broker login, screen, sound and state dir.

    The broker fields (``broker_host``, ``password``, ``credentials_file`` ...) and how
    unanswered taps are sent again (``resend_first_s``, ``resend_max_s``) are the
    shared device settings of ``broker_config.device.runtime``.
    """

    model_config = SettingsConfigDict(env_prefix="BUSHAIL_DISPLAY_", extra="ignore")

    vehicle_id: str | None = None
    #: Holds ``{vehicle_id}/taps.sqlite3``: the answers until the server's receipt, and a day after.
    state_dir: Path = Path("state/display")
    health_interval_s: float = Field(default=DEFAULT_HEALTH_INTERVAL_S, gt=0)

    #: Serve the onboard screen over HTTP (off for simulated fleets).
    serve_screen: bool = True
    http_host: str = "127.0.0.1"
    #: 0 picks a free port.
    http_port: int = Field(default=DEFAULT_HTTP_PORT, ge=0, le=65535)

    #: The screen's first language and the language spoken first.
    lang: Lang = "zh-TW"
    theme: Theme = DEFAULT_THEME
    #: An unacknowledged alert chimes again after this many seconds.
    reminder_interval_s: float = Field(default=DEFAULT_REMINDER_INTERVAL_S, gt=0)
    #: ``device`` (aplay), ``wav`` (files in ``audio_folder``) or ``text`` (log only).
    audio: SinkKind = "device"
    audio_folder: Path | None = None
    audio_device: str | None = None

    def outbox_path(self, vehicle_id: str) -> Path:
        return self.state_dir / vehicle_id / OUTBOX_FILENAME
