"""Where the managed broker listens, and in what: the plain-text rule and the TLS files.

Plain MQTT listens on ``host``:``port`` (and WebSocket on ``websocket_port``); MQTT over
TLS on ``tls_port``, with the certificate of ``bushail-broker tls init``
(``broker_config.tls``) or the operator's own (``tls_certfile``/``tls_keyfile``). A
plain-text listener on an address other than loopback would carry passwords readable by
anyone on the network: it is refused unless ``allow_plaintext`` says so; with TLS on such
an address the plain listeners bind 127.0.0.1 only (local tools and the admin's checks).
Every listener binds a connection's client id to its login.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Protocol

from broker_config.tls import TlsFiles

__all__ = [
    "ListenerSettings",
    "PlaintextListenerError",
    "connect_host",
    "is_loopback",
    "listener_lines",
    "plain_bind_host",
    "tls_files",
]


class ListenerSettings(Protocol):
    """What of ``BrokerSettings`` decides the listeners."""

    state_dir: Path
    host: str
    websocket_port: int | None
    tls_port: int | None
    tls_certfile: Path | None
    tls_keyfile: Path | None
    tls_cafile: Path | None
    allow_plaintext: bool


class PlaintextListenerError(ValueError):
    """A plain-text listener was asked for on an address other than loopback."""


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another host name may resolve to anything


def plain_bind_host(settings: ListenerSettings) -> str:
    """Where the plain-text listeners bind (see the module docstring).

    Raises PlaintextListenerError, naming the settings to change, for a plain-text
    listener on a non-loopback address without ``allow_plaintext``.
    """
    if is_loopback(settings.host) or settings.allow_plaintext:
        return settings.host
    if settings.tls_port is None:
        raise PlaintextListenerError(
            f"refusing to listen in plain text on {settings.host!r}: device passwords and "
            "messages would cross the network readable by anyone. Add a TLS listener "
            "('bushail-broker tls init', then --tls-port 8883 or "
            "BUSHAIL_BROKER_TLS_PORT=8883); the plain listener then binds 127.0.0.1 only. "
            "On a private network you trust, allow it with --allow-plaintext or "
            "BUSHAIL_BROKER_ALLOW_PLAINTEXT=true."
        )
    return "127.0.0.1"


def connect_host(bind_host: str) -> str:
    """The address a local client uses to reach a listener bound to ``bind_host``."""
    try:
        address = ipaddress.ip_address(bind_host)
    except ValueError:
        return bind_host
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return bind_host


def tls_files(settings: ListenerSettings) -> tuple[Path, Path]:
    """The TLS listener's certificate and key: the settings', else the generated ones."""
    if settings.tls_certfile is not None and settings.tls_keyfile is not None:
        return settings.tls_certfile, settings.tls_keyfile
    generated = TlsFiles.in_state(settings.state_dir)
    if settings.tls_certfile is None and settings.tls_keyfile is None and generated.server_ready():
        return generated.server_cert, generated.server_key
    raise ValueError(
        "a TLS listener needs a certificate: run 'bushail-broker tls init' (a local CA "
        "and server certificate in the state dir), or set both tls_certfile and tls_keyfile"
    )


#: A listener option (before any ``listener`` line it would open a default listener on
#: 1883). A connection's client id becomes its login, so no login can take over another
#: login's session: a device asking for the server's id gets its own.
_CLIENT_ID_IS_LOGIN = "use_username_as_clientid true"


def listener_lines(settings: ListenerSettings, port: int, tls_port: int | None) -> list[str]:
    """The ``listener`` sections of mosquitto.conf (raises PlaintextListenerError)."""
    plain_host = plain_bind_host(settings)
    lines = [
        f"listener {port} {plain_host}",
        "protocol mqtt",
        _CLIENT_ID_IS_LOGIN,
    ]
    if settings.websocket_port is not None:
        lines += [
            "",
            f"listener {settings.websocket_port} {plain_host}",
            "protocol websockets",
            _CLIENT_ID_IS_LOGIN,
        ]
    if tls_port is not None:
        certfile, keyfile = tls_files(settings)
        lines += [
            "",
            f"listener {tls_port} {settings.host}",
            "protocol mqtt",
            _CLIENT_ID_IS_LOGIN,
            f"certfile {certfile}",
            f"keyfile {keyfile}",
        ]
        if settings.tls_cafile is not None:
            lines.append(f"cafile {settings.tls_cafile}")
        # TLS 1.2 and 1.3 only (Mosquitto's default would also accept TLS 1.1).
        lines.append("tls_version tlsv1.2")
    return lines
