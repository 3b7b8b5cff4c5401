"""What an MQTT session is built from: where the broker is, and how the session behaves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from broker_config.const import (
    DEFAULT_KEEPALIVE_S,
    DEFAULT_ROOT,
    DEVICE_SESSION_EXPIRY_S,
    MAX_PAYLOAD_BYTES,
)

__all__ = ["BrokerEndpoint", "SessionOptions"]


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where the broker is and who we are."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    #: Connect over TLS, verifying the broker's certificate and host name.
    tls: bool = False
    #: The CA that signed the broker's certificate (None: the system's CAs).
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How the session behaves; the defaults suit a device."""

    client_id: str = field(default_factory=lambda: f"bushail-{uuid.uuid4().hex[:12]}")
    clean_start: bool = False
    session_expiry_s: int = DEVICE_SESSION_EXPIRY_S
    keepalive_s: int = DEFAULT_KEEPALIVE_S
    #: Retained birth/will topic; None for a client without availability (tools, tests).
    status_topic: str | None = None
    #: Topic root received topics are parsed under (``Topics(root)``).
    root: str = DEFAULT_ROOT
    version: str = "0"
    #: QoS 1 messages that may wait for the broker at once (in flight or offline).
    max_pending: int = 10_000
    max_inflight: int = 100
    #: Payloads over this many bytes are refused on publish and dropped on receipt.
    max_payload: int = MAX_PAYLOAD_BYTES
    #: Received messages that may wait for their handlers before reading pauses.
    max_incoming: int = 1000
    #: Received messages that may wait, unacknowledged, for a handler to be registered.
    max_unclaimed: int = 1000
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 15.0
    connect_timeout_s: float = 10.0
