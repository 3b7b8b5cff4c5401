"""Render Mosquitto's configuration from settings and run it as a managed child process.

The state directory holds ``mosquitto.conf``, ``passwd``, ``acl``, ``credentials.json``
(the plain device passwords, owner-only), ``registry.json`` and Mosquitto's
persistence database, so sessions and retained messages survive a restart.

Listeners, plain text and TLS: see ``broker_config.listeners``.

Limits and persistence (the reasons and the measurements are in docs/protocol.md,
"Limits and persistence"): a packet over MAX_PACKET_BYTES gets its sender disconnected
before Mosquitto reads it in; each client's queue is bounded by payload bytes, not by
message count; the database is saved after every ``autosave_changes`` changes, and the
managed broker also asks for a save (SIGUSR1) every ``save_interval_s`` so a quiet
broker does not keep its last few changes in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import shutil
import signal
import socket
from pathlib import Path
from types import TracebackType
from typing import Self

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker_config.admin import DeviceAdmin, RunningBroker
from broker_config.aio import cancel_and_wait
from broker_config.const import DEFAULT_ROOT, MAX_PACKET_BYTES
from broker_config.listeners import (
    PlaintextListenerError,
    connect_host,
    is_loopback,
    listener_lines,
    plain_bind_host,
)
from broker_config.registry import Credentials, DeviceRegistry, save_security, write_private
from broker_config.session import BrokerEndpoint
from broker_config.tls import TlsFiles
from broker_config.topics import Topics

__all__ = [
    "BrokerSettings",
    "ManagedBroker",
    "MosquittoNotFoundError",
    "PlaintextListenerError",
    "free_port",
    "is_loopback",
    "render",
]

logger = logging.getLogger(__name__)


class MosquittoNotFoundError(RuntimeError):
    """The mosquitto binary is not installed."""


class _PortTakenError(RuntimeError):
    """Mosquitto could not bind its port: someone else has it."""


_PORT_ATTEMPTS = 5


class BrokerSettings(BaseSettings):
    """Settings of the managed broker (env prefix ``BUSHAIL_BROKER_``)."""

    model_config = SettingsConfigDict(env_prefix="BUSHAIL_BROKER_")

    state_dir: Path = Path("state/broker")
    host: str = "127.0.0.1"
    #: 0 picks a free port at start.
    port: int = Field(default=1883, ge=0, le=65535)
    root: str = DEFAULT_ROOT
    #: Large enough that a QoS 1 burst to a slow device is queued, not dropped: Mosquitto
    #: drops (silently) whatever is over either queue limit, so the count limit is set
    #: out of reach and the queue is bounded by bytes instead.
    max_queued_messages: int = Field(default=1_000_000, ge=0)
    #: Payload bytes queued per client beyond its in-flight window (0: no limit). 32 MiB is
    #: over 50,000 of our messages, many times what a device away for its whole session
    #: expiry or the server's own session can gather.
    max_queued_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    max_inflight_messages: int = Field(default=100, ge=1)
    #: Save the database after this many changes (a retained or queued message, a
    #: subscription, a persistent session's connect): at most this many minus one are
    #: lost if Mosquitto is killed. Each save writes the whole database.
    autosave_changes: int = Field(default=20, ge=1)
    #: The managed broker also asks for a save this often (0: never), for quiet times.
    save_interval_s: float = Field(default=60.0, ge=0)
    websocket_port: int | None = None
    #: MQTT over TLS on ``host`` (0 picks a free port; None: no TLS listener).
    tls_port: int | None = Field(default=None, ge=0, le=65535)
    #: The server certificate and key; None: those of ``bushail-broker tls init``.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    #: CA bundle for client certificates (clients log in with passwords: rarely needed).
    tls_cafile: Path | None = None
    #: Let the plain-text listeners listen on ``host`` though it is not loopback: only on
    #: a network where nobody can read the traffic (``BUSHAIL_BROKER_ALLOW_PLAINTEXT``).
    allow_plaintext: bool = False
    mosquitto_path: str | None = None
    log_type: str = "error warning notice"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


#: A listener option (before any ``listener`` line it would open a default listener on
#: 1883). A connection's client id becomes its login, so no login can take over another
#: login's session: a device asking for the server's id gets its own.
_CLIENT_ID_IS_LOGIN = "use_username_as_clientid true"


def _config_text(settings: BrokerSettings, state: Path, port: int, tls_port: int | None) -> str:
    data_dir = state / "data"
    lines = [
        "# Generated by bushail-broker. Do not edit: change the settings and re-render.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {state / 'passwd'}",
        f"acl_file {state / 'acl'}",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_on_changes true",
        f"autosave_interval {settings.autosave_changes}",
        "persistent_client_expiration 2d",
        # Queues are bounded by bytes: a count limit would drop a legitimate burst first.
        f"max_queued_messages {settings.max_queued_messages}",
        f"max_queued_bytes {settings.max_queued_bytes}",
        f"max_inflight_messages {settings.max_inflight_messages}",
        # A bigger packet disconnects its sender before it is read into memory.
        f"max_packet_size {MAX_PACKET_BYTES}",
        "set_tcp_nodelay true",
        # Mosquitto started as root drops to the 'mosquitto' user unless told otherwise;
        # run it as whoever owns the state directory so it can read its own files.
        f"user {getpass.getuser()}",
        "log_dest stderr",
        *(f"log_type {t}" for t in settings.log_type.split()),
        "connection_messages true",
        "",
        *listener_lines(settings, port, tls_port),
    ]
    return "\n".join(lines) + "\n"


def render(
    settings: BrokerSettings, registry: DeviceRegistry, port: int, tls_port: int | None = None
) -> Path:
    """Write config, password file, ACL and credentials into the state dir; return the config.

    ``tls_port`` defaults to ``settings.tls_port`` (0 there picks a free port).
    """
    state = settings.state_dir.resolve()
    if tls_port is None and settings.tls_port is not None:
        tls_port = settings.tls_port or free_port(settings.host)
    # Checked before anything is written: a refused listener leaves the state dir alone.
    text = _config_text(settings, state, port, tls_port)
    (state / "data").mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    save_security(state, registry, Topics(settings.root))
    conf = state / "mosquitto.conf"
    write_private(conf, text)
    return conf


def mosquitto_binary(settings: BrokerSettings) -> str:
    found = (
        settings.mosquitto_path
        or shutil.which("mosquitto")
        or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    )
    if not found:
        raise MosquittoNotFoundError(
            "mosquitto is not installed: run 'sudo apt-get install mosquitto' "
            "(or set BUSHAIL_BROKER_MOSQUITTO_PATH)"
        )
    return found


def _die_with_parent() -> list[str]:
    """A prefix that makes Mosquitto exit when this process dies, however it dies.

    The broker runs in its own session (a Ctrl-C reaches us first, so devices can say
    goodbye); without a parent-death signal a parent killed hard would leave it running.
    util-linux's ``setpriv`` sets it and then execs Mosquitto.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class ManagedBroker:
    """Mosquitto as a child process, with the project's rendered config.

    ``async with ManagedBroker(settings, registry) as broker:`` renders, starts and
    waits until the port accepts connections; leaving the block stops it.
    """

    def __init__(self, settings: BrokerSettings, registry: DeviceRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or DeviceRegistry()
        try:
            bind = plain_bind_host(settings)
        except PlaintextListenerError:
            bind = settings.host  # start() refuses it, saying why
        #: Where local clients reach the plain-text listener (127.0.0.1 when ``host`` is
        #: public and TLS is on).
        self.host = connect_host(bind)
        self.port = settings.port or free_port(self.host)
        #: The TLS listener's port (None: none).
        self.tls_port = (
            None if settings.tls_port is None else settings.tls_port or free_port(settings.host)
        )
        self.topics = Topics(settings.root)
        #: Rotate, revoke and restore logins of this broker (see broker_config.admin).
        self.devices = DeviceAdmin(settings.state_dir, root=settings.root)
        self._proc: asyncio.subprocess.Process | None = None
        self._log_task: asyncio.Task[None] | None = None
        self._save_task: asyncio.Task[None] | None = None
        self.log_lines: list[str] = []
        self._started_once = False

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir.resolve()

    def credentials(self) -> Credentials:
        return Credentials(self.state_dir / "credentials.json")

    def endpoint(self, login: str | None, *, tls: bool = False) -> BrokerEndpoint:
        """Where and how ``login`` connects (None: anonymous); ``tls``: over the TLS
        listener, verifying the broker with the CA of ``bushail-broker tls init``."""
        password = self.credentials().password(login) if login is not None else None
        if not tls:
            return BrokerEndpoint(self.host, self.port, login, password)
        if self.tls_port is None:
            raise ValueError("this broker has no TLS listener (set tls_port)")
        ca = TlsFiles.in_state(self.state_dir).ca_cert
        return BrokerEndpoint(
            connect_host(self.settings.host),
            self.tls_port,
            login,
            password,
            tls=True,
            ca_file=str(ca) if ca.exists() else None,
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start Mosquitto and wait until it listens.

        A port picked free (settings.port 0) can be taken by someone else before
        Mosquitto binds it; then a new one is picked, at the first start only (a restart
        keeps the port its clients know).
        """
        for attempt in range(_PORT_ATTEMPTS):
            try:
                await self._start_once()
                return
            except _PortTakenError:
                picked = not self.settings.port or self.settings.tls_port == 0
                if not picked or self._started_once or attempt == _PORT_ATTEMPTS - 1:
                    raise
                logger.info("a port was taken before mosquitto bound it; picking another")
                if not self.settings.port:
                    self.port = free_port(self.host)
                if self.settings.tls_port == 0:
                    self.tls_port = free_port(self.settings.host)

    def _ports(self) -> list[tuple[str, int]]:
        """Every listener this broker opens, as a local client reaches it."""
        ports = [(self.host, self.port)]
        if self.settings.websocket_port is not None:
            ports.append((self.host, self.settings.websocket_port))
        if self.tls_port is not None:
            ports.append((connect_host(self.settings.host), self.tls_port))
        return ports

    async def _start_once(self) -> None:
        binary = mosquitto_binary(self.settings)
        conf = render(self.settings, self.registry, self.port, self.tls_port)
        if not is_loopback(self.settings.host):
            logger.info(
                "listening on %s: MQTT over TLS on port %s; plain text %s",
                self.settings.host,
                self.tls_port,
                "on every address (allowed by allow_plaintext)"
                if self.settings.allow_plaintext
                else "on 127.0.0.1 only",
            )
        self._proc = await asyncio.create_subprocess_exec(
            *_die_with_parent(),
            binary,
            "-c",
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._log_task = asyncio.create_task(self._pump_log(self._proc))
        for host, port in self._ports():
            await self._wait_listening(host, port)
        self._started_once = True
        RunningBroker(
            pid=self._proc.pid,
            conf=conf,
            host=self.host,
            port=self.port,
            root=self.settings.root,
            tls_port=self.tls_port,
        ).write(self.state_dir)
        if self.settings.save_interval_s > 0:
            # Only now: before Mosquitto installs its handlers, SIGUSR1 would end it.
            self._save_task = asyncio.create_task(self._save_periodically(self._proc))
        logger.info("mosquitto listening on %s:%d (pid %d)", self.host, self.port, self._proc.pid)

    async def _pump_log(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None  # noqa: S101 - we asked for a pipe
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log_lines.append(line)
            del self.log_lines[:-500]
            if "are being dropped" in line:  # a client's queue hit max_queued_bytes
                logger.warning("mosquitto: %s", line)
            else:
                logger.debug("mosquitto: %s", line)

    async def _save_periodically(self, proc: asyncio.subprocess.Process) -> None:
        """Ask Mosquitto to save its database every ``save_interval_s`` (SIGUSR1)."""
        while proc.returncode is None:
            await asyncio.sleep(self.settings.save_interval_s)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGUSR1)

    async def _wait_listening(self, host: str, port: int, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            proc = self._proc
            if proc is not None and proc.returncode is not None:
                if self._log_task is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._log_task, 1.0)
                said = " | ".join(self.log_lines[-5:])
                if "Address already in use" in said:
                    raise _PortTakenError(f"mosquitto could not bind port {port}: {said}")
                raise RuntimeError("mosquitto exited at start: " + said)
            try:
                _reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                if loop.time() > deadline:
                    raise TimeoutError(f"mosquitto did not listen on port {port}") from None
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    async def reload(self, registry: DeviceRegistry) -> None:
        """Add devices: re-render password file and ACL, and make Mosquitto re-read them."""
        self.registry = self.registry.merge(registry)
        render(self.settings, self.registry, self.port, self.tls_port)
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGHUP)

    async def stop(self, *, kill: bool = False) -> None:
        """Stop Mosquitto (SIGTERM saves its persistence database; ``kill`` does not)."""
        proc = self._proc
        if proc is None:
            return
        if self._save_task is not None:
            await cancel_and_wait(self._save_task)
            self._save_task = None
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._log_task, 2.0)
        self._proc = None
        RunningBroker.forget(self.state_dir)

    async def wait(self) -> int:
        """Wait until Mosquitto exits on its own; return its exit code."""
        proc = self._proc
        if proc is None:
            raise RuntimeError("mosquitto is not running: use 'async with ManagedBroker(...)'")
        return await proc.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None
