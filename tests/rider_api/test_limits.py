"""The HTTP body limit: 413 problem+json for a body too large, declared or streamed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from rider_api.core.limits import BodyLimitMiddleware
from rider_api.settings import ApiSettings
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiFactory, ApiServer

pytestmark = pytest.mark.timeout(60)

BOOK = {"stop_id": "S2", "route_id": "R1", "direction_id": 0}
LIMIT = 4096


@pytest.fixture
async def small_api(make_api: ApiFactory) -> ApiServer:
    """The API with a 4 KiB body limit, so over-limit bodies stay small."""
    return await make_api(mqtt=False, max_body_bytes=LIMIT)


def _assert_too_large(status: int, headers: Any, body: dict[str, Any], path: str) -> None:
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert body["type"] == "https://bushail.org/problems/body-too-large"
    assert body["title"] == "Content too large"
    assert body["status"] == 413
    assert body["instance"] == path
    assert body["max_body_bytes"] == LIMIT
    assert "4 KiB" in body["detail"]


async def _chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


def test_default_limit_and_its_floor() -> None:
    assert ApiSettings().max_body_bytes == 64 * 1024
    with pytest.raises(ValueError, match="greater than or equal to 1024"):
        ApiSettings(max_body_bytes=10)
    with pytest.raises(ValueError, match="positive"):
        BodyLimitMiddleware(lambda *_: None, max_body_bytes=0)  # type: ignore[arg-type]


async def test_declared_length_over_the_limit_is_413(small_api: ApiServer) -> None:
    rider = await small_api.rider()
    body = {**BOOK, "note": "x" * LIMIT}
    r = await small_api.client.post("/v1/reservations", json=body, headers=rider["headers"])
    _assert_too_large(r.status_code, r.headers, r.json(), "/v1/reservations")
    # Refused before the application ran: no booking was made.
    listed = await small_api.client.get("/v1/reservations", headers=rider["headers"])
    assert listed.json() == []


async def test_a_huge_declared_body_is_refused_without_being_read(small_api: ApiServer) -> None:
    url = urlsplit(small_api.base_url)
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        # 50 MB announced, none sent: the answer must not wait for the body.
        writer.write(
            b"POST /v1/riders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 413 Request Entity Too Large"
        headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)}
        assert headers["connection"] == "close"
        payload = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
        body = json.loads(payload)
        assert body["type"] == "https://bushail.org/problems/body-too-large"
        assert "52428800 bytes" in body["detail"]
    finally:
        writer.close()
        await writer.wait_closed()


async def test_streamed_body_over_the_limit_is_cut_off_with_413(small_api: ApiServer) -> None:
    rider = await small_api.rider()
    r = await small_api.client.post(
        "/v1/reservations",
        content=_chunks(LIMIT + 1),
        headers={**rider["headers"], "Content-Type": "application/json"},
    )
    assert "content-length" not in r.request.headers  # sent chunked
    _assert_too_large(r.status_code, r.headers, r.json(), "/v1/reservations")


async def test_form_over_the_limit_is_413(small_api: ApiServer) -> None:
    r = await small_api.client.post(
        "/start", data={"display_name": "x" * LIMIT, "language": "en"}, follow_redirects=False
    )
    _assert_too_large(r.status_code, r.headers, r.json(), "/start")


async def test_streamed_body_within_the_limit_books(small_api: ApiServer) -> None:
    rider = await small_api.rider()

    async def body() -> AsyncIterator[bytes]:
        text = json.dumps(BOOK).encode()
        for i in range(0, len(text), 8):
            yield text[i : i + 8]

    r = await small_api.client.post(
        "/v1/reservations",
        content=body(),
        headers={**rider["headers"], "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text


async def test_normal_booking_and_the_largest_legitimate_bodies_pass(api: ApiServer) -> None:
    rider = await api.rider("美" * 80)
    note = "導盲犬🦮" * 40  # 200 characters, 4-byte ones among them
    r = await api.client.post(
        "/v1/reservations", json={**BOOK, "note": note}, headers=rider["headers"]
    )
    assert r.status_code == 201, r.text
    assert r.json()["note"] == note
    # The operator's broadcast form at its longest: 2 x 500 characters, percent-encoded.
    form = {"target": "all", "text_zh": "🚌" * 500, "text_en": "🚌" * 500, "priority": "info"}
    sent = await api.client.post(
        "/ops/broadcast", data=form, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )
    assert sent.status_code == 202, sent.text
    assert len(sent.request.content) < ApiSettings().max_body_bytes // 4
