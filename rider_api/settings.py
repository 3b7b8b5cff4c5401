"""Settings of the server: the API (``BUSHAIL_API_``) and the operator console
(``BUSHAIL_CONSOLE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker_config.const import DEFAULT_POSITION_STALENESS_S, DEFAULT_ROOT

__all__ = ["ApiSettings", "ConsoleSettings"]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUSHAIL_API_")

    state_dir: Path = Path("state")
    #: SQLAlchemy-style URL; ``sqlite:///path`` or ``postgresql://user@host/db``.
    #: Empty means a SQLite file in the state directory.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str = "server.api"
    mqtt_password: SecretStr | None = None
    #: A broker state dir (bushail-broker) to read the server password from.
    mqtt_credentials_file: Path | None = None
    mqtt_root: str = DEFAULT_ROOT
    mqtt_enabled: bool = True
    instance: str = "api"

    #: Operator bearer tokens.
    operator_tokens: list[SecretStr] = Field(default_factory=list)

    #: Largest HTTP request body (bytes). The largest legitimate one, an operator's
    #: broadcast form with two 500-character texts, is about 12 KiB percent-encoded.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # Reservation rules
    max_active_reservations_per_rider: int = 3
    max_bookings_per_minute_per_rider: int = 10
    #: A help press at a stop within this many seconds of the stop's last help incident
    #: is recorded as applied but opens no new incident (0: every press opens one).
    #: Book presses need no bound of their own: each stop books as its own rider (one
    #: per language), so the two limits above apply to them.
    stop_help_window_s: float = Field(default=60.0, ge=0)
    idempotency_ttl_s: int = 24 * 3600
    reservation_lifetime_s: int = 90 * 60

    # Dispatcher
    position_staleness_s: float = DEFAULT_POSITION_STALENESS_S
    driver_warning_s: int = 60
    ack_timeout_s: float = 45.0
    eta_refresh_threshold_s: int = 30
    service_timezone: str = "Asia/Taipei"
    #: How often the API looks for a newly imported network (seconds).
    network_check_s: float = 10.0

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'bushail.db').resolve()}"


class ConsoleSettings(BaseSettings):
    """What the operator console shows and how often."""

    model_config = SettingsConfigDict(env_prefix="BUSHAIL_CONSOLE_")

    #: A device online by the broker's word but silent this long is marked stale.
    heartbeat_s: float = 90.0
    #: How often the live board is recomputed and pushed.
    refresh_s: float = 1.0
    #: Longest period of the quality page.
    max_quality_days: int = 92
