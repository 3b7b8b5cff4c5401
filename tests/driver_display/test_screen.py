"""The onboard screen in headless Chromium, against a real Mosquitto and a server login."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from broker_config.broker import ManagedBroker
from broker_config.messages import (
    CannotStopReason,
    DriverEvent,
    DriverEventType,
    ReservationStatus,
    decode,
)
from broker_config.session import MqttSession
from broker_config.topics import Topics
from driver_display.display import DriverDisplay
from driver_display.web import ScreenServer, create_app
from tests.conftest import ConnectFn, Inbox
from tests.driver_display.factories import MakeAlert, running_display, send_receipt
from tests.support.browser import axe_violations, describe

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000


@pytest.fixture
async def display(broker: ManagedBroker, tmp_path: Path) -> AsyncIterator[DriverDisplay]:
    async with running_display(broker, tmp_path / "display", "V1") as running:
        yield running


@pytest.fixture
async def screen_url(display: DriverDisplay) -> AsyncIterator[str]:
    async with ScreenServer(create_app(display)) as server:
        yield server.url


@pytest.fixture
async def page(browser: Browser) -> Page:
    """A tab of the onboard screen's size (its context is closed by ``browser``)."""
    context = await browser.new_context(viewport={"width": 1024, "height": 768})
    tab = await context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    return tab


@pytest.fixture
async def server(connect: ConnectFn) -> MqttSession:
    return await connect("server.api")


async def _open(page: Page, url: str) -> None:
    await page.goto(url)
    # The first SSE event has been applied: the page is live.
    await page.wait_for_selector("#screen[data-live]")


def _card(rid: object, status: str | None = None) -> str:
    selector = f'article[data-reservation="{rid}"]'
    return selector + (f'[data-status="{status}"]' if status else "")


async def test_alert_appears_acknowledge_publishes_and_card_changes(
    display: DriverDisplay,
    screen_url: str,
    page: Page,
    server: MqttSession,
    inbox: Inbox,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    await _open(page, screen_url + "/?lang=en")
    alert = make_alert(seq=1, note="guide dog", eta_s=240)
    rid = alert.reservation_id
    await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)

    card = page.locator(_card(rid, "assigned"))
    await card.wait_for()
    text = await card.inner_text()
    for expected in ("Pick-up", "臺北車站", "Taipei Main Station", "4 min away", "guide dog"):
        assert expected in text
    button = card.locator('button[value="acknowledged"]')
    box = await button.bounding_box()
    assert box is not None
    assert box["height"] >= 48
    assert box["width"] >= 48

    await button.click()
    event = decode(DriverEvent, (await inbox.get()).payload)
    assert event.reservation_id == rid
    assert event.type is DriverEventType.ACKNOWLEDGED
    # The tap is on the card at once, "sending" until the server's receipt.
    await page.locator(_card(rid) + ' .answered[data-delivery="sending"]').wait_for()
    assert "Sending: Acknowledge" in await card.inner_text()
    assert await card.locator('button[value="acknowledged"]').count() == 0
    assert await page.locator('#link[data-unsent="1"]').count() == 1
    assert "1 answer not yet delivered" in await page.locator("#link").inner_text()
    await send_receipt(server, "V1", event.id)
    await page.locator(_card(rid) + ' .answered[data-delivery="recorded"]').wait_for()
    assert "Recorded: Acknowledge" in await card.inner_text()
    await page.locator('#link[data-unsent="0"]').wait_for()

    acked = alert.model_copy(update={"seq": 2, "status": ReservationStatus.ACKNOWLEDGED})
    await server.publish(topics.vehicle_alert("V1", rid), acked, retain=True)
    new_card = page.locator(_card(rid, "acknowledged"))
    await new_card.wait_for()
    assert "Acknowledged" in await new_card.locator(".status").inner_text()
    await inbox.expect_nothing()


async def test_cannot_stop_with_a_reason(
    display: DriverDisplay,
    screen_url: str,
    page: Page,
    server: MqttSession,
    inbox: Inbox,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    alert = make_alert(status=ReservationStatus.AT_STOP)
    rid = alert.reservation_id
    await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
    await _open(page, screen_url + "/?lang=zh-TW")
    card = page.locator(_card(rid, "at_stop"))
    await card.wait_for()
    assert await card.locator('button[value="boarded"]').count() == 1
    assert await card.locator('button[value="no_show"]').count() == 1
    assert await card.locator('button[value="acknowledged"]').count() == 0
    await card.locator("summary").click()
    await card.locator('button[value="bus_full"]').click()
    event = decode(DriverEvent, (await inbox.get()).payload)
    assert event.type is DriverEventType.CANNOT_STOP
    assert event.reason is CannotStopReason.BUS_FULL
    await page.locator(_card(rid) + ' .answered[data-delivery="sending"]').wait_for()
    assert "送出中：無法停靠" in await card.inner_text()
    await send_receipt(server, "V1", event.id)
    await page.locator(_card(rid) + ' .answered[data-delivery="recorded"]').wait_for()
    assert "已記錄：無法停靠" in await card.inner_text()


async def test_a_refused_tap_shows_the_servers_reason_on_its_card(
    display: DriverDisplay,
    screen_url: str,
    page: Page,
    server: MqttSession,
    inbox: Inbox,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    alert = make_alert(status=ReservationStatus.AT_STOP)
    rid = alert.reservation_id
    await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
    await _open(page, screen_url + "/?lang=en")
    card = page.locator(_card(rid, "at_stop"))
    await card.locator('button[value="boarded"]').click()
    event = decode(DriverEvent, (await inbox.get()).payload)
    await send_receipt(server, "V1", event.id, "refused", "the booking is cancelled")
    await page.locator(_card(rid) + ' .answered[data-delivery="refused"]').wait_for()
    assert "Not accepted: Boarded (the booking is cancelled)" in await card.inner_text()


async def test_cleared_alert_disappears_and_order_follows_stops(
    display: DriverDisplay,
    screen_url: str,
    page: Page,
    server: MqttSession,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    far = make_alert(stop_id="S3", stop_sequence=9)
    near = make_alert(stop_id="S2", stop_sequence=4)
    for alert in (far, near):
        await server.publish(topics.vehicle_alert("V1", alert.reservation_id), alert, retain=True)
    await _open(page, screen_url)
    await page.locator(_card(near.reservation_id)).wait_for()
    await page.locator(_card(far.reservation_id)).wait_for()
    order = await page.locator("article").evaluate_all(
        "cards => cards.map(c => c.dataset.reservation)"
    )
    assert order == [str(near.reservation_id), str(far.reservation_id)]
    assert await page.locator(_card(near.reservation_id) + ".next").count() == 1

    await server.publish(topics.vehicle_alert("V1", near.reservation_id), b"", retain=True)
    await page.locator(_card(near.reservation_id)).wait_for(state="detached")
    assert await page.locator(_card(far.reservation_id) + ".next").count() == 1


async def test_malformed_alert_does_not_reach_the_screen(
    display: DriverDisplay,
    screen_url: str,
    page: Page,
    server: MqttSession,
    topics: Topics,
    make_alert: MakeAlert,
) -> None:
    await _open(page, screen_url + "/?lang=en")
    bad = make_alert()
    await server.publish(topics.vehicle_alert("V1", bad.reservation_id), b"{not json", retain=True)
    good = make_alert(stop_id="S4")
    await server.publish(topics.vehicle_alert("V1", good.reservation_id), good, retain=True)
    await page.locator(_card(good.reservation_id)).wait_for()
    assert await page.locator(_card(bad.reservation_id)).count() == 0
    assert display.malformed_count == 1


@pytest.mark.parametrize("lang", ["zh-TW", "en"])
@pytest.mark.parametrize("theme", ["day", "night"])
async def test_no_axe_violations(
    display: DriverDisplay,
    screen_url: str,
    page: Page,
    server: MqttSession,
    topics: Topics,
    make_alert: MakeAlert,
    lang: str,
    theme: str,
) -> None:
    alerts = [
        make_alert(stop_id="S1", stop_sequence=2, status=ReservationStatus.AT_STOP, note="導盲犬"),
        make_alert(stop_id="S2", stop_sequence=5),
        make_alert(stop_id="S3", stop_sequence=7, kind="dropoff", status="alighting"),
        make_alert(stop_id="S4", stop_sequence=9, status=ReservationStatus.CANCELLED),
    ]
    for alert in alerts:
        await server.publish(topics.vehicle_alert("V1", alert.reservation_id), alert, retain=True)
    await _open(page, f"{screen_url}/?lang={lang}&theme={theme}")
    for alert in alerts:
        await page.locator(_card(alert.reservation_id)).wait_for()
    assert await page.evaluate("document.documentElement.lang") == lang
    assert await page.evaluate("document.documentElement.dataset.theme") == theme
    # A tap waiting for its receipt and one refused are on the checked page too.
    waiting = await display.answer(alerts[1].reservation_id, DriverEventType.ACKNOWLEDGED)
    refused = await display.answer(alerts[2].reservation_id, DriverEventType.ALIGHTED)
    await send_receipt(server, "V1", refused.id, "refused", "the booking is completed")
    await page.locator(_card(alerts[2].reservation_id) + ' [data-delivery="refused"]').wait_for()
    assert display.delivery(alerts[1].reservation_id, waiting.type) is not None
    # The reason list open too, so its buttons are checked.
    await page.locator(_card(alerts[0].reservation_id) + " summary").click()
    violations = await axe_violations(page)
    assert violations == [], describe(violations)
