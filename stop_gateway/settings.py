"""Settings of a stop gateway: env prefix ``BUSHAIL_GATEWAY_`` (and ``bushail-gateway`` flags).

Besides the device settings (broker, login, password or credentials file, health
period; see :class:`broker_config.device.runtime.DeviceSettings`):
``stop_id``; ``languages`` (order for prompts and operator announcements; calls are
said in the rider's language first); ``voice_zh``/``voice_en``/``rate``/``volume``;
``audio_sink`` (``device``: aplay, ``wav``: files in ``wav_dir``, ``text``: no audio);
``routes`` (``route_id:direction_id:name_zh:name_en[:headsign_zh:headsign_en]`` each)
or ``routes_file`` (JSON) for booking without a phone; ``lexicon_file`` and ``lexicon``
(pronunciation fixes added to the shipped ones); ETA thresholds and button timings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from broker_config.device.audio import SinkKind
from broker_config.device.runtime import DeviceSettings
from broker_config.device.speech import ENGLISH_VOICE, MANDARIN_VOICE
from broker_config.messages import Lang

__all__ = ["GatewaySettings"]

LANGUAGE_ORDER: tuple[Lang, ...] = ("zh-TW", "en")


class GatewaySettings(DeviceSettings):
    """Everything a stop gateway needs; see the module docstring."""

    model_config = SettingsConfigDict(env_prefix="BUSHAIL_GATEWAY_", extra="ignore")

    stop_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    languages: list[Lang] = Field(default_factory=lambda: list(LANGUAGE_ORDER), min_length=1)
    voice_zh: str = MANDARIN_VOICE
    voice_en: str = ENGLISH_VOICE
    rate: int = Field(default=165, ge=80, le=450)
    volume: float = Field(default=1.0, ge=0.0, le=1.0)
    audio_sink: SinkKind = "device"
    audio_device: str | None = None
    wav_dir: Path = Path("state/gateway-audio")
    routes: list[str] = Field(default_factory=list)
    routes_file: Path | None = None
    lexicon_file: Path | None = None
    lexicon: dict[Lang, dict[str, str]] = Field(default_factory=dict)
    eta_thresholds_min: list[int] = Field(default_factory=lambda: [5, 3, 1])
    #: After each (re)connect, wait this long so a burst of queued calls is said once.
    resync_settle_s: float = Field(default=0.5, ge=0)
    #: How long the route menu waits for a press after saying each route.
    menu_dwell_s: float = Field(default=4.0, gt=0)
    menu_rounds: int = Field(default=2, ge=1)
    #: Say that booking failed when no call for the chosen route arrives in this time.
    book_confirm_timeout_s: float = Field(default=30.0, gt=0)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    self_test: bool = True

    @property
    def first_language(self) -> Lang:
        return self.languages[0]
