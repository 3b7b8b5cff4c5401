"""Only the screen's own page can post taps, and every screen response carries the
security headers (issue 14); against a real Mosquitto, over HTTP and in Chromium."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page

from broker_config.broker import ManagedBroker
from broker_config.messages import DriverEvent, DriverEventType, decode
from broker_config.session import MqttSession
from broker_config.topics import Topics
from driver_display.display import DriverDisplay
from driver_display.web import ScreenServer, create_app
from tests.conftest import ConnectFn, Inbox
from tests.driver_display.factories import MakeAlert, running_display, until
from tests.rider_api.test_web_security import auto_post, foreign_site

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
SCRIPTED = {"X-Requested-With": "fetch", "Accept": "application/json"}


@pytest.fixture
async def display(broker: ManagedBroker, tmp_path: Path) -> AsyncIterator[DriverDisplay]:
    async with running_display(broker, tmp_path / "display", "V1") as running:
        yield running


@pytest.fixture
async def screen_url(display: DriverDisplay) -> AsyncIterator[str]:
    async with ScreenServer(create_app(display)) as server:
        yield server.url


@pytest.fixture
async def client(screen_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=screen_url, timeout=10) as http:
        yield http


@pytest.fixture
async def server(connect: ConnectFn) -> MqttSession:
    return await connect("server.api")


async def alert_on_screen(
    display: DriverDisplay, server: MqttSession, topics: Topics, make_alert: MakeAlert
) -> uuid.UUID:
    """A new alert, once the display holds it; its reservation id."""
    alert = make_alert()
    rid: uuid.UUID = alert.reservation_id
    await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
    await until(display, lambda: display.store.view(rid) is not None)
    return rid


async def page_token(client: httpx.AsyncClient) -> str:
    """The screen's secret, read from its page as the page's script reads it."""
    page = (await client.get("/")).text
    found = re.search(r'<meta name="bushail-screen-token" content="([^"]+)">', page)
    assert found is not None
    # Each answer form carries the same one (for a post without script).
    assert set(re.findall(r'name="screen_token" value="([^"]*)"', page)) <= {found[1]}
    return found[1]


async def test_a_tap_without_this_screens_token_is_refused_and_changes_nothing(
    display: DriverDisplay,
    client: httpx.AsyncClient,
    server: MqttSession,
    inbox: Inbox,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    rid = await alert_on_screen(display, server, topics, make_alert)
    token = await page_token(client)
    tap = {"reservation_id": str(rid), "type": "acknowledged", "lang": "en"}

    refused = [
        ({}, {}),  # no token at all (a plain form post)
        (SCRIPTED, {}),  # the script's way, without the token
        ({**SCRIPTED, "X-Screen-Token": "not-" + token}, {}),
        ({**SCRIPTED, "X-Screen-Token": token[:-1]}, {}),
        ({}, {"screen_token": "wrong"}),
        # The right token, sent by another site's page (a stolen copy).
        ({**SCRIPTED, "X-Screen-Token": token, "Origin": "http://evil.example"}, {}),
        ({**SCRIPTED, "X-Screen-Token": token, "Sec-Fetch-Site": "cross-site"}, {}),
        ({"Sec-Fetch-Site": "same-site"}, {"screen_token": token}),
    ]
    for headers, fields in refused:
        r = await client.post("/answers", data={**tap, **fields}, headers=headers)
        assert r.status_code == 403, (headers, fields)
        if headers.get("X-Requested-With") == "fetch":
            assert r.json()["title"] == "Not sent: tap again"
    # Nothing stored, nothing on the card, nothing sent.
    assert display.unsent == 0
    assert display.delivery(rid, DriverEventType.ACKNOWLEDGED) is None

    # The page's own tap: the first event the server receives is this one.
    r = await client.post("/answers", data=tap, headers={**SCRIPTED, "X-Screen-Token": token})
    assert r.status_code == 204, r.text
    event = decode(DriverEvent, (await inbox.get()).payload)
    assert (event.reservation_id, event.type) == (rid, DriverEventType.ACKNOWLEDGED)
    assert display.unsent == 1

    # Without script, the form's own field does it.
    rid2 = await alert_on_screen(display, server, topics, make_alert)
    form = {"reservation_id": str(rid2), "type": "acknowledged", "screen_token": token}
    r = await client.post("/answers", data=form)
    assert r.status_code == 303
    event = decode(DriverEvent, (await inbox.get()).payload)
    assert event.reservation_id == rid2


async def test_a_new_screen_has_a_new_secret(display: DriverDisplay) -> None:
    tokens = set()
    for _ in range(2):
        async with (
            ScreenServer(create_app(display)) as screen,
            httpx.AsyncClient(base_url=screen.url, timeout=10) as http,
        ):
            tokens.add(await page_token(http))
    assert len(tokens) == 2
    assert all(len(t) >= 43 for t in tokens)  # 32 random bytes


async def test_every_screen_response_carries_the_security_headers(
    client: httpx.AsyncClient,
    display: DriverDisplay,
    server: MqttSession,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    rid = await alert_on_screen(display, server, topics, make_alert)
    token = await page_token(client)
    fetch = {**SCRIPTED, "X-Screen-Token": token}
    requests: list[tuple[str, str, dict[str, str] | None, dict[str, str], int]] = [
        ("GET", "/", None, {}, 200),
        ("GET", "/?lang=en&theme=night", None, {}, 200),
        ("GET", "/events", None, {}, 200),
        ("GET", "/healthz", None, {}, 200),
        ("GET", "/static/screen.js", None, {}, 200),
        ("GET", "/static/screen.css", None, {}, 200),
        ("GET", "/static/nope.js", None, {}, 404),
        ("GET", "/nope", None, {}, 404),
        ("GET", "/answers", None, {}, 405),
        ("POST", "/answers", {"reservation_id": str(rid)}, {}, 403),
        ("POST", "/answers", {"reservation_id": "x"}, fetch, 422),
        ("POST", "/answers", None, {"Origin": "http://evil.example"}, 403),
    ]
    for method, url, data, headers, status in requests:
        # The stream is opened, its headers read, and closed.
        async with client.stream(method, url, data=data, headers=headers) as r:
            assert r.status_code == status, f"{method} {url}"
            got = {name: r.headers.get(name) for name in HEADERS}
            assert got == HEADERS, f"{method} {url}"
            policy = r.headers["permissions-policy"]
            assert "microphone=()" in policy
            assert "camera=()" in policy
            assert "strict-transport-security" not in r.headers


@pytest.mark.browser
async def test_another_page_cannot_tap_and_the_screen_can(
    display: DriverDisplay,
    screen_url: str,
    browser: Browser,
    server: MqttSession,
    inbox: Inbox,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    rid = await alert_on_screen(display, server, topics, make_alert)
    context = await browser.new_context(viewport={"width": 1024, "height": 768})
    page: Page = await context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Security Policy" in m.text else None)

    pages: dict[str, str] = {}
    async with foreign_site(pages) as foreign:
        # A page on another loopback port posts the tap the screen would (it cannot
        # know the secret).
        pages["/tap"] = auto_post(
            f"{screen_url}/answers", {"reservation_id": str(rid), "type": "acknowledged"}
        )
        async with page.expect_response(f"{screen_url}/answers") as posted:
            await page.goto(foreign + "/tap")
        assert (await posted.value).status == 403
    assert display.unsent == 0
    assert display.delivery(rid, DriverEventType.ACKNOWLEDGED) is None

    # The screen's own tap, through its script.
    await page.goto(screen_url + "/?lang=en")
    await page.wait_for_selector("#screen[data-live]")
    async with page.expect_response(f"{screen_url}/answers") as tapped:
        await page.locator(
            f'article[data-reservation="{rid}"] button[value="acknowledged"]'
        ).click()
    assert (await tapped.value).status == 204
    event = decode(DriverEvent, (await inbox.get()).payload)
    assert (event.reservation_id, event.type) == (rid, DriverEventType.ACKNOWLEDGED)
    assert display.unsent == 1
    assert violations == []
    await context.close()
