"""``bushail-broker``: render, password, help, and run as a managed child."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from broker_config.broker import free_port
from broker_config.cli import main
from broker_config.registry import Credentials
from broker_config.session import BrokerEndpoint, MqttSession
from broker_config.topics import Topics


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    folder = tmp_path / "gtfs"
    folder.mkdir()
    (folder / "stops.txt").write_text("stop_id,stop_name\nTPE-1001,City Hall\nTPE-1002,Zoo\n")
    return folder


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BUSHAIL_BROKER_"):
            monkeypatch.delenv(name)


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for word in ("run", "render", "password", "BUSHAIL_BROKER_"):
        assert word in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--feed" in capsys.readouterr().out


def test_render_registers_feed_stops_and_vehicles(
    tmp_path: Path, feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    devices = ["--feed", str(feed), "--vehicles", "3", "--servers", "api", "api2"]
    code = main(["render", "--state-dir", str(state), "--port", "18833", *devices])
    assert code == 0
    conf = Path(capsys.readouterr().out.strip())
    assert conf == state.resolve() / "mosquitto.conf"
    assert "listener 18833 127.0.0.1" in conf.read_text()
    registry = json.loads((state / "registry.json").read_text())
    assert registry == {
        "stops": ["TPE-1001", "TPE-1002"],
        "vehicles": ["BUS-001", "BUS-002", "BUS-003"],
        "servers": ["api", "api2"],
        "monitors": [],
    }
    acl = (state / "acl").read_text()
    assert "user stop.TPE-1002" in acl
    assert "user vehicle.BUS-003" in acl
    assert "user monitor.api2" in acl  # each server instance's read-only scan login
    assert stat.S_IMODE((state / "credentials.json").stat().st_mode) == 0o600

    # Rendering again with a named vehicle adds it and keeps every password.
    before = dict(Credentials(state / "credentials.json").items())
    assert main(["render", "--state-dir", str(state), "--vehicle-id", "KKA-1234"]) == 0
    after = dict(Credentials(state / "credentials.json").items())
    assert {k: after[k] for k in before} == before
    assert "vehicle.KKA-1234" in after


def test_password_prints_the_devices_password(
    tmp_path: Path, feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert main(["render", "--state-dir", str(state), "--feed", str(feed)]) == 0
    capsys.readouterr()
    assert main(["password", "stop.TPE-1001", "--state-dir", str(state)]) == 0
    printed = capsys.readouterr().out
    assert printed == Credentials(state / "credentials.json").password("stop.TPE-1001") + "\n"
    assert len(printed.strip()) >= 20


def test_password_of_unknown_login_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert main(["password", "stop.X", "--state-dir", str(state)]) == 1
    assert "render" in capsys.readouterr().err
    assert main(["render", "--state-dir", str(state)]) == 0
    assert main(["password", "stop.X", "--state-dir", str(state)]) == 1
    err = capsys.readouterr().err
    assert "unknown login 'stop.X'" in err
    assert "沒有帳號" in err


@pytest.mark.parametrize(
    "args",
    [["--vehicle-id", "bad/id"], ["--vehicles", "-1"], ["--tls-port", "18834"]],
)
def test_render_refuses_bad_input(
    tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--state-dir", str(tmp_path / "s"), *args]) == 1
    assert "bushail-broker:" in capsys.readouterr().err


def test_vehicles_and_vehicle_id_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["render", "--vehicles", "2", "--vehicle-id", "A"])
    assert exited.value.code == 2


async def test_run_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "broker_config.cli",
        "run",
        "--state-dir",
        str(state),
        "--port",
        str(port),
        "--vehicle-id",
        "V1",
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        while b"mosquitto runs on" not in await asyncio.wait_for(proc.stderr.readline(), 15):
            assert proc.returncode is None
        password = Credentials(state / "credentials.json").password("vehicle.V1")
        endpoint = BrokerEndpoint("127.0.0.1", port, "vehicle.V1", password)
        async with MqttSession(endpoint) as session:
            await session.wait_connected(10)
            await session.publish(Topics().vehicle_events("V1"), b"hello", qos=1, timeout=5)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # Mosquitto saved its persistence database on the way out and left no child behind.
    assert (state / "data" / "mosquitto.db").exists()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
