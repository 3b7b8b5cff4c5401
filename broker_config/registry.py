"""The device registry: which logins exist, their passwords, and the ACL they get.

Every stop of the network gets a gateway login ``stop.{stop_id}``, every vehicle of
the fleet ``vehicle.{vehicle_id}``, every API instance ``server.{instance}``. Passwords
are generated once, kept in ``credentials.json`` (owner-only), and rendered into
Mosquitto's password file as PBKDF2-SHA512 hashes (the ``$7$`` format of
``mosquitto_passwd``). The ACL is derived from the topic table, so the broker's
rights and the topic builders cannot drift apart.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from broker_config.topics import TOPIC_SPECS, Owner, TopicKind, Topics, login_for, validate_id

__all__ = [
    "Credentials",
    "DeviceRegistry",
    "hash_password",
    "read_gtfs_stop_ids",
    "render_acl",
    "render_password_file",
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

    def __post_init__(self) -> None:
        for stop_id in self.stops:
            validate_id(stop_id, "stop id")
        for vehicle_id in self.vehicles:
            validate_id(vehicle_id, "vehicle id")
        for instance in self.servers:
            validate_id(instance, "server instance")

    def logins(self) -> list[str]:
        return (
            [login_for(Owner.SERVER, s) for s in sorted(self.servers)]
            + [login_for(Owner.STOP, s) for s in sorted(self.stops)]
            + [login_for(Owner.VEHICLE, v) for v in sorted(self.vehicles)]
        )

    def merge(self, other: DeviceRegistry) -> DeviceRegistry:
        return DeviceRegistry(
            stops=self.stops | other.stops,
            vehicles=self.vehicles | other.vehicles,
            servers=self.servers | other.servers,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "stops": sorted(self.stops),
                "vehicles": sorted(self.vehicles),
                "servers": sorted(self.servers),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> DeviceRegistry:
        data = json.loads(text)
        return cls(
            stops=set(data.get("stops", [])),
            vehicles=set(data.get("vehicles", [])),
            servers=set(data.get("servers", ["api"])),
        )


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
                self._passwords[login] = secrets.token_urlsafe(18)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._passwords, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._passwords.items())


def render_password_file(credentials: Credentials, logins: Iterable[str]) -> str:
    wanted = set(logins)
    return "".join(
        f"{login}:{hash_password(pw)}\n" for login, pw in credentials.items() if login in wanted
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
    return lines


def render_acl(registry: DeviceRegistry, topics: Topics) -> str:
    """Mosquitto ACL: servers everything under the root; each device only its own topics."""
    lines = ["# Generated by bushail-broker from the device registry. Do not edit.", ""]
    for instance in sorted(registry.servers):
        lines += [
            f"user {login_for(Owner.SERVER, instance)}",
            f"topic readwrite {topics.everything()}",
        ]
        lines.append("")
    for stop_id in sorted(registry.stops):
        lines += [*_device_acl(topics, Owner.STOP, stop_id), ""]
    for vehicle_id in sorted(registry.vehicles):
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
