"""Rotate, revoke and restore device logins, on a running broker or a stopped one.

``DeviceAdmin(state_dir, root=...)`` changes the files in a broker's state dir
(``credentials.json``, ``registry.json``, then ``passwd`` and ``acl`` re-rendered) and,
when a managed broker runs from that dir, makes Mosquitto re-read them (SIGHUP). Any
process with the state dir can use it: ``bushail-broker device ...``, the managed
broker itself (``ManagedBroker.devices``), an operator console.

What Mosquitto 2.0 does on that reload (measured on 2.0.11, see docs/tls.md): it checks
every connected client against the new password file and closes the connection of each
whose login is gone or whose password changed, within about 0.1 s. It sends no last
will for a connection closed that way, so a revoked device would still show ``online``.
A revocation therefore goes in three steps:

1. the device's password is replaced, in the password file only, by a one-time secret
   of this call's; the reload closes the device's connection and nobody else can log
   in as it. The previous password is then tried and must be refused: that confirms
   the reload (if it is still accepted, the reload is not applied yet; it is tried
   again, for at most ``confirm_timeout_s``);
2. with the one-time secret, in the device's name, the retained ``offline`` status is
   published (with a newer session number), on a clean start with no session expiry,
   which also ends the device's persistent session;
3. the login is removed from the password file and the ACL, and Mosquitto reloads.

A revoked login stays in the registry (``revoked``) with its password, so rendering
again, or registering its stop from a feed, does not bring it back; ``restore`` does,
with the same password or (``new_password=True``, for a device recovered after a
theft) a new one. Server and monitor logins are rotated, never revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from broker_config.const import (
    DEFAULT_ROOT,
    DEVICE_SESSION_EXPIRY_S,
    STOP_LOGIN_PREFIX,
    VEHICLE_LOGIN_PREFIX,
)
from broker_config.endpoint import BrokerEndpoint, SessionOptions
from broker_config.errors import ConnectRefusedError, MqttError
from broker_config.messages import DeviceState, DeviceStatus, utcnow
from broker_config.registry import (
    Credentials,
    replace_registry,
    stored_registry,
    write_private,
)
from broker_config.registry import new_password as one_time_secret
from broker_config.session import MqttSession
from broker_config.topics import Topics

__all__ = [
    "DeviceAdmin",
    "LoginChange",
    "LoginState",
    "NotRevocableError",
    "RunningBroker",
    "UnknownLoginError",
]

logger = logging.getLogger(__name__)

_RUNNING_FILE = "running.json"
#: How long a change waits for the broker to refuse the previous password.
DEFAULT_CONFIRM_TIMEOUT_S = 5.0


class UnknownLoginError(ValueError):
    """No such login is registered in the broker's state dir."""


class NotRevocableError(ValueError):
    """Only device logins (stop gateways, vehicles) are revoked."""


class ChangeKind(StrEnum):
    ROTATED = "rotated"
    REVOKED = "revoked"
    RESTORED = "restored"


@dataclass(frozen=True, slots=True)
class LoginChange:
    """What a rotate, revoke or restore did."""

    login: str
    kind: ChangeKind
    #: A running managed broker re-read its password file and ACL.
    reloaded: bool
    #: The broker refused the login's previous password afterwards; None: not checked
    #: (no broker running, or a restore with the same password).
    old_password_refused: bool | None
    #: Seconds from the reload to the refusal (None when not checked).
    confirmed_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class LoginState:
    login: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class RunningBroker:
    """The Mosquitto a ManagedBroker runs from a state dir (``running.json`` there)."""

    pid: int
    conf: Path
    #: Where a local client reaches the plain-text listener.
    host: str
    port: int
    root: str = DEFAULT_ROOT
    tls_port: int | None = None

    def write(self, state_dir: Path) -> None:
        data = {
            "pid": self.pid,
            "conf": str(self.conf),
            "host": self.host,
            "port": self.port,
            "root": self.root,
            "tls_port": self.tls_port,
        }
        write_private(state_dir / _RUNNING_FILE, json.dumps(data, indent=1))

    @staticmethod
    def forget(state_dir: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            (state_dir / _RUNNING_FILE).unlink()

    @classmethod
    def find(cls, state_dir: Path) -> RunningBroker | None:
        """The broker running from ``state_dir``, or None (none, or a stale file)."""
        try:
            data = json.loads((state_dir / _RUNNING_FILE).read_text())
            running = cls(
                pid=int(data["pid"]),
                conf=Path(data["conf"]),
                host=str(data["host"]),
                port=int(data["port"]),
                root=str(data.get("root", DEFAULT_ROOT)),
                tls_port=data.get("tls_port"),
            )
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        return running if running.alive() else None

    def alive(self) -> bool:
        """True if ``pid`` is still a Mosquitto running our config (never signal a pid
        some other program took over)."""
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return str(self.conf).encode() in cmdline

    def reload(self) -> bool:
        """Ask Mosquitto to re-read its password file and ACL; False if it is gone."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, signal.SIGHUP)
        except ProcessLookupError:
            return False
        return True


def _status_topic(topics: Topics, login: str) -> str:
    if login.startswith(STOP_LOGIN_PREFIX):
        return topics.stop_status(login.removeprefix(STOP_LOGIN_PREFIX))
    return topics.vehicle_status(login.removeprefix(VEHICLE_LOGIN_PREFIX))


def revocable(login: str) -> bool:
    """Device logins are revoked; server and monitor logins only rotated."""
    return login.startswith((STOP_LOGIN_PREFIX, VEHICLE_LOGIN_PREFIX))


class DeviceAdmin:
    """Rotate, revoke and restore logins of the broker whose state dir is ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        *,
        root: str = DEFAULT_ROOT,
        confirm_timeout_s: float = DEFAULT_CONFIRM_TIMEOUT_S,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.root = root
        self.confirm_timeout_s = confirm_timeout_s

    def credentials(self) -> Credentials:
        return Credentials(self.state_dir / "credentials.json")

    def logins(self) -> list[LoginState]:
        """Every registered login and whether it is revoked."""
        registry = stored_registry(self.state_dir)
        return [LoginState(login, login in registry.revoked) for login in registry.registered()]

    def _check_registered(self, login: str) -> None:
        if login not in stored_registry(self.state_dir).registered():
            raise UnknownLoginError(
                f"unknown login {login!r}: not registered in {self.state_dir} "
                "(register the device with 'bushail-broker render --feed/--vehicle-id' first)"
            )

    def _running(self) -> RunningBroker | None:
        return RunningBroker.find(self.state_dir)

    def _topics(self) -> Topics:
        running = self._running()
        # The ACL must use the topic root the running broker enforces.
        return Topics(running.root if running is not None else self.root)

    def _rerender(
        self,
        *,
        revoke: str | None = None,
        restore: str | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        registry = stored_registry(self.state_dir)
        if revoke is not None:
            registry.revoked.add(revoke)
        if restore is not None:
            registry.revoked.discard(restore)
        replace_registry(self.state_dir, registry, self._topics(), overrides)

    async def rotate(self, login: str) -> LoginChange:
        """Give ``login`` a new password; the old one is refused from now on.

        A device connected with the old password is disconnected by the reload: give it
        the new password (``bushail-broker password LOGIN``) and restart it.
        """
        self._check_registered(login)
        creds = self.credentials()
        old = creds.password(login)
        creds.rotate(login)
        creds.save()
        self._rerender()
        logger.info("login %s: password rotated", login)
        return await self._apply(login, ChangeKind.ROTATED, old)

    async def revoke(self, login: str) -> LoginChange:
        """Cut ``login`` off: refused from now on, its live connection closed, its status
        ``offline`` (see the module docstring for the three steps)."""
        self._check_registered(login)
        if not revocable(login):
            raise NotRevocableError(
                f"{login!r} is not a device login: server and monitor logins are rotated "
                "('bushail-broker device rotate'), not revoked"
            )
        logger.warning("login %s: revoking", login)
        running = self._running()
        if running is None or login in stored_registry(self.state_dir).revoked:
            self._rerender(revoke=login)
            return await self._apply(login, ChangeKind.REVOKED, None)
        old = self.credentials().password(login)
        once = one_time_secret()
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            self._rerender(overrides={login: once})
            running.reload()
            old_refused = await self._refuses(running, login, old)
            await self._farewell(running, login, once)
        finally:
            # Whatever happened above, the login ends up removed.
            self._rerender(revoke=login)
            running.reload()
        removed = await self._refuses(running, login, once)
        confirmed = old_refused and removed
        return LoginChange(
            login,
            ChangeKind.REVOKED,
            reloaded=True,
            old_password_refused=confirmed,
            confirmed_after_s=round(loop.time() - began, 3) if confirmed else None,
        )

    async def _farewell(self, running: RunningBroker, login: str, password: str) -> None:
        """Publish the retained ``offline`` status in ``login``'s name and end its session."""
        topic = _status_topic(Topics(running.root), login)
        endpoint = BrokerEndpoint(running.host, running.port, login, password)
        options = SessionOptions(
            client_id=login, clean_start=True, session_expiry_s=0, root=running.root
        )
        # Newer than the session number of any connection the device made before now.
        status = DeviceStatus(
            state=DeviceState.OFFLINE,
            session=time.time_ns() // 1_000_000,
            version="revoked",
            started_at=utcnow(),
        )
        try:
            async with MqttSession(endpoint, options) as session:
                await session.wait_connected(self.confirm_timeout_s)
                await session.publish(
                    topic, status, qos=1, retain=True, timeout=self.confirm_timeout_s
                )
        except (MqttError, TimeoutError) as exc:
            logger.warning("login %s: its offline status was not published: %s", login, exc)

    async def restore(self, login: str, *, new_password: bool = False) -> LoginChange:
        """Undo a revocation; ``new_password`` also rotates (a device back from a theft)."""
        self._check_registered(login)
        creds = self.credentials()
        old = creds.password(login)
        if new_password:
            creds.rotate(login)
            creds.save()
        self._rerender(restore=login)
        logger.info("login %s: restored%s", login, " with a new password" if new_password else "")
        return await self._apply(login, ChangeKind.RESTORED, old if new_password else None)

    async def _apply(self, login: str, kind: ChangeKind, old: str | None) -> LoginChange:
        running = self._running()
        if running is None or not running.reload():
            logger.info("no broker runs from %s: the change applies at its start", self.state_dir)
            return LoginChange(login, kind, reloaded=False, old_password_refused=None)
        if old is None:
            return LoginChange(login, kind, reloaded=True, old_password_refused=None)
        loop = asyncio.get_running_loop()
        began = loop.time()
        refused = await self._refuses(running, login, old, keep_session=True)
        return LoginChange(
            login,
            kind,
            reloaded=True,
            old_password_refused=refused,
            confirmed_after_s=round(loop.time() - began, 3) if refused else None,
        )

    async def _refuses(
        self, running: RunningBroker, login: str, password: str, *, keep_session: bool = False
    ) -> bool:
        """Connect as ``login`` with ``password`` until the broker refuses it (bounded).

        Accepted (the reload not applied yet), the connection takes over the device's
        session: ``keep_session`` resumes it and leaves it as it was (what it receives
        is not acknowledged, so the device gets it again), else it is ended.
        """
        endpoint = BrokerEndpoint(running.host, running.port, login, password)
        options = SessionOptions(
            client_id=login,
            clean_start=not keep_session,
            session_expiry_s=DEVICE_SESSION_EXPIRY_S if keep_session else 0,
            root=running.root,
            reconnect_min_s=0.05,
            reconnect_max_s=0.2,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_timeout_s
        while loop.time() < deadline:
            async with MqttSession(endpoint, options) as probe:
                try:
                    await probe.wait_connected(max(0.1, deadline - loop.time()))
                except ConnectRefusedError:
                    return True
                except TimeoutError:
                    break
            logger.info("login %s: still accepted; waiting for the broker's reload", login)
            await asyncio.sleep(0.05)
        logger.error(
            "login %s: the broker still accepts the previous password after %.1f s",
            login,
            self.confirm_timeout_s,
        )
        return False
