"""The rendered Mosquitto configuration, password file and ACL."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from broker_config.broker import BrokerSettings, ManagedBroker, free_port, render
from broker_config.registry import (
    Credentials,
    DeviceRegistry,
    hash_password,
    read_gtfs_stop_ids,
)
from broker_config.session import BrokerEndpoint, MqttSession
from broker_config.topics import TopicKind, Topics

REGISTRY = DeviceRegistry(stops={"S1", "S2"}, vehicles={"V1"}, servers={"api"})


def _conf_lines(conf: Path) -> list[str]:
    return [line.strip() for line in conf.read_text().splitlines()]


def _verify(line: str, password: str) -> bool:
    """Check one password-file line the way Mosquitto 2 does ($7$ = PBKDF2-SHA512)."""
    _login, encoded = line.rstrip("\n").split(":", 1)
    empty, kind, iterations, salt_b64, digest_b64 = encoded.split("$")
    assert (empty, kind) == ("", "7")
    digest = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt_b64), int(iterations)
    )
    return digest == base64.b64decode(digest_b64)


@pytest.fixture
def settings(tmp_path: Path) -> BrokerSettings:
    return BrokerSettings(state_dir=tmp_path / "state", port=0)


def test_config_refuses_anonymous_and_persists(settings: BrokerSettings) -> None:
    conf = render(settings, REGISTRY, 18830)
    lines = _conf_lines(conf)
    assert "allow_anonymous false" in lines
    assert "persistence true" in lines
    assert "per_listener_settings false" in lines
    assert f"persistence_location {settings.state_dir.resolve() / 'data'}/" in lines
    assert f"password_file {settings.state_dir.resolve() / 'passwd'}" in lines
    assert f"acl_file {settings.state_dir.resolve() / 'acl'}" in lines
    assert "listener 18830 127.0.0.1" in lines
    queued = next(int(x.split()[1]) for x in lines if x.startswith("max_queued_messages "))
    assert queued >= 100_000
    # Bounded by bytes, generously: a count cap would drop a burst of small messages first.
    queued_bytes = next(int(x.split()[1]) for x in lines if x.startswith("max_queued_bytes "))
    assert queued_bytes >= 16 * 1024 * 1024
    assert [x for x in lines if x.startswith("listener")] == ["listener 18830 127.0.0.1"]


def test_secret_files_are_owner_only(settings: BrokerSettings) -> None:
    render(settings, REGISTRY, 18830)
    state = settings.state_dir.resolve()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("passwd", "acl", "credentials.json", "mosquitto.conf", "registry.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name


def test_password_file_hashes_verify(settings: BrokerSettings) -> None:
    render(settings, REGISTRY, 18830)
    state = settings.state_dir.resolve()
    creds = Credentials(state / "credentials.json")
    lines = (state / "passwd").read_text().splitlines()
    assert sorted(line.split(":", 1)[0] for line in lines) == sorted(REGISTRY.logins())
    for line in lines:
        login = line.split(":", 1)[0]
        assert _verify(line, creds.password(login))
        assert not _verify(line, creds.password(login) + "x")
        assert creds.password(login) not in line


def test_hash_format_is_the_one_mosquitto_passwd_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    passwd = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(passwd), "someone", "s3cret"], check=True, timeout=10)
    theirs = passwd.read_text().strip()
    # Our verifier accepts mosquitto_passwd's own line, so both use the same scheme ...
    assert _verify(theirs, "s3cret")
    # ... with the same shape: $7$<iterations>$<16 base64 salt>$<88 base64 digest>.
    ours = "someone:" + hash_password("s3cret")
    assert [len(p) for p in theirs.split("$")] == [len(p) for p in ours.split("$")]
    assert theirs.split("$")[2] == ours.split("$")[2]


def test_rerender_keeps_passwords_and_adds_devices(settings: BrokerSettings) -> None:
    render(settings, REGISTRY, 18830)
    state = settings.state_dir.resolve()
    before = dict(Credentials(state / "credentials.json").items())
    render(settings, DeviceRegistry(vehicles={"V9"}), 18830)
    after = dict(Credentials(state / "credentials.json").items())
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {"vehicle.V9"}
    registry = json.loads((state / "registry.json").read_text())
    assert registry["vehicles"] == ["V1", "V9"]
    assert "user vehicle.V9" in (state / "acl").read_text()


def test_acl_lists_each_device_and_only_its_topics(settings: BrokerSettings) -> None:
    render(settings, REGISTRY, 18830)
    acl = (settings.state_dir.resolve() / "acl").read_text()
    topics = Topics()
    assert "pattern" not in acl  # no %u/%c patterns: every right is spelled out
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n") if "user" in b}
    assert blocks["user server.api"] == [f"topic readwrite {topics.everything()}"]
    s1 = blocks["user stop.S1"]
    assert f"topic read {topics.stop_calls_filter('S1')}" in s1
    assert f"topic write {topics.stop_events('S1')}" in s1
    servers = f"topic read {topics.all_of(TopicKind.SERVER_STATUS)}"
    assert s1[-1] == servers  # the servers' births, read-only
    assert all("/stops/S1/" in line for line in s1[:-1])
    assert blocks["user monitor.api"] == [
        f"topic read {topics.everything()}",
        f"topic readwrite {topics.monitor_space('api')}",
    ]


def test_optional_listeners(settings: BrokerSettings, tmp_path: Path) -> None:
    settings = settings.model_copy(
        update={
            "websocket_port": 18831,
            "tls_port": 18832,
            "tls_certfile": tmp_path / "c.pem",
            "tls_keyfile": tmp_path / "k.pem",
            "tls_cafile": tmp_path / "ca.pem",
        }
    )
    text = render(settings, REGISTRY, 18830).read_text()
    bound = "use_username_as_clientid true"
    assert f"listener 18831 127.0.0.1\nprotocol websockets\n{bound}" in text
    assert (
        f"listener 18832 127.0.0.1\nprotocol mqtt\n{bound}\ncertfile {tmp_path / 'c.pem'}\n"
        f"keyfile {tmp_path / 'k.pem'}\ncafile {tmp_path / 'ca.pem'}"
    ) in text
    plain = render(BrokerSettings(state_dir=tmp_path / "plain"), REGISTRY, 18830).read_text()
    assert "websockets" not in plain
    assert "certfile" not in plain


def test_tls_listener_needs_a_certificate(settings: BrokerSettings) -> None:
    with pytest.raises(ValueError, match="tls_certfile"):
        render(settings.model_copy(update={"tls_port": 18832}), REGISTRY, 18830)


async def test_tls_and_websocket_listeners_run(tmp_path: Path) -> None:
    """Mosquitto accepts the rendered optional listeners, and a device logs in over TLS."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    settings = BrokerSettings(
        state_dir=tmp_path / "state",
        port=0,
        websocket_port=free_port(),
        tls_port=free_port(),
        tls_certfile=cert,
        tls_keyfile=key,
    )
    async with ManagedBroker(settings, REGISTRY) as broker:
        plain = broker.endpoint("stop.S1")
        assert settings.tls_port is not None
        endpoint = BrokerEndpoint(
            plain.host, settings.tls_port, plain.username, plain.password, True, str(cert)
        )
        async with MqttSession(endpoint) as session:
            await session.wait_connected(10)
            await session.publish(Topics().stop_events("S1"), b"over tls", qos=1, timeout=5)


def test_gtfs_stop_ids(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "stops.txt").write_text(
        "\ufeffstop_id,stop_name\nTPE-1001,City Hall\nTPE-1002,Zoo\n", encoding="utf-8"
    )
    assert read_gtfs_stop_ids(feed) == {"TPE-1001", "TPE-1002"}
    (feed / "stops.txt").write_text("stop_id,stop_name\nbad id,x\n")
    with pytest.raises(ValueError, match="bad id"):
        read_gtfs_stop_ids(feed)
