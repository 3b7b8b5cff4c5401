"""The rider web app in headless Chromium: keyboard-only booking, live status, axe."""

from __future__ import annotations

import gc
import uuid
import warnings
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from rider_api.models import Reservation
from rider_api.mqtt.devices import DeviceRecord
from rider_api.reservations.booking import cancel_reservation
from rider_api.reservations.lifecycle import Trigger
from tests.rider_api.conftest import ApiServer
from tests.support.browser import axe_violations, describe
from tests.support.waiting import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True, scope="module")
def _zhconv_loaded() -> None:
    """zhconv leaves its dictionary file open on first use (a ResourceWarning that
    filterwarnings=error turns into a failure): load it once, quietly."""
    from rider_api.voice.normalize import normalize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        normalize("预约")
        gc.collect()


async def signed_in(
    browser: Browser, api: ApiServer, language: str, **options: Any
) -> tuple[BrowserContext, dict[str, Any]]:
    rider = await api.rider(language=language)
    context = await browser.new_context(locale="en-US" if language == "en" else "zh-TW", **options)
    await context.add_cookies(
        [
            {"name": "bushail_token", "value": rider["token"], "url": api.base_url},
            {"name": "bushail_lang", "value": language, "url": api.base_url},
        ]
    )
    return context, rider


async def tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until ``selector`` has the focus (keyboard only)."""
    for _ in range(limit):
        if await page.evaluate("s => document.activeElement.matches(s)", selector):
            return
        await page.keyboard.press("Tab")
    pytest.fail(f"Tab never reached {selector}")


async def book_by_api(api: ApiServer, rider: dict[str, Any], stop: str = "S1") -> str:
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": stop, "route_id": "R1", "direction_id": 0},
        headers=rider["headers"],
    )
    assert r.status_code == 201, r.text
    reservation_id: str = r.json()["id"]
    return reservation_id


def speaker_offline(api: ApiServer, stop_id: str) -> None:
    """The stop's gateway was heard of and is offline (as after its last will)."""
    api.state.devices.records[("stop", stop_id)] = DeviceRecord("stop", stop_id)


async def assert_accessible(page: Page, what: str) -> None:
    violations = await axe_violations(page)
    assert not violations, f"{what}: {describe(violations)}"


async def test_whole_flow_by_keyboard_alone(api: ApiServer, browser: Browser) -> None:
    speaker_offline(api, "S1")
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    await page.goto(api.base_url + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "en")

    # Start: a name, nothing else to remember.
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip")).to_be_focused()
    await tab_to(page, "#display_name")
    await page.keyboard.type("Mei")
    await tab_to(page, "#language-en")
    await page.keyboard.press("Space")
    await tab_to(page, "form[action='/start'] button")
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_have_text("Hello, Mei")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["bushail_token"]["httpOnly"] is True
    assert cookies["bushail_token"]["sameSite"] == "Lax"

    # Find the stop by name; 台/臺 and language do not matter to the search.
    await tab_to(page, "#q")
    await page.keyboard.type("stop s1")
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_have_text("Stops found")
    await tab_to(page, "a[href='/stop/S1']")
    await page.keyboard.press("Enter")

    # Route and direction, as a rider says it.
    await expect(page.locator("h1")).to_have_text("Board at Stop S1")
    await expect(page.locator("label[for='choice-0']")).to_have_text("307 towards Fuyuan St.")
    await tab_to(page, "#choice-0")
    await page.keyboard.press("Space")
    await tab_to(page, "form[action='/book'] button")
    await page.keyboard.press("Enter")

    # Review: optional destination, then confirm.
    await expect(page.locator("h1")).to_have_text("Review your booking")
    await tab_to(page, "#confirm")
    await page.keyboard.press("Enter")

    heading = page.locator("#trip-heading")
    await expect(heading).to_contain_text("Booked: 307 towards Fuyuan St., boarding at Stop S1")
    await expect(heading).to_be_focused()
    await expect(page.locator("#trip-status")).to_have_text("Waiting for a bus to be assigned")
    # The stop's gateway is offline: the rider is told the speaker will not announce.
    await expect(page.locator("#gateway-warning")).to_be_visible()

    await tab_to(page, "#cancel")
    await page.keyboard.press("Enter")
    # Cancelling asks first (tests/rider_api/test_web_trip.py covers the confirmation).
    await expect(page.locator("h1")).to_have_text("Cancel this booking?")
    await tab_to(page, "#cancel-yes")
    await page.keyboard.press("Enter")
    await expect(page.locator("#trip-status")).to_have_text("Cancelled")
    await expect(page.locator(".notice")).to_have_text("Your booking is cancelled.")
    await expect(page.locator("#trip-heading")).to_be_focused()
    await expect(page.locator("#cancel")).to_have_count(0)
    await context.close()


async def _apply(api: ApiServer, reservation_id: str, trigger: Trigger, **kw: Any) -> None:
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, uuid.UUID(reservation_id))
        assert res is not None
        api.state.changes.apply(uow, res, trigger, "test", **kw)


async def _eta(api: ApiServer, reservation_id: str, eta_s: int) -> None:
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, uuid.UUID(reservation_id))
        assert res is not None
        res.eta_s = eta_s
        api.state.changes.refresh(uow, res)


_RECORD = """
window.__said = [];
new MutationObserver(() => {
  for (const id of ['live-status', 'live-alert']) {
    const el = document.getElementById(id);
    const last = window.__said.filter(s => s[0] === id).pop();
    if (el && el.textContent && (!last || last[1] !== el.textContent)) {
      window.__said.push([id, el.textContent]);
    }
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


async def test_status_regions_follow_the_reservation(api: ApiServer, browser: Browser) -> None:
    context, rider = await signed_in(browser, api, "en")
    await context.add_init_script(_RECORD)
    page = await context.new_page()
    reservation_id = await book_by_api(api, rider)
    await page.goto(f"{api.base_url}/trip/{reservation_id}")
    await expect(page.locator("#live-status")).to_have_attribute("role", "status")
    await expect(page.locator("#live-alert")).to_have_attribute("role", "alert")
    await eventually(api.state.notifier.listener_count, what="the trip page listens for changes")
    polite, alert = page.locator("#live-status"), page.locator("#live-alert")

    await _apply(api, reservation_id, Trigger.ASSIGN, vehicle_id="KKA-1234")
    await expect(polite).to_have_text("A bus is assigned: KKA-1234.")
    await _apply(api, reservation_id, Trigger.ACK)
    await expect(polite).to_have_text("The driver confirmed and will stop for you.")
    await _eta(api, reservation_id, 290)
    await expect(polite).to_have_text("Your bus is about 5 minutes away.")
    await expect(page.locator("#trip-eta")).to_have_text("about 5 min")
    await _eta(api, reservation_id, 250)  # an ETA tick: shown, not announced
    await expect(page.locator("#trip-eta")).to_have_text("about 5 min")
    await _eta(api, reservation_id, 170)
    await expect(polite).to_have_text("Your bus is about 3 minutes away.")
    await _eta(api, reservation_id, 50)
    await expect(polite).to_have_text("Your bus is about 1 minute away.")
    await expect(alert).to_have_text("")
    await _apply(api, reservation_id, Trigger.STOPPED)
    await expect(alert).to_have_text("Your bus is at the stop now!")
    await _apply(api, reservation_id, Trigger.MISS, vehicle_id=None)
    await expect(polite).to_have_text("The last bus was missed. Waiting for the next one.")
    await _apply(api, reservation_id, Trigger.ASSIGN, vehicle_id="KKA-5678")
    await expect(alert).to_have_text("The last bus was missed. The next bus is assigned: KKA-5678.")
    await cancel_reservation(
        api.state, reservation_id=uuid.UUID(reservation_id), rider=None, cause="operator"
    )
    cancelled = "Booking status: Cancelled. If you still want to go, book the next bus below."
    await expect(polite).to_have_text(cancelled)
    await expect(page.locator("#trip-status")).to_have_text("Cancelled")

    said = await page.evaluate("window.__said")
    assert [text for region, text in said if region == "live-status"] == [
        "A bus is assigned: KKA-1234.",
        "The driver confirmed and will stop for you.",
        "Your bus is about 5 minutes away.",
        "Your bus is about 3 minutes away.",
        "Your bus is about 1 minute away.",
        "The last bus was missed. Waiting for the next one.",
        "Your bus is about 1 minute away.",  # how far the next bus is (its ETA, 50 s)
        cancelled,
    ]
    assert [text for region, text in said if region == "live-alert"] == [
        "Your bus is at the stop now!",
        "The last bus was missed. The next bus is assigned: KKA-5678.",
    ]
    await context.close()


@pytest.mark.parametrize("language", ["zh-TW", "en"])
async def test_axe_finds_nothing_on_any_page(
    api: ApiServer, browser: Browser, language: str
) -> None:
    html_lang = "en" if language == "en" else "zh-Hant-TW"
    # Start page, empty and with its error summary.
    anon = await browser.new_context(locale="en-US" if language == "en" else "zh-TW")
    page = await anon.new_page()
    await page.goto(api.base_url + "/")
    await expect(page.locator("html")).to_have_attribute("lang", html_lang)
    await assert_accessible(page, "start")
    await page.locator("form[action='/start'] button").press("Enter")
    await expect(page.locator(".error-summary")).to_be_focused()
    await assert_accessible(page, "start with error")
    await anon.close()

    speaker_offline(api, "S1")
    context, rider = await signed_in(browser, api, language, viewport={"width": 320, "height": 640})
    page = await context.new_page()
    earlier = await book_by_api(api, rider, "S2")
    await cancel_reservation(api.state, reservation_id=uuid.UUID(earlier), rider=None, cause="test")
    active = await book_by_api(api, rider, "S1")
    pages = {
        "home with active and recent": "/",
        "results by name": "/find?q=S1",
        "results nearest": "/find?lat=25.04&lon=121.5",
        "find error": "/find?q=",
        "stop": "/stop/S2",
        "stop error": "/book?stop=S2",
        "review": "/book?stop=S2&choice=R1:0",
        "trip": f"/trip/{active}?booked=1",
        "trip ended": f"/trip/{earlier}?cancelled=1",
        "voice proposal": "/voice?text=307+S2",
        "voice unsure": "/voice?text=999",
        "voice error": "/voice?text=",
        "not found": f"/trip/{uuid.uuid4()}",
    }
    for what, path in pages.items():
        await page.goto(api.base_url + path)
        await expect(page.locator("html")).to_have_attribute("lang", html_lang)
        assert await page.locator("h1").count() == 1, what
        await assert_accessible(page, what)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{what}: {width}px wide at a 320px viewport"
    # The review page's error summary (a duplicate booking), focused, linked to its field.
    await page.goto(api.base_url + "/book?stop=S1&choice=R1:0")
    await page.locator("#confirm").press("Enter")
    await expect(page.locator(".error-summary")).to_be_focused()
    await expect(page.locator(".error-summary a[href^='/trip/']")).to_have_count(1)
    await assert_accessible(page, "review with error")
    await context.close()


async def test_language_switch_and_voice_read_back(api: ApiServer, browser: Browser) -> None:
    context, rider = await signed_in(browser, api, "zh-TW")
    page = await context.new_page()
    await page.goto(api.base_url + "/voice?text=%E5%9C%A8%E7%AB%99S1%E6%90%AD307")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-TW")
    await expect(page.locator("#proposal-heading")).to_be_focused()
    await expect(page.locator("#proposal-prompt")).to_contain_text("307")
    # Nothing is booked until the explicit yes.
    r = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert r.json() == []
    # The microphone is offered only where the browser has speech recognition.
    has_recognition = await page.evaluate(
        "!!(window.SpeechRecognition || window.webkitSpeechRecognition)"
    )
    await expect(page.locator("#voice-mic")).to_be_visible(visible=has_recognition)

    await page.locator("button[lang='en']").press("Enter")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#proposal-heading")).to_have_text("Here is what I understood")
    await page.locator("#proposal-yes").press("Enter")
    await expect(page.locator("#trip-heading")).to_contain_text("Booked: 307")
    await expect(page.locator("#trip-heading")).to_be_focused()
    r = await api.client.get("/v1/reservations", headers=rider["headers"])
    assert [x["stop_id"] for x in r.json()] == ["S1"]
    await context.close()
