"""Operator console: access, live board in Chromium (gateway killed and back), broadcast, axe."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from playwright.async_api import Page

from broker_config.messages import (
    Announcement,
    DeviceHealth,
    DeviceState,
    ReservationStatus,
    decode,
    utcnow,
)
from broker_config.topics import TopicKind, Topics
from rider_api.console.live import device_row
from rider_api.console.queries import alerts_pending_acknowledgement
from rider_api.models import Reservation
from rider_api.mqtt.devices import DeviceRecord
from tests.conftest import ConnectFn, Inbox
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer
from tests.support.browser import axe_violations, describe

OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
KEEPALIVE_S = 2

#: The pages (the rest is data): without a session they redirect to the sign-in form.
PAGES = {"/ops", "/ops/quality", "/ops/broadcast", "/ops/audit"}
GET_PATHS = [
    "/ops",
    "/ops/live.json",
    "/ops/live/events",
    "/ops/quality",
    "/ops/quality.json",
    "/ops/quality.csv",
    "/ops/broadcast",
    "/ops/audit",
    "/v1/ops/devices",
    "/v1/ops/reservations",
    "/v1/ops/incidents",
]
BROADCAST = {"target": "stop", "stop_id": "S1", "text_zh": "測試", "text_en": "Test"}


async def book(api: ApiServer, rider: dict[str, object], stop_id: str = "S1") -> str:
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": stop_id, "route_id": "R1", "direction_id": 0},
        headers=rider["headers"],  # type: ignore[arg-type]
    )
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


# -- access ------------------------------------------------------------------------------


async def test_rider_token_gets_403_on_every_ops_page_and_endpoint(api: ApiServer) -> None:
    rider = await api.rider()
    for path in GET_PATHS:
        r = await api.client.get(path, headers=rider["headers"])
        assert r.status_code == 403, path
        # The same token pasted into the console cookie is no session: sign in first.
        r = await api.client.get(path, headers={"Cookie": f"bushail_ops_token={rider['token']}"})
        assert r.status_code == (303 if path in PAGES else 401), path
    r = await api.client.post("/ops/broadcast", data=BROADCAST, headers=rider["headers"])
    assert r.status_code == 403
    r = await api.client.post(
        "/v1/ops/stops/S1/announce",
        json={"text": {"zh-TW": "x", "en": "x"}},
        headers=rider["headers"],
    )
    assert r.status_code == 403
    # And the operator is let in everywhere (the stream is only opened, not read).
    for path in GET_PATHS:
        if path.endswith("/events"):
            continue
        r = await api.client.get(path, headers=OPS)
        assert r.status_code == 200, path


async def test_no_token_redirects_pages_and_refuses_data(api: ApiServer) -> None:
    r = await api.client.get("/ops")
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/login"
    r = await api.client.get("/ops/live.json")
    assert r.status_code == 401
    r = await api.client.get("/ops/login?lang=en")
    assert r.status_code == 200
    assert "Operator sign-in" in r.text
    assert '<html lang="en">' in r.text


async def test_login_sets_a_strict_httponly_session_cookie(api: ApiServer) -> None:
    rider = await api.rider()
    r = await api.client.post("/ops/login", data={"token": rider["token"]})
    assert r.status_code == 403
    assert "set-cookie" not in r.headers
    assert "這個權杖不是營運權杖" in r.text
    r = await api.client.post("/ops/login", data={"token": OPERATOR_TOKEN})
    assert r.status_code == 303
    api.client.cookies.clear()
    cookie = r.headers["set-cookie"]
    # A session id, not the token (tests/rider_api/test_console_sessions.py has the rest).
    assert cookie.startswith("bushail_ops_token=")
    assert OPERATOR_TOKEN not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    session_id = cookie.split(";", 1)[0].split("=", 1)[1]
    r = await api.client.get("/ops", headers={"Cookie": f"bushail_ops_token={session_id}"})
    assert r.status_code == 200


# -- pure pieces -------------------------------------------------------------------------


def test_stale_heartbeat_is_marked_while_the_broker_says_online() -> None:
    now = utcnow()
    rec = DeviceRecord("stop", "S1", state=DeviceState.ONLINE, session=1, since=now)
    rec.health = DeviceHealth(uptime_s=5, queue_depth=3, speaker_ok=False, at=now)
    rec.health_at = now - timedelta(seconds=200)
    row = device_row(rec, now, heartbeat_s=90)
    assert row.state == "stale"
    assert row.speaker == "fail"
    assert row.queue_depth == 3
    rec.health_at = now
    assert device_row(rec, now, heartbeat_s=90).state == "online"
    rec.state = DeviceState.OFFLINE
    assert device_row(rec, now, heartbeat_s=90).state == "offline"


# -- broadcast ---------------------------------------------------------------------------


async def test_broadcast_to_a_route_reaches_its_stops(
    api: ApiServer, connect: ConnectFn, topics: Topics, inbox: Inbox
) -> None:
    listener = await connect("server.api-1", clean_start=True)
    await listener.subscribe(topics.all_of(TopicKind.STOP_ANNOUNCE), inbox)
    form = {
        "target": "route",
        "route_id": "R1",
        "text_zh": "路線改道",
        "text_en": "Detour",
        "priority": "urgent",
    }
    r = await api.client.post("/ops/broadcast?lang=en", data=form, headers=OPS)
    assert r.status_code == 202, r.text
    assert "Sent to 4 stops." in r.text
    got = {}
    for _ in range(4):
        msg = await inbox.get(5)
        got[topics.parse(msg.topic).device_id] = decode(Announcement, msg.payload)
    assert set(got) == {"S1", "S2", "S3", "S4"}
    assert all(a.priority == "urgent" and a.text.en == "Detour" for a in got.values())
    await inbox.expect_nothing()

    r = await api.client.post("/ops/broadcast", data={**form, "target": "all"}, headers=OPS)
    assert r.status_code == 202
    assert "已送到 5 個站牌" in r.text
    r = await api.client.post("/ops/broadcast", data={**BROADCAST, "stop_id": "NOPE"}, headers=OPS)
    assert r.status_code == 422
    assert "沒有這個站牌" in r.text
    r = await api.client.post("/ops/broadcast", data={**BROADCAST, "text_en": " "}, headers=OPS)
    assert r.status_code == 422


# -- live board in Chromium --------------------------------------------------------------


async def sign_in(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/ops/login")
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/ops")


async def gateway_online(api: ApiServer, rider: dict[str, object], rid: str) -> bool | None:
    r = await api.client.get(f"/v1/reservations/{rid}", headers=rider["headers"])  # type: ignore[arg-type]
    assert r.status_code == 200
    value: bool | None = r.json()["gateway_online"]
    return value


@pytest.mark.browser
@pytest.mark.timeout(90)
async def test_killed_gateway_shows_offline_then_online_again(
    api: ApiServer, connect: ConnectFn, topics: Topics, page: Page
) -> None:
    client_id = f"gw-S1-{uuid.uuid4().hex[:6]}"
    options = {
        "status_topic": topics.stop_status("S1"),
        "keepalive_s": KEEPALIVE_S,
        "client_id": client_id,
        "version": "gw-1.2",
    }
    gateway = await connect("stop.S1", **options)
    await gateway.publish(
        topics.stop_health("S1"),
        DeviceHealth(uptime_s=12, queue_depth=2, speaker_ok=True, at=utcnow()),
        qos=0,
    )
    rider = await api.rider()
    rid = await book(api, rider)
    row = 'tr[data-device="stop:S1"]'
    await sign_in(page, api.base_url)
    await page.wait_for_selector(f'{row}[data-state="online"]', timeout=5000)
    await page.wait_for_selector(f'{row}:has-text("gw-1.2")', timeout=5000)
    assert await gateway_online(api, rider, rid) is True

    started = time.monotonic()
    await gateway.abort()
    await page.wait_for_selector(f'{row}[data-state="offline"]', timeout=KEEPALIVE_S * 1.5 * 1000)
    assert time.monotonic() - started <= KEEPALIVE_S * 1.5
    # Operators see it first: the offline stop with a booking leads the incidents.
    first = page.locator("#part-incidents > *").first
    assert await first.get_attribute("id") == "offline-stops"
    await page.wait_for_selector(f'#offline-stops li[data-reservation="{rid}"]')
    # The rider's app is told.
    assert await gateway_online(api, rider, rid) is False

    # Filtering by state keeps the row visible only under "offline".
    await page.select_option("#f-state", "online")
    assert await page.locator(row).is_hidden()
    await page.select_option("#f-state", "offline")
    assert await page.locator(row).is_visible()
    await page.select_option("#f-state", "")

    await connect("stop.S1", **options)
    await page.wait_for_selector(f'{row}[data-state="online"]', timeout=5000)
    await page.wait_for_selector("#offline-stops", state="detached", timeout=5000)
    assert await gateway_online(api, rider, rid) is True


@pytest.mark.browser
async def test_console_pages_have_no_axe_violations(
    api: ApiServer, connect: ConnectFn, topics: Topics, page: Page
) -> None:
    gateway = await connect("stop.S2", status_topic=topics.stop_status("S2"))
    assert gateway.connected
    rider = await api.rider()
    await book(api, rider, "S3")  # S3 has no gateway: an incident row
    await api.client.post("/ops/broadcast", data={**BROADCAST, "text_en": ""}, headers=OPS)
    for lang in ("", "?lang=en"):
        await page.goto(f"{api.base_url}/ops/login{lang}")
        violations = await axe_violations(page)
        assert not violations, describe(violations)
    await sign_in(page, api.base_url)
    for path in ("/ops", "/ops/quality", "/ops/broadcast"):
        for lang in ("", "?lang=en"):
            await page.goto(f"{api.base_url}{path}{lang}")
            if path == "/ops":
                await page.wait_for_selector('tr[data-device="stop:S2"]')
                await page.wait_for_selector("#offline-stops")
            violations = await axe_violations(page)
            assert not violations, f"{path}{lang}: " + describe(violations)
    # The broadcast form's error state, too.
    await page.goto(f"{api.base_url}/ops/broadcast")
    await page.fill("#b-zh", "測試")
    await page.fill("#b-en", "test")
    await page.fill("#b-stop", "NOPE")
    await page.click("form.stack button[type=submit]")
    await page.wait_for_selector("#broadcast-error")
    violations = await axe_violations(page)
    assert not violations, describe(violations)


async def test_live_json_lists_offline_stop_with_booking(api: ApiServer) -> None:
    rider = await api.rider()
    rid = await book(api, rider, "S4")
    r = await api.client.get("/ops/live.json", headers=OPS)
    data = r.json()
    assert [(i["stop_id"], i["reservation_id"], i["reason"]) for i in data["offline_stops"]] == [
        ("S4", rid, "never_seen")
    ]
    assert data["bookings"][0]["id"] == rid
    async with api.state.sessions() as session:
        assert await alerts_pending_acknowledgement(session) == 0  # no bus assigned yet
        res = await session.get(Reservation, uuid.UUID(rid))
        assert res is not None
        res.status = ReservationStatus.ASSIGNED
        res.vehicle_id = "V1"
        res.alerted_at = utcnow()
        await session.commit()
        assert await alerts_pending_acknowledgement(session) == 1
