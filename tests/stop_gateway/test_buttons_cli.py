"""Route specs and files for booking without a phone; the console script's help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stop_gateway.announcements import Bilingual
from stop_gateway.buttons import load_routes_file, parse_route_spec
from stop_gateway.cli import build_parser, main
from stop_gateway.settings import GatewaySettings


def test_route_spec() -> None:
    route = parse_route_spec("R30:1:紅30:Red 30:捷運劍潭站:MRT Jiantan")
    assert (route.route_id, route.direction_id) == ("R30", 1)
    assert route.name == Bilingual("紅30", "Red 30")
    assert route.headsign == Bilingual("捷運劍潭站", "MRT Jiantan")
    assert parse_route_spec("307:0:307:307").headsign is None
    for bad in ("307:2:307:307", "307:0:307", "3 07:0:a:b"):
        with pytest.raises(ValueError, match=r"direction_id|expected|not allowed"):
            parse_route_spec(bad)


def test_routes_file(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(
        json.dumps(
            [
                {
                    "route_id": "307",
                    "direction_id": 0,
                    "name": "307",
                    "headsign": {"zh-TW": "板橋", "en": "Banqiao"},
                },
                {"route_id": "B9", "direction_id": 1, "name": {"zh-TW": "棕9", "en": "Brown 9"}},
            ]
        ),
        encoding="utf-8",
    )
    routes = load_routes_file(path)
    assert [(r.route_id, r.direction_id, r.name.zh_tw) for r in routes] == [
        ("307", 0, "307"),
        ("B9", 1, "棕9"),
    ]
    path.write_text('[{"route_id": "307", "direction_id": 5}]', encoding="utf-8")
    with pytest.raises(ValueError, match="direction_id"):
        load_routes_file(path)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSHAIL_GATEWAY_STOP_ID", "S9")
    monkeypatch.setenv("BUSHAIL_GATEWAY_AUDIO_SINK", "text")
    monkeypatch.setenv("BUSHAIL_GATEWAY_LANGUAGES", '["en", "zh-TW"]')
    settings = GatewaySettings()
    assert (settings.stop_id, settings.audio_sink, settings.first_language) == ("S9", "text", "en")


def test_cli_help_and_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    text = build_parser().format_help()
    for word in ("--stop", "--route", "--audio-sink", "BUSHAIL_GATEWAY_", "--keyboard"):
        assert word in text
    assert main(["--stop", "bad/id", "--audio-sink", "text"]) == 2
    assert "invalid settings" in capsys.readouterr().err


def test_console_script_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stop_gateway.cli", "--help"],
        capture_output=True,
        check=True,
        timeout=30,
        text=True,
    )
    assert "bushail-gateway" in done.stdout
