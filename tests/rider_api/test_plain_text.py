"""Free text is one line of plain text: control characters are refused with a clear 422."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rider_api.core.plain_text import check_one_line, control_character_at
from rider_api.models.schemas import AnnouncementCreate, ReservationCreate, RiderCreate
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer

BOOK = {"stop_id": "S2", "route_id": "R1", "direction_id": 0}
OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

PLAIN = [
    "Mei",
    "陳美玲",
    "guide dog, wheelchair (folding) - 2 bags",
    "Zoë Ñúñez",
    "👩‍🦯 white cane",  # a zero-width joiner is not a control character
    "\u00a0non-breaking space",
]
REFUSED = [
    ("Mei\x00", 4, "0000"),
    ("a\tb", 2, "0009"),
    ("line one\nline two", 9, "000A"),
    ("a\rb", 2, "000D"),
    ("\x1b[31mred", 1, "001B"),
    ("a\x7fb", 2, "007F"),
    ("a\x85b", 2, "0085"),
    ("a\x9bb", 2, "009B"),
    ("a\u2028b", 2, "2028"),
    ("a\u2029b", 2, "2029"),
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_passes(text: str) -> None:
    assert control_character_at(text) is None
    assert check_one_line(text) == text


@pytest.mark.parametrize(("text", "position", "code"), REFUSED)
def test_control_characters_are_refused(text: str, position: int, code: str) -> None:
    assert control_character_at(text) == position - 1
    with pytest.raises(ValueError, match=f"U\\+{code} at position {position}"):
        check_one_line(text)


def test_every_free_text_field_refuses_them_and_strips_the_ends() -> None:
    assert RiderCreate(display_name="  Mei\r\n").display_name == "Mei"
    assert ReservationCreate(**BOOK, note="guide dog\n").note == "guide dog"
    for build in (
        lambda: RiderCreate(display_name="M\x00ei"),
        lambda: ReservationCreate(**BOOK, note="guide\ndog"),
        lambda: AnnouncementCreate.model_validate({"text": {"zh-TW": "改\x00道", "en": "x"}}),
        lambda: AnnouncementCreate.model_validate({"text": {"zh-TW": "改道", "en": "a\x1bb"}}),
    ):
        with pytest.raises(ValidationError) as caught:
            build()
        assert caught.value.errors()[0]["type"] == "control_character"


def _field_errors(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["message"] for e in body["errors"]}


async def test_api_refuses_nul_in_a_name(api: ApiServer) -> None:
    r = await api.client.post("/v1/riders", json={"display_name": "Mei\u0000Lin"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "https://bushail.org/problems/validation-error"
    message = _field_errors(body)["display_name"]
    assert "without control characters" in message
    assert "U+0000 at position 4" in message
    assert "display_name" in body["detail"]


async def test_api_refuses_control_characters_in_a_note(api: ApiServer) -> None:
    rider = await api.rider()
    for note in ("guide\u0000dog", "guide\ndog", "guide\u0085dog"):
        r = await api.client.post(
            "/v1/reservations", json={**BOOK, "note": note}, headers=rider["headers"]
        )
        assert r.status_code == 422, note
        assert "without control characters" in _field_errors(r.json())["note"]
    listed = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert listed.json() == []
    ok = await api.client.post(
        "/v1/reservations", json={**BOOK, "note": " guide dog\n"}, headers=rider["headers"]
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["note"] == "guide dog"


async def test_api_refuses_control_characters_and_blanks_in_announcements(
    api: ApiServer,
) -> None:
    url = "/v1/ops/stops/S1/announce"
    bad_text = {"text": {"zh-TW": "施工\u0000改道", "en": "Detour"}}
    r = await api.client.post(url, json=bad_text, headers=OPS)
    assert r.status_code == 422
    assert "without control characters" in _field_errors(r.json())["text.zh-TW"]
    blank = {"text": {"zh-TW": "施工改道", "en": "  "}}
    r = await api.client.post(url, json=blank, headers=OPS)
    assert r.status_code == 422
    assert "text.en" in _field_errors(r.json())
    too_long = {"text": {"zh-TW": "施" * 501, "en": "Detour"}}
    assert (await api.client.post(url, json=too_long, headers=OPS)).status_code == 422
    ok = await api.client.post(
        url, json={"text": {"zh-TW": "施工改道", "en": "Detour"}}, headers=OPS
    )
    assert ok.status_code == 202
    assert ok.json()["text"] == {"zh-TW": "施工改道", "en": "Detour"}
