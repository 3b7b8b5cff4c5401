"""The small runtime every BusHail device (stop gateway, driver display) runs on.

Public API
----------
- :class:`DeviceSettings`: the pydantic-settings base of a device's settings: broker
  host/port, ``tls`` and ``ca_file`` (the broker's CA; verified with its host name),
  topic root, ``login``, ``password`` (SecretStr) or the broker's
  ``credentials_file`` to look the password up in, MQTT ``client_id``, the health
  period, and how events without a receipt are sent again (``resend_first_s`` doubling
  up to ``resend_max_s``: ``settings.backoff()``, see ``broker_config.device.receipts``).
  Subclass it with your own ``env_prefix`` (``BUSHAIL_GATEWAY_`` ...).
  ``settings.endpoint(default_login)`` gives the BrokerEndpoint.
- :class:`HealthFacts`: what the device adds to its health (queue depth, speaker state,
  its own last error); a ``HealthProbe`` is a function returning them.
- :class:`DeviceRuntime`: ``async with DeviceRuntime(settings, login=..., status_topic=...,
  health_topic=..., version=..., probe=...) as runtime:``

  * opens a persistent MQTT 5 session (client id = the login unless set, so calls
    queued while the device was away reach it after a restart) with a retained
    ``DeviceStatus`` birth message and the offline copy as last will;
  * publishes ``DeviceHealth`` (uptime_s, queue_depth, speaker_ok, last_error) every
    ``health_interval_s`` and right after each reconnect;
  * logs the broker going away and coming back (with how long it was gone) and keeps
    that as ``last_error`` so the next health message reports it.

  Register handlers with ``await runtime.mqtt.subscribe(filter, handler)`` before or
  inside the block; ``runtime.record_error(text)`` sets ``last_error``;
  ``await runtime.abort()`` drops the connection as a crash would (tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker_config.aio import cancel_and_wait
from broker_config.const import DEFAULT_ROOT
from broker_config.device.resend import DEFAULT_RESEND_FIRST_S, DEFAULT_RESEND_MAX_S, Backoff
from broker_config.errors import MqttError
from broker_config.messages import DeviceHealth, utcnow
from broker_config.registry import Credentials
from broker_config.session import BrokerEndpoint, MqttSession, SessionOptions

__all__ = [
    "DEFAULT_CREDENTIALS_FILE",
    "DeviceRuntime",
    "DeviceSettings",
    "HealthFacts",
    "HealthProbe",
]

logger = logging.getLogger(__name__)

#: Where ``bushail-broker`` keeps the device passwords by default (dev and demo).
DEFAULT_CREDENTIALS_FILE = Path("state/broker/credentials.json")


class DeviceSettings(BaseSettings):
    """Broker connection and health settings shared by every device."""

    model_config = SettingsConfigDict(env_prefix="BUSHAIL_DEVICE_", extra="ignore")

    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=1883, ge=1, le=65535)
    root: str = DEFAULT_ROOT
    #: MQTT username; None: the device's own login (``stop.{id}``, ``vehicle.{id}``).
    login: str | None = None
    password: SecretStr | None = None
    #: The broker's credentials.json to read the password from when none is given.
    credentials_file: Path | None = None
    #: Connect over TLS and verify the broker (its certificate and host name).
    tls: bool = False
    #: The CA that signed the broker's certificate (``ca.crt`` of ``bushail-broker tls
    #: init``); None: the system's CAs. Setting it turns TLS on.
    ca_file: Path | None = None
    #: None: the login, so the persistent session survives restarts.
    client_id: str | None = None
    health_interval_s: float = Field(default=30.0, gt=0)
    #: An event without the server's receipt is sent again after this many seconds,
    #: then after twice as long each time, up to ``resend_max_s`` (and at every reconnect).
    resend_first_s: float = Field(default=DEFAULT_RESEND_FIRST_S, gt=0)
    resend_max_s: float = Field(default=DEFAULT_RESEND_MAX_S, gt=0)

    def backoff(self) -> Backoff:
        """The waits between copies of an event the server has not answered yet."""
        longest = max(self.resend_first_s, self.resend_max_s)
        return Backoff(first_s=self.resend_first_s, max_s=longest)

    def endpoint(self, default_login: str) -> BrokerEndpoint:
        """Where and as whom to connect; the password comes from settings or the file."""
        login = self.login or default_login
        password = self.password.get_secret_value() if self.password is not None else None
        if password is None:
            path = self.credentials_file
            if path is None and DEFAULT_CREDENTIALS_FILE.exists():
                path = DEFAULT_CREDENTIALS_FILE
            if path is None:
                raise ValueError(
                    f"no password for {login!r}: set the password or the broker's "
                    "credentials file in the settings"
                )
            password = Credentials(path).password(login)
        return BrokerEndpoint(
            host=self.broker_host,
            port=self.broker_port,
            username=login,
            password=password,
            # A CA file given with TLS left off is a slip: never fall back to plain text.
            tls=self.tls or self.ca_file is not None,
            ca_file=str(self.ca_file) if self.ca_file is not None else None,
        )


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """The device's part of DeviceHealth."""

    queue_depth: int = 0
    speaker_ok: bool | None = None
    last_error: str | None = None


HealthProbe = Callable[[], HealthFacts]


class DeviceRuntime:
    """MQTT session with birth/will status, periodic health and connection logging."""

    def __init__(
        self,
        settings: DeviceSettings,
        *,
        login: str,
        status_topic: str,
        health_topic: str,
        version: str,
        probe: HealthProbe | None = None,
        endpoint: BrokerEndpoint | None = None,
    ) -> None:
        self.settings = settings
        self.login = settings.login or login
        self.health_topic = health_topic
        self.probe = probe or HealthFacts
        self.last_error: str | None = None
        self._started = time.monotonic()
        self._offline_since: float | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._aux: set[asyncio.Task[None]] = set()
        options = SessionOptions(
            client_id=settings.client_id or self.login,
            status_topic=status_topic,
            version=version,
            root=settings.root,
        )
        self.mqtt = MqttSession(endpoint or settings.endpoint(self.login), options)
        self.mqtt.on_connection_change(self._on_connection_change)

    async def __aenter__(self) -> Self:
        self._started = time.monotonic()
        await self.mqtt.__aenter__()
        self._health_task = asyncio.create_task(self._health_loop(), name="device-health")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop_tasks()
        await self.mqtt.close()

    async def abort(self) -> None:
        """Drop the connection without goodbye, as a crash would (the will fires)."""
        await self._stop_tasks()
        await self.mqtt.abort()

    async def _stop_tasks(self) -> None:
        tasks = [t for t in (self._health_task, *self._aux) if t is not None]
        self._health_task = None
        await cancel_and_wait(*tasks)

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._started

    def record_error(self, text: str) -> None:
        """Remember ``text`` as the device's last error (reported in health)."""
        self.last_error = text

    def health(self) -> DeviceHealth:
        """The DeviceHealth message of this moment."""
        facts = self.probe()
        return DeviceHealth(
            uptime_s=round(self.uptime_s, 3),
            queue_depth=max(0, facts.queue_depth),
            speaker_ok=facts.speaker_ok,
            last_error=facts.last_error or self.last_error,
            at=utcnow(),
        )

    async def publish_health(self) -> None:
        """Publish health now (QoS 0: dropped while the broker is away)."""
        try:
            await self.mqtt.publish(self.health_topic, self.health(), qos=0)
        except MqttError as exc:
            logger.warning("%s: health not published: %s", self.login, exc)

    async def _health_loop(self) -> None:
        while True:
            if self.mqtt.connected:
                await self.publish_health()
            await asyncio.sleep(self.settings.health_interval_s)

    def _on_connection_change(self, connected: bool) -> None:
        now = time.monotonic()
        if not connected and self.mqtt.closing:
            logger.debug("%s: disconnected from the broker (shutting down)", self.login)
            return
        if not connected:
            self._offline_since = now
            self.last_error = f"broker unreachable since {_iso(utcnow())}"
            logger.warning(
                "%s: lost the broker %s:%s; reconnecting",
                self.login,
                self.mqtt.endpoint.host,
                self.mqtt.endpoint.port,
            )
            return
        if self._offline_since is not None:
            gone = now - self._offline_since
            self.last_error = f"broker unreachable for {gone:.1f} s until {_iso(utcnow())}"
            logger.info("%s: reconnected to the broker after %.1f s", self.login, gone)
            self._offline_since = None
        if self._health_task is not None:
            # Health right away: the server learns about the outage without waiting.
            task = asyncio.get_running_loop().create_task(self.publish_health())
            self._aux.add(task)
            task.add_done_callback(self._aux.discard)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
