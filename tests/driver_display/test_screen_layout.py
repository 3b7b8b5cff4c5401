"""The onboard screen at its real sizes (800x480, 1024x600) in headless Chromium: the card
that waits for an answer is pinned on top, whole, with its buttons and stop name on
screen, with many cards and after a tap; it reads route, direction, needs; axe is clean.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page

from broker_config.broker import ManagedBroker
from broker_config.messages import (
    DriverAlert,
    DriverEvent,
    DriverEventType,
    Localized,
    ReservationStatus,
    RiderNeed,
    decode,
)
from broker_config.session import MqttSession
from broker_config.topics import Topics
from driver_display.display import DriverDisplay
from driver_display.web import ScreenServer, create_app
from tests.conftest import ConnectFn, Inbox
from tests.driver_display.factories import MakeAlert, running_display
from tests.support.browser import axe_violations, describe

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
ROUTE = Localized.model_validate({"zh-TW": "307", "en": "307"})
HEADSIGN = Localized.model_validate({"zh-TW": "撫遠街", "en": "Fuyuan St."})
LONG_NOTE = (
    "Seat near the door, please. I have a white cane and a large bag; I wait at the "
    "north end of the shelter, by the ticket machine, in a red coat. Thank you, driver!"
)[:200]
#: Set to a folder to keep a screenshot of each size (for a person to look at).
SHOTS = os.environ.get("BUSHAIL_SCREEN_SHOTS")


@pytest.fixture
async def display(broker: ManagedBroker, tmp_path: Path) -> AsyncIterator[DriverDisplay]:
    async with running_display(broker, tmp_path / "display", "V1") as running:
        yield running


@pytest.fixture
async def screen_url(display: DriverDisplay) -> AsyncIterator[str]:
    async with ScreenServer(create_app(display)) as server:
        yield server.url


@pytest.fixture
async def server(connect: ConnectFn) -> MqttSession:
    return await connect("server.api")


def _card(rid: object) -> str:
    return f'article[data-reservation="{rid}"]'


async def _fully_on_screen(page: Page, target: Locator, what: str) -> None:
    """``target`` lies inside the viewport and nothing covers its middle (a tap there
    reaches it), with the page not scrolled."""
    box = await target.bounding_box()
    assert box is not None, f"{what} is not rendered"
    size = page.viewport_size
    assert size is not None
    inside = (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )
    assert inside, f"{what} is not inside the {size['width']}x{size['height']} screen: {box}"
    on_top = await target.evaluate(
        """el => {
            const r = el.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return hit !== null && (hit === el || el.contains(hit));
        }"""
    )
    assert on_top, f"{what} is covered by another element"


async def _pinned_is_whole(page: Page, alert: DriverAlert) -> None:
    """The pinned card is ``alert``'s, whole on screen: the card, its stop name, every
    button (and the page itself needs no scrolling)."""
    pinned = page.locator(f".pinned {_card(alert.reservation_id)}")
    await pinned.wait_for()
    await _fully_on_screen(page, pinned, "the pinned card")
    await _fully_on_screen(page, pinned.locator(".stop"), "its stop name")
    buttons = pinned.locator("form.buttons:not(.reasons) button.answer, summary.answer")
    assert await buttons.count() >= 2
    for i in range(await buttons.count()):
        button = buttons.nth(i)
        await _fully_on_screen(page, button, f"button {await button.inner_text()!r}")
        box = await button.bounding_box()
        assert box is not None
        assert box["height"] >= 48
    overflow = await page.evaluate(
        "document.scrollingElement.scrollHeight - document.scrollingElement.clientHeight"
    )
    assert overflow <= 0, f"the page scrolls by {overflow}px"


async def _publish(server: MqttSession, topics: Topics, *alerts: DriverAlert) -> None:
    for alert in alerts:
        await server.publish(topics.vehicle_alert("V1", alert.reservation_id), alert, retain=True)


def _busy_bus(make_alert: MakeAlert) -> list[DriverAlert]:
    """The measured screen: a drop-off without a time and an acknowledged pick-up come
    first in stop order, the card waiting for a tap after them, then more."""
    route = {"route_id": "R1", "route_name": ROUTE, "headsign": HEADSIGN}
    return [
        make_alert(
            stop_id="S2",
            stop_sequence=2,
            kind="dropoff",
            status=ReservationStatus.RIDING,
            eta_s=None,
            previous_stop_name=Localized.model_validate(
                {"zh-TW": "臺北車站", "en": "Taipei Main Station"}
            ),
            **route,
        ),
        make_alert(stop_id="S3", stop_sequence=3, status=ReservationStatus.ACKNOWLEDGED, **route),
        make_alert(
            stop_id="S4",
            stop_sequence=5,
            eta_s=420,
            # As long as a note may be (200), with every need: still whole at 800x480.
            note=LONG_NOTE,
            needs=list(RiderNeed),
            destination_name=Localized.model_validate({"zh-TW": "圓山站", "en": "Yuanshan"}),
            **route,
        ),
        make_alert(stop_id="S5", stop_sequence=8, eta_s=900, **route),
        make_alert(stop_id="S6", stop_sequence=9, status=ReservationStatus.CANCELLED, **route),
        make_alert(stop_id="S7", stop_sequence=11, status=ReservationStatus.ACKNOWLEDGED, **route),
    ]


@pytest.mark.parametrize(
    ("width", "height", "theme", "lang"),
    [
        (800, 480, "day", "en"),
        (800, 480, "night", "zh-TW"),
        (1024, 600, "day", "zh-TW"),
        (1024, 600, "night", "en"),
    ],
)
async def test_the_card_to_answer_is_pinned_whole_and_the_next_after_a_tap(
    display: DriverDisplay,
    screen_url: str,
    browser: Browser,
    server: MqttSession,
    inbox: Inbox,
    topics: Topics,
    make_alert: MakeAlert,
    width: int,
    height: int,
    theme: str,
    lang: str,
) -> None:
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    alerts = _busy_bus(make_alert)
    dropoff, _acked, waiting, after, _ended, _far = alerts
    await _publish(server, topics, *alerts)
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{screen_url}/?lang={lang}&theme={theme}")
    await page.wait_for_selector("#screen[data-live]")
    for alert in alerts:
        await page.locator(_card(alert.reservation_id)).wait_for()
    assert await page.locator("article").count() == len(alerts)

    # The card waiting for the driver is on top, whole, though three stops come first.
    if SHOTS:
        await page.screenshot(path=f"{SHOTS}/first-{width}x{height}-{theme}-{lang}.png")
    await _pinned_is_whole(page, waiting)
    pinned = page.locator(f".pinned {_card(waiting.reservation_id)}")
    text = await pinned.inner_text()
    words = {
        "en": [
            "307 to Fuyuan St.",
            "Guide dog",
            "Wheelchair: ramp",
            "Help boarding",
            "Gets off at Yuanshan",
            "7 min away",
            "Seat near the door",
        ],
        "zh-TW": [
            "307 往 撫遠街",
            "導盲犬",
            "輪椅：放斜坡板",
            "協助上車",
            "在「圓山站」下車",
            "約 7 分鐘",
        ],
    }[lang]
    for expected in words:
        assert expected in text, f"{expected!r} not on the card: {text!r}"
    # Icons are decoration: each need's words are its text.
    assert await pinned.locator(".need svg[aria-hidden='true']").count() == len(RiderNeed)
    # The drop-off says what to do, not "time unknown".
    drop = await page.locator(_card(dropoff.reservation_id)).inner_text()
    assert ("Let the rider off" in drop) if lang == "en" else ("請讓乘客在此站下車" in drop)
    assert "Time unknown" not in drop
    assert "時間未定" not in drop
    assert "Taipei Main Station" in drop or "臺北車站" in drop
    if SHOTS:
        await page.screenshot(path=f"{SHOTS}/screen-{width}x{height}-{theme}-{lang}.png")

    # "Can't stop": every reason on screen without scrolling, over the card.
    await pinned.locator("summary").click()
    reasons = pinned.locator("button.reason")
    assert await reasons.count() == 4
    for i in range(4):
        await _fully_on_screen(page, reasons.nth(i), f"reason {i}")
    if SHOTS:
        await page.screenshot(path=f"{SHOTS}/reasons-{width}x{height}-{theme}-{lang}.png")
    await pinned.locator("summary").click()
    await pinned.locator("button.reason").first.wait_for(state="hidden")

    # The list beneath scrolled down, as a driver's thumb leaves it; then one tap.
    await page.locator(".others").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await pinned.locator('button[value="acknowledged"]').click()
    event = decode(DriverEvent, (await inbox.get()).payload)
    assert (event.reservation_id, event.type) == (
        waiting.reservation_id,
        DriverEventType.ACKNOWLEDGED,
    )
    # The next card to answer takes the top at once, its stop name and buttons on screen.
    await _pinned_is_whole(page, after)
    assert await page.locator(f".others {_card(waiting.reservation_id)}").count() == 1

    if SHOTS:
        await page.locator(".others").evaluate("el => { el.scrollTop = 0; }")
        await page.screenshot(path=f"{SHOTS}/tapped-{width}x{height}-{theme}-{lang}.png")
    violations = await axe_violations(page)
    assert violations == [], describe(violations)
