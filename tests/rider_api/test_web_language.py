"""POST /language: the app's language, and the signed-in rider's (the stop speaks it first)."""

from __future__ import annotations

import uuid

from rider_api.models import Reservation, Rider
from tests.rider_api.conftest import ApiServer


async def _stored_language(api: ApiServer, rider_id: str) -> str:
    async with api.state.sessions() as session:
        rider = await session.get(Rider, uuid.UUID(rider_id))
    assert rider is not None
    return rider.language


async def test_switching_language_is_stored_for_the_rider_and_used_at_once(
    api: ApiServer,
) -> None:
    rider = await api.rider(language="zh-TW")
    cookie = {"Cookie": f"bushail_token={rider['token']}"}
    r = await api.client.post("/language", data={"language": "en", "next": "/find"}, headers=cookie)
    assert r.status_code == 303
    assert r.headers["location"] == "/find"
    assert "bushail_lang=en" in r.headers["set-cookie"]
    assert await _stored_language(api, rider["rider_id"]) == "en"
    # The rider cached by token sees it too: a new booking speaks English first.
    body = {"stop_id": "S2", "route_id": "R1", "direction_id": 0}
    r = await api.client.post("/v1/reservations", json=body, headers=rider["headers"])
    assert r.status_code == 201, r.text
    async with api.state.sessions() as session:
        res = await session.get(Reservation, uuid.UUID(r.json()["id"]))
    assert res is not None
    assert res.rider_lang == "en"


async def test_without_a_rider_only_the_cookie_changes(api: ApiServer) -> None:
    r = await api.client.post("/language", data={"language": "en", "next": "https://evil/"})
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    assert "bushail_lang=en" in r.headers["set-cookie"]
