"""The device registry: which logins exist, their passwords, and the ACL they get.

Every stop of the network gets a gateway login ``stop.{stop_id}``, every vehicle of
the fleet ``vehicle.{vehicle_id}``, every API instance ``server.{instance}`` and a
read-only ``monitor.{instance}`` for its reconcile scan; more monitors (observers,
tools) can be registered by name. The broker binds each connection's client id to its
login (``use_username_as_clientid``), so no login can take over another's session. Passwords
are generated once, kept in ``credentials.json`` (owner-only), and rendered into
Mosquitto's password file as PBKDF2-SHA512 hashes (the ``$7$`` format of
``mosquitto_passwd``). The ACL is derived from the topic table, so the broker's
rights and the topic builders cannot drift apart.

A revoked login (``revoked``: a stolen gateway, a vehicle sold) stays registered but is
left out of the password file and the ACL, so re-rendering, or registering the same
stop again from a feed, does not bring it back; restoring it is a deliberate act
(``broker_config.admin``).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import secrets
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from broker_config.topics import (
    TOPIC_SPECS,
    Owner,
    TopicKind,
    Topics,
    login_for,
    monitor_login,
    validate_id,
)

__all__ = [
    "Credentials",
    "DeviceRegistry",
    "hash_password",
    "new_password",
    "read_gtfs_stop_ids",
    "render_acl",
    "render_password_file",
    "replace_registry",
    "save_security",
    "stored_registry",
    "write_private",
]

_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2.0 password-file hash (``$7$`` = PBKDF2-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    salt_b64 = base64.b64encode(salt).decode()
    return f"$7${_PBKDF2_ITERATIONS}${salt_b64}${base64.b64encode(digest).decode()}"


@dataclass
class DeviceRegistry:
    """The ids of every device that may log in."""

    stops: set[str] = field(default_factory=set)
    vehicles: set[str] = field(default_factory=set)
    servers: set[str] = field(default_factory=lambda: {"api"})
    #: Read-only logins besides each server instance's own (observers, tools).
    monitors: set[str] = field(default_factory=set)
    #: Logins cut off: registered, but in neither the password file nor the ACL.
    revoked: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for stop_id in self.stops:
            validate_id(stop_id, "stop id")
        for vehicle_id in self.vehicles:
            validate_id(vehicle_id, "vehicle id")
        for instance in self.servers:
            validate_id(instance, "server instance")
        for name in self.monitors:
            validate_id(name, "monitor name")

    def monitor_names(self) -> list[str]:
        """Every monitor: one per server instance, then the registered ones."""
        return sorted(self.servers | self.monitors)

    def registered(self) -> list[str]:
        """Every registered login, revoked or not."""
        return (
            [login_for(Owner.SERVER, s) for s in sorted(self.servers)]
            + [monitor_login(m) for m in self.monitor_names()]
            + [login_for(Owner.STOP, s) for s in sorted(self.stops)]
            + [login_for(Owner.VEHICLE, v) for v in sorted(self.vehicles)]
        )

    def logins(self) -> list[str]:
        """The logins that may connect: every registered one not revoked."""
        return [login for login in self.registered() if login not in self.revoked]

    def merge(self, other: DeviceRegistry) -> DeviceRegistry:
        return DeviceRegistry(
            stops=self.stops | other.stops,
            vehicles=self.vehicles | other.vehicles,
            servers=self.servers | other.servers,
            monitors=self.monitors | other.monitors,
            revoked=self.revoked | other.revoked,
        )

    def to_json(self) -> str:
        data = {
            "stops": sorted(self.stops),
            "vehicles": sorted(self.vehicles),
            "servers": sorted(self.servers),
            "monitors": sorted(self.monitors),
        }
        if self.revoked:
            data["revoked"] = sorted(self.revoked)
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> DeviceRegistry:
        data = json.loads(text)
        return cls(
            stops=set(data.get("stops", [])),
            vehicles=set(data.get("vehicles", [])),
            servers=set(data.get("servers", ["api"])),
            monitors=set(data.get("monitors", [])),
            revoked=set(data.get("revoked", [])),
        )


def new_password() -> str:
    """A generated device password: 144 random bits."""
    return secrets.token_urlsafe(18)


class Credentials:
    """Generated device passwords, kept in an owner-only JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._passwords: dict[str, str] = {}
        if path.exists():
            self._passwords = json.loads(path.read_text())

    def password(self, login: str) -> str:
        try:
            return self._passwords[login]
        except KeyError:
            raise KeyError(
                f"no credentials for login {login!r}; is the device registered?"
            ) from None

    def ensure(self, logins: Iterable[str]) -> None:
        """Give every login a password, keeping the ones it already has."""
        for login in logins:
            if login not in self._passwords:
                self._passwords[login] = new_password()

    def rotate(self, login: str) -> str:
        """Give ``login`` a new password (call ``save`` to keep it); return it."""
        self.password(login)  # KeyError for a login that has none
        self._passwords[login] = new_password()
        return self._passwords[login]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._passwords, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._passwords.items())


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once, owner-only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def save_security(
    state_dir: Path,
    registry: DeviceRegistry,
    topics: Topics,
    overrides: Mapping[str, str] | None = None,
) -> DeviceRegistry:
    """Write registry.json, credentials.json, passwd and acl into the state dir.

    ``registry`` is added to the one already stored there (revocations included), and
    the result, which the files describe, is returned.
    """
    reg_path = state_dir / "registry.json"
    if reg_path.exists():
        registry = DeviceRegistry.from_json(reg_path.read_text()).merge(registry)
    write_private(reg_path, registry.to_json())
    creds = Credentials(state_dir / "credentials.json")
    creds.ensure(registry.registered())
    creds.save()
    passwd = render_password_file(creds, registry.logins(), overrides)
    write_private(state_dir / "passwd", passwd)
    write_private(state_dir / "acl", render_acl(registry, topics))
    return registry


def stored_registry(state_dir: Path) -> DeviceRegistry:
    """The registry kept in a broker's state dir (empty if none was rendered there)."""
    path = state_dir / "registry.json"
    return DeviceRegistry.from_json(path.read_text()) if path.exists() else DeviceRegistry()


def replace_registry(
    state_dir: Path,
    registry: DeviceRegistry,
    topics: Topics,
    overrides: Mapping[str, str] | None = None,
) -> None:
    """Store ``registry`` as it is (no merge: a restore removes a revocation) and re-render
    the password file (with ``overrides``, not saved) and ACL from it."""
    write_private(state_dir / "registry.json", registry.to_json())
    save_security(state_dir, DeviceRegistry(servers=set()), topics, overrides)


def render_password_file(
    credentials: Credentials, logins: Iterable[str], overrides: Mapping[str, str] | None = None
) -> str:
    """Mosquitto's password file for ``logins``; ``overrides`` replace some passwords
    (a one-time secret of the admin's, see ``broker_config.admin``)."""
    wanted = set(logins)
    passwords = {**dict(credentials.items()), **(overrides or {})}
    return "".join(
        f"{login}:{hash_password(pw)}\n"
        for login, pw in sorted(passwords.items())
        if login in wanted
    )


def _device_acl(topics: Topics, owner: Owner, device_id: str) -> list[str]:
    lines = [f"user {login_for(owner, device_id)}"]
    for spec in TOPIC_SPECS.values():
        if spec.owner is not owner or spec.kind is TopicKind.SERVER_STATUS:
            continue
        if spec.kind is TopicKind.STOP_CALL:
            topic = topics.stop_calls_filter(device_id)
        elif spec.kind is TopicKind.VEHICLE_ALERT:
            topic = topics.vehicle_alerts_filter(device_id)
        else:
            topic = topics.build(spec.kind, device_id)
        lines.append(f"topic {'write' if spec.device_writes else 'read'} {topic}")
    # Every server's birth and will: a device re-sends its pending events when one
    # comes online (see broker_config.device.receipts).
    lines.append(f"topic read {topics.all_of(TopicKind.SERVER_STATUS)}")
    return lines


def render_acl(registry: DeviceRegistry, topics: Topics) -> str:
    """Mosquitto ACL: servers everything under the root; monitors read it all and write
    only their own space; each device only its own topics; revoked logins nothing."""
    lines = ["# Generated by bushail-broker from the device registry. Do not edit.", ""]
    cut_off = registry.revoked
    for instance in sorted(registry.servers):
        if login_for(Owner.SERVER, instance) in cut_off:
            continue
        lines += [
            f"user {login_for(Owner.SERVER, instance)}",
            f"topic readwrite {topics.everything()}",
        ]
        lines.append("")
    for name in registry.monitor_names():
        if monitor_login(name) in cut_off:
            continue
        lines += [
            f"user {monitor_login(name)}",
            f"topic read {topics.everything()}",
            f"topic readwrite {topics.monitor_space(name)}",
            "",
        ]
    for stop_id in sorted(registry.stops):
        if login_for(Owner.STOP, stop_id) not in cut_off:
            lines += [*_device_acl(topics, Owner.STOP, stop_id), ""]
    for vehicle_id in sorted(registry.vehicles):
        if login_for(Owner.VEHICLE, vehicle_id) not in cut_off:
            lines += [*_device_acl(topics, Owner.VEHICLE, vehicle_id), ""]
    return "\n".join(lines)


def read_gtfs_stop_ids(feed: Path) -> set[str]:
    """The stop_ids of a GTFS feed (zip or folder), for registering stop gateways."""
    if feed.is_dir():
        text = (feed / "stops.txt").read_text(encoding="utf-8-sig")
    else:
        with zipfile.ZipFile(feed) as zf:
            name = next((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == "stops.txt"), None)
            if name is None:
                raise FileNotFoundError(f"{feed}: no stops.txt in the feed")
            text = zf.read(name).decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    ids = {row["stop_id"].strip() for row in reader if row.get("stop_id")}
    for stop_id in ids:
        validate_id(stop_id, "stop id")
    return ids
