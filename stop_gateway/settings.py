"""Settings of a stop gateway: env prefix ``BUSHAIL_GATEWAY_`` (and ``bushail-gateway`` flags).

Besides the device settings (broker, login, password or credentials file, health
period; see :class:`broker_config.device.runtime.DeviceSettings`):
``stop_id``; ``languages`` (order for prompts and operator announcements; calls are
said in the rider's language first); ``voice_zh``/``voice_en``/``rate``/``volume``;
``audio_sink`` (``device``: aplay, ``wav``: files in ``wav_dir``, ``text``: no audio);
``routes`` (``route_id:direction_id:name_zh:name_en[:headsign_zh:headsign_en]`` each)
or ``routes_file`` (JSON) for booking without a phone; ``lexicon_file`` and ``lexicon``
(pronunciation fixes added to the shipped ones); ETA thresholds and button timings;
``resend_first_s``/``resend_max_s``: how button events without the server's receipt are
sent again; ``state_dir``: where they are kept meanwhile (None: in memory only).
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
#: The file of the pending presses inside the gateway's state directory.
PENDING_FILENAME = "presses.sqlite3"


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
    #: Say that booking failed when no call for the chosen route arrives in this time and
    #: the server has not received the booking (it is then given up).
    book_confirm_timeout_s: float = Field(default=30.0, gt=0)
    #: A help press waits this long for the server's receipt before the stop says that
    #: staff will be notified once the connection is back (offline: at once).
    receipt_wait_s: float = Field(default=2.0, ge=0)
    #: How long a ``repeat`` (sent once, never answered) may wait for the broker.
    publish_timeout_s: float = Field(default=10.0, gt=0)
    self_test: bool = True
    #: Holds ``{stop_id}/presses.sqlite3``: the button presses the server has not answered
    #: yet, so a restart (even kill -9) does not lose them. None: kept in memory only.
    state_dir: Path | None = None

    def pending_path(self) -> Path | None:
        """The file of the presses waiting for their receipt (None: none, in memory)."""
        if self.state_dir is None:
            return None
        return self.state_dir / self.stop_id / PENDING_FILENAME

    @property
    def first_language(self) -> Lang:
        return self.languages[0]
