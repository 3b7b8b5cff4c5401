"""The notifications opt-in in headless Chromium: the service worker, the button's states,
what the worker shows for a push, axe on every state in both languages.

Headless Chromium has no push service (Chrome's is Google's FCM, reached only by a
branded build with its API keys), so ``PushManager.subscribe`` cannot succeed here: one
test checks that it fails and that the rider is told so. Another replaces only
``subscribe``/``getSubscription`` with a stand-in holding keys made by the test, to drive
the rest of the script (posting the subscription, turning off) and the server's real
delivery to the test's push service; it says so where it does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader
from playwright.async_api import Browser, BrowserContext, Page, expect

from broker_config.i18n import StringTable
from rider_api.push.notices import Notice, NoticeKind
from rider_api.push.texts import PUSH_PAGE_TEXTS, notification
from rider_api.reservations.lifecycle import Trigger
from rider_api.web import strings, views
from tests.rider_api.conftest import ApiFactory, ApiServer
from tests.rider_api.test_push import (
    PUSH,
    PushService,
    apply,
    b64e,
    book,
    next_delivery,
    running_push_service,
    settled,
)
from tests.rider_api.test_push import Browser as PushBrowser
from tests.support.browser import AXE_TAGS, _axe_source, axe_violations, describe

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

#: What the trip page's owner adds (see docs/push.md): the partial and the script.
TRIP_ADDITION = '{% include "_push_optin.html" %}\n<script src="/static/push.js" defer></script>\n'


@pytest.fixture(autouse=True)
def _trip_page_with_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trip page as it is, with the opt-in added where its owner has not yet, and the
    push texts in the web app's table where ``strings.py`` does not merge them yet."""
    if "push_title" not in strings.STRINGS:
        merged = StringTable("rider web app", {**strings.STRINGS, **PUSH_PAGE_TEXTS})
        monkeypatch.setattr(views, "STRINGS", merged)
        monkeypatch.setattr(views, "t", merged.t)
    env = views._TEMPLATES.env
    loader = env.loader
    assert loader is not None
    source = loader.get_source(env, "trip.html")[0]
    if "_push_optin.html" not in source:
        at = source.rindex("{% endblock %}")
        source = source[:at] + TRIP_ADDITION + source[at:]
    monkeypatch.setattr(env, "loader", ChoiceLoader([DictLoader({"trip.html": source}), loader]))


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    async with running_push_service() as service:
        yield service


async def signed_in(
    browser: Browser, api: ApiServer, language: str, *, permission: bool = True
) -> tuple[BrowserContext, dict[str, Any]]:
    rider = await api.rider(language=language)
    context = await browser.new_context(
        locale="en-US" if language == "en" else "zh-TW",
        permissions=["notifications"] if permission else [],
    )
    await context.add_cookies(
        [
            {"name": "bushail_token", "value": rider["token"], "url": api.base_url},
            {"name": "bushail_lang", "value": language, "url": api.base_url},
        ]
    )
    return context, rider


async def open_trip(page: Page, api: ApiServer, rid: str) -> None:
    await page.goto(f"{api.base_url}/trip/{rid}")
    await expect(page.locator("#push-optin")).to_have_attribute("data-ready", "true")


async def accessible(page: Page, what: str, *, whole_page: bool = False) -> None:
    """axe-core (WCAG 2.2 AA) on the opt-in, or on the whole trip page with it."""
    if whole_page:
        violations = await axe_violations(page)
    else:
        if not await page.evaluate("typeof axe !== 'undefined'"):
            await page.evaluate(_axe_source())
        result = await page.evaluate(
            "tags => axe.run({include: [['#push-optin']]}, {runOnly: {type: 'tag', values: tags},"
            " resultTypes: ['violations']})",
            AXE_TAGS,
        )
        violations = result["violations"]
    assert not violations, f"{what}: {describe(violations)}"


def text(key: str, language: str) -> str:
    template = PUSH_PAGE_TEXTS[key]["en" if language == "en" else "zh-TW"]
    assert isinstance(template, str)
    return template


def at_stop(api: ApiServer, rider: dict[str, Any], rid: str) -> Any:
    """The server's "at your stop" notification for ``rid``, in English."""
    return notification(
        Notice(
            kind=NoticeKind.AT_STOP,
            reservation_id=uuid.UUID(rid),
            rider_id=uuid.UUID(rider["rider_id"]),
            route=api.state.network.routes["R1"].display_name,
            headsign=api.state.network.direction("R1", 0).headsign,  # type: ignore[union-attr]
            stop=api.state.network.stops["S2"].name,
            eta_s=0,
        ),
        "en",
    )


async def deliver_push(context: BrowserContext, page: Page, api: ApiServer, data: bytes) -> None:
    """Hand ``data`` to the page's service worker as a push, through Chromium's DevTools
    (as a push service would)."""
    cdp = await context.new_cdp_session(page)
    registrations: asyncio.Queue[str] = asyncio.Queue()

    def registered(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            registrations.put_nowait(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", registered)
    await cdp.send("ServiceWorker.enable")
    registration_id = await asyncio.wait_for(registrations.get(), 10)
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": api.base_url + "/", "registrationId": registration_id, "data": data.decode()},
    )


#: In the service worker: wait for the notification, then tap it. Headless Chromium shows
#: no notification to tap, so the worker is handed the event a tap raises; it carries no
#: user activation, so focusing a window is refused, navigating a tab is not.
TAP_THE_NOTIFICATION = """async () => {
  for (let i = 0; i < 200; i++) {
    const list = await self.registration.getNotifications();
    if (list.length) {
      self.dispatchEvent(new NotificationEvent("notificationclick", {notification: list[0]}));
      return list[0].data;
    }
    await new Promise(ok => setTimeout(ok, 25));
  }
  return null;
}"""


async def tap_notification(context: BrowserContext) -> Any:
    """Tap the worker's notification (see TAP_THE_NOTIFICATION); its data."""
    worker = (
        context.service_workers[0]
        if context.service_workers
        else await context.wait_for_event("serviceworker")
    )
    return await worker.evaluate(TAP_THE_NOTIFICATION)


async def test_worker_registers_subscribe_fails_headless_and_a_push_is_shown(
    make_api: ApiFactory, browser: Browser
) -> None:
    api = await make_api(**PUSH, mqtt=False)
    context, rider = await signed_in(browser, api, "en")
    page = await context.new_page()
    rid = await book(api, rider, stop="S2")
    await open_trip(page, api, rid)

    scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == api.base_url + "/"
    worker = await page.evaluate(
        "navigator.serviceWorker.ready.then(r => (r.active || r.waiting || r.installing).scriptURL)"
    )
    assert worker == api.base_url + "/sw.js"
    toggle = page.locator("#push-toggle")
    await expect(toggle).to_have_text("Turn on notifications")
    await expect(toggle).to_have_attribute("aria-describedby", "push-hint")
    await expect(page.locator("#push-status")).to_have_attribute("role", "status")
    await accessible(page, "opt-in, off", whole_page=True)

    # A real subscribe: the permission is granted, but there is no push service here.
    await toggle.click()
    await expect(page.locator("#push-status")).to_have_text(text("push_failed", "en"))
    await expect(toggle).to_have_text("Turn on notifications")
    assert await page.evaluate("Notification.permission") == "granted"
    assert (
        await page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.pushManager.getSubscription())"
        )
        is None
    )
    await accessible(page, "opt-in, subscribe failed")

    # What the worker shows for a push, delivered by Chromium's DevTools (as a push
    # service would), with the payload the server makes.
    await deliver_push(context, page, api, at_stop(api, rider, rid).payload())
    got = await page.evaluate(
        """async () => {
          const r = await navigator.serviceWorker.ready;
          for (let i = 0; i < 200; i++) {
            const list = await r.getNotifications();
            if (list.length) {
              const n = list[0];
              return {title: n.title, body: n.body, tag: n.tag, lang: n.lang,
                      renotify: n.renotify, vibrate: Array.from(n.vibrate || []),
                      requireInteraction: n.requireInteraction, data: n.data};
            }
            await new Promise(ok => setTimeout(ok, 25));
          }
          return null;
        }"""
    )
    assert got == {
        "title": "Bus 307 is at your stop",
        "body": "Bus 307 to Fuyuan St. is at Stop S2 now. The driver is waiting for you.",
        "tag": f"trip-{rid}",
        "lang": "en",
        "renotify": True,
        "vibrate": [800, 200, 800, 200, 800],
        "requireInteraction": True,
        "data": {"url": f"/trip/{rid}", "kind": "at_stop"},
    }
    await context.close()


async def test_tapping_a_notification_opens_its_trip_in_the_riders_tab(
    make_api: ApiFactory, browser: Browser
) -> None:
    api = await make_api(**PUSH, mqtt=False)
    context, rider = await signed_in(browser, api, "en")
    page = await context.new_page()
    rid = await book(api, rider, stop="S2")
    await open_trip(page, api, rid)  # the worker is in place
    await page.goto(api.base_url + "/")
    await deliver_push(context, page, api, at_stop(api, rider, rid).payload())
    assert await tap_notification(context) == {"url": f"/trip/{rid}", "kind": "at_stop"}
    await expect(page).to_have_url(f"{api.base_url}/trip/{rid}")
    await context.close()


async def test_a_notification_never_opens_another_site(
    make_api: ApiFactory, browser: Browser
) -> None:
    api = await make_api(**PUSH, mqtt=False)
    context, rider = await signed_in(browser, api, "en")
    page = await context.new_page()
    rid = await book(api, rider, stop="S2")
    await open_trip(page, api, rid)
    hostile = {"title": "Bus", "body": "tap me", "url": "https://evil.example/login"}
    await deliver_push(context, page, api, json.dumps(hostile).encode())
    # Kept to this origin when shown, and again when tapped: the home page.
    assert await tap_notification(context) == {"url": "/", "kind": ""}
    await expect(page).to_have_url(f"{api.base_url}/")
    await context.close()


#: Stands in for the browser's push service subscription only (see the module docstring).
STAND_IN = """
(() => {
  const sub = %s;
  let current = null;
  const made = () => ({
    endpoint: sub.endpoint, expirationTime: null, options: {userVisibleOnly: true},
    toJSON: () => sub,
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    if (!options || !options.userVisibleOnly || !options.applicationServerKey ||
        options.applicationServerKey.length !== 65) throw new Error("bad options");
    window.__applicationServerKey = Array.from(options.applicationServerKey);
    current = made();
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


async def test_turning_on_and_off_with_a_stand_in_subscription(
    make_api: ApiFactory, browser: Browser, push_service: PushService
) -> None:
    api = await make_api(**PUSH, mqtt=False)
    for language in ("en", "zh-TW"):
        await _on_and_off(api, browser, push_service, language)


async def _on_and_off(
    api: ApiServer, browser: Browser, push_service: PushService, language: str
) -> None:
    context, rider = await signed_in(browser, api, language)
    phone = PushBrowser(push_service.endpoint(f"phone-{language}"))
    await context.add_init_script(STAND_IN % json.dumps(phone.subscription()))
    page = await context.new_page()
    rid = await book(api, rider, stop="S2")
    await open_trip(page, api, rid)
    toggle, status = page.locator("#push-toggle"), page.locator("#push-status")
    await expect(page.locator("html")).to_have_attribute(
        "lang", "en" if language == "en" else "zh-Hant-TW"
    )
    await expect(toggle).to_have_text(text("push_turn_on", language))
    await accessible(page, f"trip page with the opt-in off ({language})", whole_page=True)

    await toggle.press("Enter")  # by keyboard
    await expect(status).to_have_text(text("push_on", language))
    await expect(toggle).to_have_text(text("push_turn_off", language))
    await accessible(page, f"opt-in on ({language})")
    key = (await api.client.get("/v1/push/key", headers=rider["headers"])).json()["public_key"]
    sent_key = await page.evaluate("window.__applicationServerKey")
    assert b64e(bytes(sent_key)) == key
    listed = (await api.client.get("/v1/push/subscriptions", headers=rider["headers"])).json()
    assert [s["endpoint"] for s in listed] == [phone.endpoint]

    # The server now really sends to that subscription, in the rider's language.
    await apply(api, rid, Trigger.ASSIGN, vehicle_id="V9")
    pushed = phone.read(await next_delivery(push_service))
    assert pushed["title"] == ("Bus 307 is on its way" if language == "en" else "已為你派 307 公車")

    await toggle.click()
    await expect(status).to_have_text(text("push_off", language))
    await expect(toggle).to_have_text(text("push_turn_on", language))
    assert (await api.client.get("/v1/push/subscriptions", headers=rider["headers"])).json() == []
    await apply(api, rid, Trigger.CANCEL)
    await settled(api)
    assert push_service.received.empty()
    await accessible(page, f"opt-in turned off ({language})")
    await context.close()


async def test_blocked_and_unsupported_are_explained(
    make_api: ApiFactory, browser: Browser
) -> None:
    api = await make_api(**PUSH, mqtt=False)
    for language in ("en", "zh-TW"):
        await _blocked_and_unsupported(api, browser, language)


async def _blocked_and_unsupported(api: ApiServer, browser: Browser, language: str) -> None:
    context, rider = await signed_in(browser, api, language, permission=False)
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send(
        "Browser.setPermission",
        {
            "permission": {"name": "notifications"},
            "setting": "denied",
            "origin": api.base_url,
        },
    )
    rid = await book(api, rider, stop="S2")
    await open_trip(page, api, rid)
    await expect(page.locator("#push-status")).to_have_text(text("push_blocked", language))
    await expect(page.locator("#push-toggle")).to_be_hidden()
    await accessible(page, f"opt-in blocked ({language})")

    # A browser without Web Push (Safari on an iPhone, unless the app is on the home screen).
    other = await browser.new_context(locale="en-US" if language == "en" else "zh-TW")
    await other.add_cookies(
        [
            {"name": "bushail_token", "value": rider["token"], "url": api.base_url},
            {"name": "bushail_lang", "value": language, "url": api.base_url},
        ]
    )
    await other.add_init_script("delete window.PushManager;")
    page = await other.new_page()
    await open_trip(page, api, rid)
    await expect(page.locator("#push-status")).to_have_text(text("push_unsupported", language))
    await expect(page.locator("#push-toggle")).to_be_hidden()
    await accessible(page, f"opt-in unsupported ({language})")
    await context.close()
    await other.close()
