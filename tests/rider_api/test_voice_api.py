"""POST /v1/voice/intents through the real server (the parser's full table is elsewhere)."""

from __future__ import annotations

import gc
import warnings

import pytest

from rider_api.network.view import NetworkView
from rider_api.voice.service import VoiceService
from tests.rider_api.conftest import ApiServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True, scope="module")
def _zhconv_loaded() -> None:
    """zhconv leaves its dictionary file open when it first loads it (a ResourceWarning
    that filterwarnings=error turns into a failure): load it once, quietly."""
    from rider_api.voice.normalize import normalize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        normalize("预约")
        gc.collect()


async def test_complete_request_in_chinese_proposes_route_direction_and_stop(
    api: ApiServer,
) -> None:
    rider = await api.rider()
    r = await api.client.post(
        "/v1/voice/intents",
        json={"text": "在站S1搭307往撫遠街", "lang": "zh-TW"},
        headers=rider["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["route_id"], body["direction_id"], body["stop_id"]) == ("R1", 0, "S1")
    assert 0 < body["confidence"] <= 1
    assert "307" in body["prompt"]["zh-TW"]
    assert "307" in body["prompt"]["en"]
    assert len(body["choices"]) <= 3


async def test_english_request_with_spoken_number_and_location(api: ApiServer) -> None:
    rider = await api.rider(language="en")
    lat, lon = 25.0421, 121.5201  # next to S3
    r = await api.client.post(
        "/v1/voice/intents",
        json={"text": "bus three oh seven towards Banqiao", "lang": "en", "lat": lat, "lon": lon},
        headers=rider["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["route_id"], body["direction_id"], body["stop_id"]) == ("R1", 1, "S3")


async def test_unknown_route_is_null_with_a_question(api: ApiServer) -> None:
    rider = await api.rider()
    r = await api.client.post(
        "/v1/voice/intents", json={"text": "999", "lang": "zh-TW"}, headers=rider["headers"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["route_id"] is None
    assert body["prompt"]["zh-TW"]
    assert body["prompt"]["en"]


async def test_needs_a_rider_and_text(api: ApiServer) -> None:
    r = await api.client.post("/v1/voice/intents", json={"text": "307", "lang": "zh-TW"})
    assert r.status_code == 401
    rider = await api.rider()
    r = await api.client.post(
        "/v1/voice/intents", json={"text": "  ", "lang": "zh-TW"}, headers=rider["headers"]
    )
    assert r.status_code == 422


def test_index_is_built_once_per_network_view() -> None:
    voice = VoiceService()
    first_view, second_view = NetworkView(), NetworkView()
    first = voice.index(first_view)
    assert voice.index(first_view) is first
    assert voice.index(second_view) is not first


async def test_unknown_route_offers_every_route_at_the_stop_as_a_choice(api: ApiServer) -> None:
    rider = await api.rider(language="en")
    r = await api.client.post(
        "/v1/voice/intents",
        json={"text": "bus 999 at S2", "lang": "en"},
        headers=rider["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["direction_id"], body["stop_id"]) == (None, "S2")
    assert body["prompt"]["en"].startswith("I could not find route 999.")
    # Only 307 stops at S2, in both directions: one choice each, ready to book.
    assert [(c["route_id"], c["direction_id"], c["stop_id"]) for c in body["choices"]] == [
        ("R1", 0, "S2"),
        ("R1", 1, "S2"),
    ]
    assert body["choices"][0]["label"]["en"] == "Route 307 towards Fuyuan Street, at Stop S2"


async def test_a_misheard_stop_name_is_matched_by_sound(api: ApiServer) -> None:
    rider = await api.rider()
    # 戰 for 站: what a recogniser may write for 站S3 said aloud.
    r = await api.client.post(
        "/v1/voice/intents",
        json={"text": "3 0 7 往板橋 在戰S3上車", "lang": "zh-TW"},
        headers=rider["headers"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["route_id"], body["direction_id"], body["stop_id"]) == ("R1", 1, "S3")
