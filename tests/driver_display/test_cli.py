"""``bushail-display``: help, settings from options, and a full run against the broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker_config.broker import ManagedBroker
from broker_config.messages import DeviceState, DeviceStatus, decode
from broker_config.topics import Topics
from driver_display.cli import build_parser, main, run, settings_from_args
from tests.conftest import ConnectFn, Inbox


def test_help_names_the_vehicle_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--vehicle VEHICLE_ID" in out
    assert "BUSHAIL_DISPLAY_" in out


def test_options_override_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSHAIL_DISPLAY_VEHICLE_ID", "FROM-ENV")
    monkeypatch.setenv("BUSHAIL_DISPLAY_LANG", "en")
    args = build_parser().parse_args(["--vehicle", "KKA-1234", "--no-screen", "--http-port", "0"])
    settings = settings_from_args(args)
    assert settings.vehicle_id == "KKA-1234"
    assert settings.lang == "en"
    assert settings.serve_screen is False
    assert settings.http_port == 0


def test_missing_vehicle_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUSHAIL_DISPLAY_VEHICLE_ID", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


async def test_run_comes_online_and_goes_offline(
    broker: ManagedBroker, connect: ConnectFn, inbox: Inbox, topics: Topics, tmp_path: Path
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_status("V2"), inbox)
    args = build_parser().parse_args(
        [
            "--vehicle=V2",
            f"--broker-port={broker.port}",
            f"--credentials-file={broker.state_dir / 'credentials.json'}",
            f"--state-dir={tmp_path}",
            "--http-port=0",
            "--audio=text",
        ]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings_from_args(args), stop))
    assert decode(DeviceStatus, (await inbox.get(10)).payload).state is DeviceState.ONLINE
    stop.set()
    await asyncio.wait_for(task, 10)
    assert decode(DeviceStatus, (await inbox.get()).payload).state is DeviceState.OFFLINE
    assert (tmp_path / "V2" / "taps.sqlite3").exists()
