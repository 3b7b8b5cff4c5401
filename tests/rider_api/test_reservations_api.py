"""Every reservation endpoint's success and error answers, against a real server."""

from __future__ import annotations

import uuid

import pytest

from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer

BOOK = {"stop_id": "S2", "route_id": "R1", "direction_id": 0}


async def test_rider_signup_and_validation(api: ApiServer) -> None:
    rider = await api.rider("Mei", "en")
    assert rider["token"].startswith("bh_")
    assert rider["language"] == "en"
    bad = await api.client.post("/v1/riders", json={"display_name": "", "language": "fr"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    body = bad.json()
    assert body["status"] == 422
    assert {e["field"] for e in body["errors"]} == {"display_name", "language"}


async def test_unauthenticated_is_401_problem(api: ApiServer) -> None:
    for method, path in (
        ("GET", "/v1/reservations"),
        ("POST", "/v1/reservations"),
        ("GET", f"/v1/reservations/{uuid.uuid4()}"),
    ):
        r = await api.client.request(method, path, json=BOOK)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.headers["content-type"] == "application/problem+json"
    r = await api.client.get("/v1/reservations", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_book_get_list_cancel(api: ApiServer) -> None:
    rider = await api.rider()
    r = await api.client.post(
        "/v1/reservations", json={**BOOK, "note": "guide dog"}, headers=rider["headers"]
    )
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["status"] == "pending"
    assert res["stop_name"] == {"zh-TW": "站S2", "en": "Stop S2"}
    assert res["route_name"]["zh-TW"] == "307"
    assert res["headsign"] == {"zh-TW": "撫遠街", "en": "Fuyuan St."}
    assert [h["status"] for h in res["history"]] == ["pending"]

    got = await api.client.get(f"/v1/reservations/{res['id']}", headers=rider["headers"])
    assert got.status_code == 200
    assert got.json()["note"] == "guide dog"
    listed = await api.client.get("/v1/reservations?active=true", headers=rider["headers"])
    assert [x["id"] for x in listed.json()] == [res["id"]]

    cancelled = await api.client.delete(f"/v1/reservations/{res['id']}", headers=rider["headers"])
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert [h["status"] for h in cancelled.json()["history"]] == ["pending", "cancelled"]
    assert cancelled.json()["history"][-1]["cause"] == "cancelled by rider"

    again = await api.client.delete(f"/v1/reservations/{res['id']}", headers=rider["headers"])
    assert again.status_code == 409
    assert again.json()["current_status"] == "cancelled"
    ended = await api.client.get("/v1/reservations?active=false", headers=rider["headers"])
    assert [x["id"] for x in ended.json()] == [res["id"]]
    assert (
        await api.client.get("/v1/reservations?active=true", headers=rider["headers"])
    ).json() == []


async def test_booking_errors_change_nothing(api: ApiServer) -> None:
    rider = await api.rider()
    h = rider["headers"]
    cases = [
        ({**BOOK, "stop_id": "NOPE"}, 404, "stop-not-found"),
        ({**BOOK, "route_id": "NOPE"}, 404, "route-not-found"),
        ({**BOOK, "stop_id": "S9"}, 422, "route-does-not-serve-stop"),
        ({**BOOK, "destination_stop_id": "S1"}, 422, "destination-not-after-stop"),
        ({**BOOK, "destination_stop_id": "S2"}, 422, "destination-not-after-stop"),
        ({**BOOK, "destination_stop_id": "GONE"}, 404, "destination-not-found"),
        ({**BOOK, "direction_id": 2}, 422, "validation-error"),
        ({**BOOK, "stop_id": "bad/id"}, 422, "validation-error"),
        ({"stop_id": "S2"}, 422, "validation-error"),
    ]
    for body, status, code in cases:
        r = await api.client.post("/v1/reservations", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert r.json()["type"].endswith(code), (body, r.json())
        assert r.json()["detail"]
    r = await api.client.post("/v1/reservations", content=b"{not json", headers=h)
    assert r.status_code == 422
    assert (await api.client.get("/v1/reservations", headers=h)).json() == []


async def test_duplicate_active_is_409_but_two_riders_may_book(api: ApiServer) -> None:
    a, b = await api.rider("A"), await api.rider("B")
    assert (
        await api.client.post("/v1/reservations", json=BOOK, headers=a["headers"])
    ).status_code == 201
    dup = await api.client.post("/v1/reservations", json=BOOK, headers=a["headers"])
    assert dup.status_code == 409
    assert dup.json()["type"].endswith("duplicate-active-reservation")
    assert (
        await api.client.post("/v1/reservations", json=BOOK, headers=b["headers"])
    ).status_code == 201


async def test_idempotency_key_replay(api: ApiServer) -> None:
    rider = await api.rider()
    h = {**rider["headers"], "Idempotency-Key": "k-1"}
    first = await api.client.post("/v1/reservations", json=BOOK, headers=h)
    replay = await api.client.post("/v1/reservations", json=BOOK, headers=h)
    assert first.status_code == replay.status_code == 201
    assert first.json()["id"] == replay.json()["id"]
    other = await api.client.post("/v1/reservations", json={**BOOK, "stop_id": "S3"}, headers=h)
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")
    listed = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert len(listed.json()) == 1
    # The key is per rider: another rider may use the same key.
    b = await api.rider("B")
    r = await api.client.post(
        "/v1/reservations", json=BOOK, headers={**b["headers"], "Idempotency-Key": "k-1"}
    )
    assert r.status_code == 201
    assert r.json()["id"] != first.json()["id"]


async def test_limits_are_per_rider(api: ApiServer) -> None:
    rider = await api.rider()
    h = rider["headers"]
    for stop in ("S1", "S2", "S3"):
        r = await api.client.post("/v1/reservations", json={**BOOK, "stop_id": stop}, headers=h)
        assert r.status_code == 201
    r = await api.client.post(
        "/v1/reservations", json={**BOOK, "stop_id": "S4", "direction_id": 1}, headers=h
    )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "60"
    other = await api.rider("Other")
    assert (
        await api.client.post("/v1/reservations", json=BOOK, headers=other["headers"])
    ).status_code == 201


async def test_another_riders_reservation_is_404(api: ApiServer) -> None:
    a, b = await api.rider("A"), await api.rider("B")
    res = (await api.client.post("/v1/reservations", json=BOOK, headers=a["headers"])).json()
    for method in ("GET", "DELETE"):
        r = await api.client.request(method, f"/v1/reservations/{res['id']}", headers=b["headers"])
        assert r.status_code == 404
    r = await api.client.get(f"/v1/reservations/{res['id']}", headers=a["headers"])
    assert r.json()["status"] == "pending"


async def test_operator_endpoints_need_operator_token(api: ApiServer) -> None:
    rider = await api.rider()
    op = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    for path in ("/v1/ops/devices", "/v1/ops/reservations", "/v1/ops/incidents"):
        assert (await api.client.get(path, headers=rider["headers"])).status_code == 403
        assert (await api.client.get(path)).status_code == 401
        assert (await api.client.get(path, headers=op)).status_code == 200
    body = {"text": {"zh-TW": "施工改道", "en": "Detour"}, "priority": "urgent"}
    assert (
        await api.client.post("/v1/ops/stops/S1/announce", json=body, headers=rider["headers"])
    ).status_code == 403
    ok = await api.client.post("/v1/ops/stops/S1/announce", json=body, headers=op)
    assert ok.status_code == 202
    assert ok.json()["text"]["en"] == "Detour"
    missing = await api.client.post("/v1/ops/stops/NOPE/announce", json=body, headers=op)
    assert missing.status_code == 404
    # Operators cannot book as riders.
    assert (await api.client.post("/v1/reservations", json=BOOK, headers=op)).status_code == 403


async def test_healthz_and_metrics(api: ApiServer) -> None:
    r = await api.client.get("/healthz")
    assert r.json()["status"] == "ok"
    assert r.json()["broker_connected"] is True
    # Operators only (tests/rider_api/test_exposure.py has the refusals).
    m = await api.client.get("/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert "bushail_outbox_backlog" in m.text
    assert "bushail_broker_connected 1.0" in m.text


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_database_url
