"""The end of a trip in headless Chromium: every final state, its next steps (book the next
bus, "the bus did not stop" to the operators), and cancelling with a confirmation."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page, expect

from rider_api.api.routes import reports
from rider_api.app import create_app as create_full_app
from rider_api.models import Reservation
from rider_api.reservations.booking import cancel_reservation
from rider_api.reservations.lifecycle import Trigger
from rider_api.reservations.reports import RIDER_REPORT_KIND, RIDER_REPORT_REASON
from rider_api.settings import ApiSettings, ConsoleSettings
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiFactory, ApiServer
from tests.rider_api.test_web_app import assert_accessible, book_by_api, signed_in, tab_to
from tests.support.waiting import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TAIPEI = zoneinfo.ZoneInfo("Asia/Taipei")  # the test network's agency time zone
REPORTS_PATH = "/v1/reservations/{reservation_id}/reports"


@pytest.fixture
def reports_router(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API with the reports router, until app.py includes it itself."""

    def create_app(settings: ApiSettings, console: ConsoleSettings | None = None) -> FastAPI:
        app = create_full_app(settings, console)
        if not any(getattr(r, "path", "") == REPORTS_PATH for r in app.routes):
            app.include_router(reports.router)
        return app

    monkeypatch.setattr("tests.rider_api.conftest.create_app", create_app)


@pytest.fixture
async def api(reports_router: None, make_api: ApiFactory) -> ApiServer:
    return await make_api()


async def apply(api: ApiServer, reservation_id: str, trigger: Trigger, **kw: Any) -> None:
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, uuid.UUID(reservation_id))
        assert res is not None
        api.state.changes.apply(uow, res, trigger, "test", **kw)


async def reservation(api: ApiServer, rider: dict[str, Any], reservation_id: str) -> Any:
    r = await api.client.get(f"/v1/reservations/{reservation_id}", headers=rider["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def local(at: str) -> str:
    return dt.datetime.fromisoformat(at).astimezone(TAIPEI).strftime("%H:%M:%S")


async def end_as(api: ApiServer, reservation_id: str, status: str) -> None:
    """Drive a booking at its stop to ``status`` as the dispatcher and driver do."""
    if status == "completed":
        await apply(api, reservation_id, Trigger.BOARD)
        await apply(api, reservation_id, Trigger.COMPLETE)
    elif status == "no_show":
        await apply(api, reservation_id, Trigger.NO_SHOW)
    else:
        await apply(api, reservation_id, Trigger.EXPIRE)


TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "route": "307 towards Fuyuan St.",
        "stop": "Stop S1",
        "st": {
            "completed": "Trip completed",
            "no_show": "Marked as not boarded",
            "expired": "Booking expired",
            "cancelled": "Cancelled",
        },
        "heading": "{status}: {route} at {stop}",
        "live": "Booking status: {status}.",
        "book_next": "Book the next bus: {route} at {stop}",
    },
    "zh-TW": {
        "route": "307 往 撫遠街",
        "stop": "站S1",
        "st": {
            "completed": "行程完成",
            "no_show": "司機回報未上車",
            "expired": "預約已逾時",
            "cancelled": "已取消",
        },
        "heading": "{status}：{route}，在「{stop}」上車",
        "live": "預約狀態：{status}。",
        "book_next": "預約下一班：{route}，在「{stop}」上車",
    },
}


async def check_ending(page: Page, texts: dict[str, Any], status: str, history: Any) -> None:
    """Heading, status and live region agree; no alert left; the whole history, local."""
    words = {"status": texts["st"][status], "route": texts["route"], "stop": texts["stop"]}
    await expect(page.locator("#trip-heading")).to_have_text(texts["heading"].format(**words))
    await expect(page.locator("#trip-status")).to_have_text(words["status"])
    await expect(page.locator("#live-alert")).to_have_text("")
    await expect(page.locator("#eta-row")).to_be_hidden()
    await expect(page.locator("#cancel")).to_be_hidden()
    await expect(page.locator("#book-next")).to_be_visible()
    await expect(page.locator("#book-next")).to_have_text(texts["book_next"].format(**words))
    await expect(page.locator("#report")).to_be_visible(visible=status != "completed")
    items = page.locator("#history li")
    await expect(items).to_have_count(len(history))
    for i, h in enumerate(history):
        await expect(items.nth(i).locator("time")).to_have_text(local(h["at"]))
    await expect(items.last).to_contain_text(words["status"])


@pytest.mark.parametrize("language", ["en", "zh-TW"])
async def test_every_ending_reads_right_live_and_reloaded(
    api: ApiServer, browser: Browser, language: str
) -> None:
    texts = TEXTS[language]
    context, rider = await signed_in(browser, api, language)
    page = await context.new_page()
    for status in ("no_show", "completed", "expired", "cancelled"):
        reservation_id = await book_by_api(api, rider)
        await page.goto(f"{api.base_url}/trip/{reservation_id}?booked=1")
        await eventually(
            lambda: api.state.notifier.listener_count() == 1, what="the page follows the trip"
        )
        await apply(api, reservation_id, Trigger.ASSIGN, vehicle_id="KKA-1234")
        await apply(api, reservation_id, Trigger.STOPPED)
        await expect(page.locator("#live-alert")).to_have_text(
            "Your bus is at the stop now!" if language == "en" else "你的公車已經到站！"
        )
        if status == "cancelled":
            # The rider cancels: the confirmation, then the ending (an operator's cancel
            # reaches the page live in test_web_app).
            await page.locator("#cancel").press("Enter")
            await expect(page.locator("#cancel-yes")).to_be_visible()
            await assert_accessible(page, f"cancel confirmation ({language})")
            await page.locator("#cancel-yes").press("Enter")
            await expect(page.locator("#trip-status")).to_have_text(texts["st"][status])
        else:
            await end_as(api, reservation_id, status)
            words = {"status": texts["st"][status]}
            live_status = page.locator("#live-status")
            await expect(live_status).to_contain_text(texts["live"].format(**words))
        history = (await reservation(api, rider, reservation_id))["history"]
        await check_ending(page, texts, status, history)
        await assert_accessible(page, f"{status} as it ends ({language})")

        await page.reload()
        await check_ending(page, texts, status, history)
        await assert_accessible(page, f"{status} reloaded ({language})")
        if status == "no_show":
            await page.locator("#report").press("Enter")
            await expect(page.locator("#report-notice")).to_be_focused()
            await assert_accessible(page, f"reported ({language})")
    # The next bus from the last ending; asked again while that one is active: refused.
    ended = page.url
    await page.locator("#book-next").press("Enter")
    await expect(page.locator("#trip-heading")).to_be_focused()
    await page.goto(ended)
    await page.locator("#book-next").press("Enter")
    await expect(page.locator(".error-summary")).to_be_focused()
    await assert_accessible(page, f"book the next bus refused ({language})")
    await context.close()


async def test_book_the_next_bus_in_one_action(api: ApiServer, browser: Browser) -> None:
    context, rider = await signed_in(browser, api, "en")
    page = await context.new_page()
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": "S2", "route_id": "R1", "direction_id": 0, "destination_stop_id": "S4"},
        headers=rider["headers"],
    )
    first = r.json()["id"]
    await apply(api, first, Trigger.ASSIGN, vehicle_id="KKA-1234")
    await apply(api, first, Trigger.NO_SHOW)
    await page.goto(f"{api.base_url}/trip/{first}")
    await tab_to(page, "#book-next")
    await page.keyboard.press("Enter")
    heading = page.locator("#trip-heading")
    await expect(heading).to_have_text("Booked: 307 towards Fuyuan St., boarding at Stop S2")
    await expect(heading).to_be_focused()
    again = page.url.rsplit("/", 1)[-1].split("?")[0]
    assert again != first
    data = await reservation(api, rider, again)
    assert (data["stop_id"], data["route_id"], data["direction_id"]) == ("S2", "R1", 0)
    assert data["destination_stop_id"] == "S4"
    assert data["status"] == "pending"

    # Booking again while that one is active: the error names it, linked, and is focused.
    await page.goto(f"{api.base_url}/trip/{first}")
    await page.locator("#book-next").press("Enter")
    await expect(page.locator(".error-summary")).to_be_focused()
    await expect(page.locator(f".error-summary a[href='/trip/{again}']")).to_have_count(1)
    await assert_accessible(page, "book again refused")
    await context.close()


async def test_the_bus_did_not_stop_reaches_the_console(api: ApiServer, browser: Browser) -> None:
    context, rider = await signed_in(browser, api, "en")
    page = await context.new_page()
    reservation_id = await book_by_api(api, rider)
    await apply(api, reservation_id, Trigger.ASSIGN, vehicle_id="KKA-1234")
    await page.goto(f"{api.base_url}/trip/{reservation_id}")
    await expect(page.locator("#report")).to_be_hidden()  # nothing to report while active
    await apply(api, reservation_id, Trigger.NO_SHOW)
    await expect(page.locator("#report")).to_be_visible()

    await tab_to(page, "#report")
    await page.keyboard.press("Enter")
    ended = (await reservation(api, rider, reservation_id))["history"][-1]["at"]
    when = dt.datetime.fromisoformat(ended).astimezone(TAIPEI).strftime("%H:%M")
    notice = page.locator("#report-notice")
    await expect(notice).to_have_text(
        f"Thank you. The operators know that bus KKA-1234 did not stop, at {when}."
    )
    await expect(notice).to_be_focused()
    await expect(page.locator("#report")).to_have_count(0)
    await assert_accessible(page, "reported")

    # The console lists it: as data, and on the live board's page.
    ops = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    board = (await api.client.get("/ops/live.json", headers=ops)).json()
    mine = [i for i in board["incidents"] if i["reservation_id"] == reservation_id]
    assert [(i["kind"], i["vehicle_id"], i["stop_id"], i["reason"]) for i in mine] == [
        (RIDER_REPORT_KIND, "KKA-1234", "S1", RIDER_REPORT_REASON)
    ]
    assert dt.datetime.fromisoformat(mine[0]["at"]) == dt.datetime.fromisoformat(ended)
    html = await api.client.get("/ops", headers=ops)
    assert html.status_code == 200
    assert RIDER_REPORT_REASON in html.text
    assert "KKA-1234" in html.text

    # The JSON API: once per booking (a repeat answers the first), only the owner's,
    # only after an ending without a pickup.
    url = f"/v1/reservations/{reservation_id}/reports"
    again = await api.client.post(url, json={"kind": "bus_did_not_stop"}, headers=rider["headers"])
    assert again.status_code == 200, again.text
    assert again.json()["vehicle_id"] == "KKA-1234"
    other = await api.rider()
    assert (await api.client.post(url, json={}, headers=other["headers"])).status_code == 404
    active = await book_by_api(api, rider, "S2")
    refused = await api.client.post(
        f"/v1/reservations/{active}/reports", json={}, headers=rider["headers"]
    )
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/report-not-allowed")
    await cancel_reservation(api.state, reservation_id=uuid.UUID(active), rider=None, cause="op")
    created = await api.client.post(
        f"/v1/reservations/{active}/reports", json={}, headers=rider["headers"]
    )
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "bus_did_not_stop"
    await context.close()


@pytest.mark.parametrize("scripts", [True, False], ids=["script", "no-script"])
async def test_cancel_asks_first_by_keyboard_alone(
    api: ApiServer, browser: Browser, scripts: bool
) -> None:
    context, rider = await signed_in(browser, api, "en", java_script_enabled=scripts)
    page = await context.new_page()
    reservation_id = await book_by_api(api, rider)
    await page.goto(f"{api.base_url}/trip/{reservation_id}")

    # "No" keeps it.
    await tab_to(page, "#cancel")
    await page.keyboard.press("Enter")
    heading = page.locator("h1")
    await expect(heading).to_have_text("Cancel this booking?")
    if scripts:
        await expect(heading).to_be_focused()
        await page.keyboard.press("Enter")  # a second Enter on the heading does nothing
        await expect(heading).to_have_text("Cancel this booking?")
    await expect(page.locator("#cancel-what")).to_have_text(
        "307 towards Fuyuan St. at Stop S1. The driver and the stop will be told you no "
        "longer wait."
    )
    await tab_to(page, "#cancel-no")
    await page.keyboard.press("Enter")
    await expect(page.locator("#trip-status")).to_have_text("Waiting for a bus to be assigned")
    assert (await reservation(api, rider, reservation_id))["status"] == "pending"

    # "Yes" cancels, and the next bus is one action away (an undo without a time limit).
    await tab_to(page, "#cancel")
    await page.keyboard.press("Enter")
    await expect(heading).to_have_text("Cancel this booking?")
    await tab_to(page, "#cancel-yes")
    await page.keyboard.press("Enter")
    await expect(page.locator("#trip-status")).to_have_text("Cancelled")
    await expect(page.locator(".notice")).to_have_text("Your booking is cancelled.")
    if scripts:
        await expect(page.locator("#trip-heading")).to_be_focused()
    await expect(page.locator("#book-next")).to_be_visible()
    assert (await reservation(api, rider, reservation_id))["status"] == "cancelled"
    await context.close()
