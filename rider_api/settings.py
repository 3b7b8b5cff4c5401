"""Settings of the server: the API (``BUSHAIL_API_``) and the operator console
(``BUSHAIL_CONSOLE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker_config.const import DEFAULT_POSITION_STALENESS_S, DEFAULT_ROOT
from broker_config.topics import Owner, login_for
from rider_api.core.web_security import normalize_origin

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
    #: The server's broker login (empty: ``server.{instance}``).
    mqtt_username: str = ""
    mqtt_password: SecretStr | None = None
    #: The read-only login of this instance's reconcile scan (empty: ``monitor.{instance}``).
    mqtt_monitor_username: str = ""
    mqtt_monitor_password: SecretStr | None = None
    #: A broker's credentials file (bushail-broker) to read both passwords from.
    mqtt_credentials_file: Path | None = None
    mqtt_root: str = DEFAULT_ROOT
    #: Connect to the broker over TLS (its TLS port in ``mqtt_port``), verifying its
    #: certificate and host name; both the server and the monitor login use it.
    mqtt_tls: bool = False
    #: The CA that signed the broker's certificate (``ca.crt`` of ``bushail-broker tls
    #: init``); None: the system's CAs. Setting it turns TLS on.
    mqtt_ca_file: Path | None = None
    mqtt_enabled: bool = True
    #: This instance's name: unique among the instances of one database, with broker
    #: logins ``server.{instance}`` and ``monitor.{instance}`` of its own.
    instance: str = "api"
    #: How often a follower tries to take the lead, and the leader checks it still may
    #: (PostgreSQL; a dead leader's place is taken within about this long).
    cluster_poll_s: float = Field(default=1.0, gt=0)
    #: Database connections per instance (PostgreSQL): the pool and what may go beyond
    #: it at peaks. Several instances share the server's ``max_connections``.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    #: Seconds ``bushail-api serve`` waits for open requests and live streams at a stop.
    graceful_shutdown_s: float = Field(default=5.0, ge=0)
    #: After start-up, move every object then alive out of the garbage collector's scans
    #: (``gc.freeze``): the network view and the modules are most of the heap, and a full
    #: collection scanning them stalled requests for 100-150 ms. ``bushail-api serve``
    #: turns it on; off where many apps share one process (tests), whose frozen cycles
    #: would never be collected.
    freeze_heap_at_start: bool = False

    #: Operator bearer tokens.
    operator_tokens: list[SecretStr] = Field(default_factory=list)

    #: Origins besides the server's own (scheme + Host) whose pages may send forms and
    #: API calls to it, e.g. ``["https://bushail.example"]`` behind a proxy that rewrites
    #: Host. Every other origin's state-changing requests are refused (see
    #: ``rider_api.core.web_security``).
    trusted_origins: list[str] = Field(default_factory=list)
    #: A trusted proxy in front terminates TLS: send Strict-Transport-Security and take
    #: ``https://<Host>`` as the server's own origin, though requests arrive over http.
    behind_tls_proxy: bool = False

    @field_validator("trusted_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        return [normalize_origin(o) for o in origins]

    #: Largest HTTP request body (bytes). The largest legitimate one, an operator's
    #: broadcast form with two 500-character texts, is about 12 KiB percent-encoded.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # Per-client limits (rider_api.core.rate_limits): ``*_limit`` in a row, then that
    # many per ``*_window_s`` seconds, per client address (IPv6: per /64).
    #: Sign-ups (API and web app): each new rider brings fresh per-rider booking caps.
    sign_up_limit: int = Field(default=5, ge=1)
    sign_up_window_s: float = Field(default=3600.0, gt=0)
    #: Voice requests (API and web app).
    voice_limit: int = Field(default=30, ge=1)
    voice_window_s: float = Field(default=60.0, gt=0)
    #: Stop searches (API and web app).
    search_limit: int = Field(default=60, ge=1)
    search_window_s: float = Field(default=60.0, gt=0)
    #: Client addresses each limit remembers (the least recently seen forgotten first).
    rate_limit_clients: int = Field(default=10_000, ge=1)
    #: Reverse proxies in front of the API, each appending to ``X-Forwarded-For``; the
    #: limits then count the address the outermost one saw. 0: clients connect directly
    #: and the header, which anyone can write, is ignored.
    trusted_proxies: int = Field(default=0, ge=0, le=10)
    #: Serve the interactive API docs (/docs, /redoc, /openapi.json). On for development;
    #: turn off in production (``BUSHAIL_API_API_DOCS=false``).
    api_docs: bool = True

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

    # GTFS-Realtime (rider_api.feeds, docs/gtfs-rt.md). In: the agency's feeds as a source
    # of positions, besides the onboard units. Out: /gtfs-rt/*.pb for every other app.
    #: The agency's VehiclePositions feeds (protobuf URLs; none: nothing is polled).
    gtfs_rt_vehicle_positions_urls: list[str] = Field(default_factory=list)
    #: The agency's TripUpdates feeds: the trip of a bus whose position names none, and a
    #: coarse position of a bus no VehiclePositions feed reports.
    gtfs_rt_trip_updates_urls: list[str] = Field(default_factory=list)
    #: Headers sent with every fetch, e.g. ``{"x-api-key": "..."}`` (many agencies want a key).
    gtfs_rt_request_headers: dict[str, SecretStr] = Field(default_factory=dict)
    #: Seconds between fetches of each feed (agencies publish every 10-30 s).
    gtfs_rt_poll_s: float = Field(default=15.0, ge=0.05)
    #: Seconds one fetch may take, connecting included.
    gtfs_rt_timeout_s: float = Field(default=10.0, gt=0)
    #: Longest wait between attempts after errors (the back-off doubles up to it).
    gtfs_rt_max_backoff_s: float = Field(default=300.0, gt=0)
    #: Largest feed accepted (bytes).
    gtfs_rt_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: An entity whose own timestamp is older than this is ignored (stale) ...
    gtfs_rt_max_age_s: float = Field(default=DEFAULT_POSITION_STALENESS_S, gt=0)
    #: ... and so is one this far in the future (a clock gone wrong at the agency).
    gtfs_rt_max_future_s: float = Field(default=60.0, ge=0)
    #: The feed's vehicle ids to BusHail's, where they differ (identity otherwise) ...
    gtfs_rt_vehicle_map: dict[str, str] = Field(default_factory=dict)
    #: ... and/or a CSV ``feed_vehicle_id,vehicle_id`` (the settings' entries win).
    gtfs_rt_vehicle_map_file: Path | None = None
    #: Each published feed is built at most once per this many seconds and cached.
    gtfs_rt_publish_s: float = Field(default=1.0, gt=0)
    #: An operator's announcement stays in the published Alerts this long (seconds).
    gtfs_rt_broadcast_alert_s: float = Field(default=1800.0, gt=0)

    # Web Push (rider_api.push, docs/push.md): riders' notifications on a locked phone.
    #: Send notifications to riders who turned them on (the API answers 404 when off).
    push_enabled: bool = True
    #: Who runs this server, for the push services (VAPID ``sub``): ``mailto:`` or
    #: ``https:``. Apple's refuses ``localhost`` and the like: set a real address.
    push_vapid_subject: str = "mailto:operators@bushail.invalid"
    #: The VAPID private key (PEM, owner-only), made at the first start; None: the file
    #: ``vapid_private_key.pem`` in the state directory. Keep it: a new key silently
    #: ends every rider's subscription.
    push_vapid_key_file: Path | None = None
    #: Push services the server may send to (a host or its parent domain); empty: any
    #: https host. The defaults are those of Chrome, Firefox, Safari and Edge.
    push_allowed_hosts: list[str] = Field(
        default_factory=lambda: [
            "fcm.googleapis.com",
            "push.services.mozilla.com",
            "push.apple.com",
            "notify.windows.com",
        ]
    )
    #: Accept ``http://`` endpoints on the loopback (127.0.0.1, ::1, localhost): tests only.
    push_allow_loopback_http: bool = False
    #: Browsers per rider; a new one beyond it replaces the rider's oldest.
    push_max_subscriptions_per_rider: int = Field(default=5, ge=1, le=50)
    #: Notifications waiting to be sent (all riders together); beyond it new ones are
    #: dropped, so a slow or dead push service cannot grow memory without bound.
    push_queue_size: int = Field(default=1000, ge=1)
    #: Sends at once (riders are split among them; one rider's go out in order).
    push_senders: int = Field(default=4, ge=1, le=64)
    #: Seconds one request to a push service may take, connecting included.
    push_timeout_s: float = Field(default=10.0, gt=0)
    #: How long a push service keeps a notification for a phone that is offline (s).
    push_ttl_s: int = Field(default=600, ge=0, le=24 * 3600)
    #: "Your bus is about 3 minutes away" when the ETA first falls to this or below.
    push_near_s: int = Field(default=180, ge=0)

    @field_validator("push_vapid_subject")
    @classmethod
    def _subject(cls, subject: str) -> str:
        if not subject.startswith(("mailto:", "https://")) or len(subject) < 10:
            raise ValueError("the VAPID subject must be a mailto: or https:// address")
        return subject

    @field_validator("push_allowed_hosts")
    @classmethod
    def _push_hosts(cls, hosts: list[str]) -> list[str]:
        return [h.strip().lower().strip(".") for h in hosts if h.strip()]

    @property
    def push_key_path(self) -> Path:
        """Where the VAPID private key is kept."""
        return self.push_vapid_key_file or self.state_dir / "vapid_private_key.pem"

    @property
    def mqtt_login(self) -> str:
        """The server's broker login: ``mqtt_username``, or ``server.{instance}``."""
        return self.mqtt_username or login_for(Owner.SERVER, self.instance)

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

    # Operator sign-in (see console.sessions and console.throttle)
    #: A console sign-in ends after this long without a request (an open live board
    #: counts as use) ...
    session_idle_s: float = Field(default=30 * 60, gt=0)
    #: ... and this long after it began, whatever happens (one long shift).
    session_absolute_s: float = Field(default=12 * 3600, gt=0)
    #: Failed sign-ins from one address within ``login_window_s`` before it must wait
    #: until the oldest of them leaves the window.
    login_failures_per_address: int = Field(default=5, ge=1)
    #: Failed sign-ins from all addresses together within the window before every
    #: sign-in waits (a guesser spread over many addresses).
    login_failures_global: int = Field(default=100, ge=1)
    login_window_s: float = Field(default=5 * 60, gt=0)
    #: Rows per page of the operator audit log.
    audit_page_size: int = Field(default=50, ge=1, le=500)
    #: The managed broker's state folder on this machine (``bushail-broker run
    #: --state-dir``); without it the devices page explains that rotation and
    #: revocation are done with ``bushail-broker device ...`` on the broker's machine.
    broker_state_dir: Path | None = None

    # What is at risk (the live board's first section, see console.risk)
    #: A booking without a bus this long is at risk.
    risk_wait_s: float = Field(default=5 * 60, gt=0)
    #: A rider's "the bus did not stop" report stays at risk this long after the
    #: booking ended.
    risk_report_window_s: float = Field(default=60 * 60, gt=0)

    # The live map (see console.netmap)
    #: Up to this many stops each get a focusable marker with a name; above it, the
    #: stops are drawn as one shape (the gateways, buses and bookings stay focusable).
    map_focusable_stops: int = Field(default=400, ge=0)
