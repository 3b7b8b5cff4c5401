"""Finding a stop and booking by voice in headless Chromium, on the demo city (real Taipei
stop names): forgiving search, near me in words, choices as buttons, the voice form two
key presses from the home page, the rider's location sent on request; axe-core on every
state in both languages."""

from __future__ import annotations

import gc
import re
import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlmodel import SQLModel

from rider_api.db.engine import make_sync_engine
from rider_api.network import import_feed
from rider_api.network.demo_feed import DEMO_FEED, STOPS
from rider_api.network.geo import walk_to
from rider_api.web.routes.find import walk_text
from tests.rider_api.conftest import ApiFactory, ApiServer
from tests.support.browser import axe_violations, describe

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

LANGS = ["zh-TW", "en"]
#: A few metres south-west of 南京復興 (TPE-1014).
NEAR_NANJING_FUXING = (25.0519, 121.5437)
#: North of Shandao Temple: Taipei Main Station, Shandao Temple and MRT Zhongshan within 800 m.
NEAR_MAIN_STATION = (25.048, 121.52)
#: In the south of the city: no stop within 800 m, two within 2 km.
SOUTH = (25.006, 121.526)
#: Cairns, Australia: no stop anywhere near.
FAR_AWAY = (-16.92, 145.77)


@pytest.fixture(autouse=True, scope="module")
def _zhconv_loaded() -> None:
    """zhconv leaves its dictionary file open on first use (a ResourceWarning that
    filterwarnings=error turns into a failure): load it once, quietly."""
    from rider_api.voice.normalize import normalize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        normalize("预约")
        gc.collect()


@pytest.fixture
async def city(make_api: ApiFactory, database_url: str) -> ApiServer:
    """The API over the synthetic Taipei demo feed (the pages need no broker)."""
    engine = make_sync_engine(database_url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    import_feed(database_url, DEMO_FEED)
    return await make_api(seed=False, mqtt=False)


async def rider_context(
    browser: Browser, api: ApiServer, language: str, **options: Any
) -> BrowserContext:
    rider = await api.rider(language=language)
    context = await browser.new_context(locale="en-US" if language == "en" else "zh-TW", **options)
    await context.add_cookies(
        [
            {"name": "bushail_token", "value": rider["token"], "url": api.base_url},
            {"name": "bushail_lang", "value": language, "url": api.base_url},
        ]
    )
    return context


async def assert_accessible(page: Page, what: str) -> None:
    violations = await axe_violations(page)
    assert not violations, f"{what}: {describe(violations)}"


def html_lang(language: str) -> str:
    return "en" if language == "en" else "zh-Hant-TW"


def name(stop_id: str, language: str) -> str:
    zh, en, *_rest = STOPS[stop_id]
    return en if language == "en" else zh


@pytest.mark.parametrize("language", LANGS)
async def test_forgiving_search_finds_what_the_tester_could_not(
    city: ApiServer, browser: Browser, language: str
) -> None:
    context = await rider_context(browser, city, language)
    page = await context.new_page()
    await page.goto(city.base_url + "/")
    found = {
        "忠孝復興站": "TPE-1006",  # the name plus 站
        "Chunghsiao Fuhsing": "TPE-1006",  # Wade-Giles, still on many signs
        "taipei main staton": "TPE-1001",  # a typo
        "台北车站": "TPE-1001",  # simplified
    }
    for query, stop_id in found.items():
        # Typed into the search box and sent with Enter, as a keyboard user does.
        await page.locator("#q").fill(query)
        await page.locator("#q").press("Enter")
        await expect(page.locator("html")).to_have_attribute("lang", html_lang(language))
        first = page.locator(".cards a").first
        await expect(first).to_have_attribute("href", f"/stop/{stop_id}")
        await expect(first).to_contain_text(name(stop_id, language))
        await assert_accessible(page, f"results for {query!r}")
    # Only sounds alike or a near spelling: the page says so, and marks each stop.
    await page.goto(city.base_url + "/find?q=Chunghsiao+Fuhsing")
    close = "sound or are spelled alike" if language == "en" else "發音或寫法相近"
    await expect(page.locator("#results-close")).to_contain_text(close)
    await expect(page.locator(".cards a").first).to_contain_text(
        "sounds alike" if language == "en" else "發音相近"
    )
    # Nonsense finds nothing rather than junk.
    await page.goto(city.base_url + "/find?q=qwertyuiop")
    await expect(page.locator(".cards")).to_have_count(0)
    await assert_accessible(page, "no results")
    await context.close()


@pytest.mark.parametrize("language", LANGS)
async def test_near_me_in_words(city: ApiServer, browser: Browser, language: str) -> None:
    lat, lon = NEAR_MAIN_STATION
    context = await rider_context(
        browser,
        city,
        language,
        geolocation={"latitude": lat, "longitude": lon, "accuracy": 15},
        permissions=["geolocation"],
    )
    page = await context.new_page()
    await page.goto(city.base_url + "/")
    await page.locator("#near-button").press("Enter")
    await expect(page.locator("#results-title")).to_be_visible()
    summary = page.locator("#results-summary")
    if language == "en":
        await expect(summary).to_have_text(re.compile(r"^\d+ stops? within 800 m of you"))
    else:
        await expect(summary).to_have_text(re.compile(r"^離你 800 公尺內的站牌：\d+ 個"))
    stop = STOPS["TPE-1001"]
    walk = walk_to(lat, lon, stop[2], stop[3])
    wording = walk_text(walk, "en" if language == "en" else "zh-TW")
    first = page.locator(".cards a").first
    comma = ", " if language == "en" else "，"
    await expect(first).to_have_text(f"{name('TPE-1001', language)}{comma}{wording}")
    await expect(first).to_have_attribute("href", "/stop/TPE-1001")
    # Nearest first, every one in words: a distance, a compass direction, a walk.
    texts = await page.locator(".cards a").all_inner_texts()
    pattern = (
        r", \d+ m (north|south|east|west)[a-z-]*, about \d+ min walk$"
        if language == "en"
        else r"，(東|西|南|北)\S*方 \d+ 公尺，步行約 \d+ 分鐘$"
    )
    assert len(texts) == 3
    assert all(re.search(pattern, text) for text in texts), texts
    metres = [int(re.findall(r"(\d+) (?:m|公尺)", text)[-1]) for text in texts]
    assert metres == sorted(metres)
    assert max(metres) <= 800
    await expect(page.locator("#walk-note")).to_be_visible()
    await assert_accessible(page, "near me")

    # Nothing within 800 m: the radius widens once, and the page says so.
    await page.goto(f"{city.base_url}/find?lat={SOUTH[0]}&lon={SOUTH[1]}")
    wider = (
        "No stop within 800 m. 2 stops within 2000 m" if language == "en" else "800 公尺內沒有站牌"
    )
    await expect(summary).to_contain_text(wider)
    await expect(page.locator(".cards a")).to_have_count(2)
    await assert_accessible(page, "near me, widened")
    # Nothing within 2 km either: no far-off list, a way on instead.
    await page.goto(f"{city.base_url}/find?lat={FAR_AWAY[0]}&lon={FAR_AWAY[1]}")
    none = "No stop within 2000 m of you." if language == "en" else "2000 公尺內沒有站牌"
    await expect(summary).to_contain_text(none)
    await expect(page.locator(".cards")).to_have_count(0)
    await assert_accessible(page, "near me, nothing")
    await context.close()


@pytest.mark.parametrize("language", LANGS)
async def test_voice_choices_are_buttons(city: ApiServer, browser: Browser, language: str) -> None:
    context = await rider_context(browser, city, language)
    page = await context.new_page()
    # An unknown route at a known stop: one button per route and direction boarding there.
    await page.goto(city.base_url + "/voice?text=999路 在南京復興上車")
    await expect(page.locator("#proposal-prompt")).to_contain_text(
        "I could not find route 999." if language == "en" else "找不到999路。"
    )
    buttons = page.locator("ul.choices button")
    await expect(buttons).to_have_count(4)
    values = await page.locator("ul.choices input[name='choice']").evaluate_all(
        "inputs => inputs.map(i => i.value)"
    )
    assert sorted(values) == ["307:0", "307:1", "BR9:0", "BR9:1"]
    stops = await page.locator("ul.choices input[name='stop']").evaluate_all(
        "inputs => inputs.map(i => i.value)"
    )
    assert set(stops) == {"TPE-1014"}
    await expect(page.locator("#choices-title")).to_have_text(
        "Choose a route at this stop" if language == "en" else "選擇這一站的路線"
    )
    await expect(page.locator("#proposal-stop-page")).to_have_attribute("href", "/stop/TPE-1014")
    await assert_accessible(page, "voice: routes at the stop")

    # A stop said in part: one button per stop it could be.
    await page.goto(city.base_url + "/voice?text=忠孝幹線往北門 在忠孝站上車")
    await expect(page.locator("ul.choices button")).to_have_count(3)
    stops = await page.locator("ul.choices input[name='stop']").evaluate_all(
        "inputs => inputs.map(i => i.value)"
    )
    assert sorted(stops) == ["TPE-1005", "TPE-1006", "TPE-1007"]
    await expect(page.locator("#choices-title")).to_have_text(
        "Choose the stop" if language == "en" else "選擇上車站牌"
    )
    await assert_accessible(page, "voice: candidate stops")

    # A misheard name (南京富興) is read back as the stop it sounds like.
    await page.goto(city.base_url + "/voice?text=3 0 7 往西門 在南京富興上車")
    await expect(page.locator("#proposal-yes")).to_be_visible()
    await expect(page.locator("#proposal-prompt")).to_contain_text(name("TPE-1014", language))
    await assert_accessible(page, "voice: misheard name")
    await context.close()


@pytest.mark.parametrize("language", LANGS)
async def test_voice_form_is_two_key_presses_from_the_home_page(
    city: ApiServer, browser: Browser, language: str
) -> None:
    context = await rider_context(browser, city, language)
    page = await context.new_page()
    await page.goto(city.base_url + "/")
    await expect(page.locator("#skip-voice")).to_be_attached()
    await assert_accessible(page, "home with the voice skip link")
    await page.keyboard.press("Tab")
    skip = page.locator("#skip-voice")
    await expect(skip).to_be_focused()
    await expect(skip).to_have_text(
        "Skip to book by voice" if language == "en" else "跳到用說的預約"
    )
    await page.keyboard.press("Enter")
    await expect(page.locator("#voice-text")).to_be_focused()
    # The usual skip link is still there, next.
    await page.goto(city.base_url + "/")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.locator("a.skip[href='#main']")).to_be_focused()
    await context.close()


@pytest.mark.parametrize("language", LANGS)
async def test_voice_sends_the_location_when_the_rider_allows_it(
    city: ApiServer, browser: Browser, language: str
) -> None:
    lat, lon = NEAR_NANJING_FUXING
    context = await rider_context(
        browser,
        city,
        language,
        geolocation={"latitude": lat, "longitude": lon, "accuracy": 12},
        permissions=["geolocation"],
    )
    page = await context.new_page()
    await page.goto(city.base_url + "/")
    button = page.locator("#voice-location")
    await expect(button).to_be_visible()
    await expect(button).to_have_attribute("aria-pressed", "false")
    # Nothing is asked until the rider presses the button.
    await expect(page.locator("#voice-lat")).to_be_disabled()
    await button.press("Enter")
    status = page.locator("#voice-location-status")
    await expect(status).to_have_text(
        "Your location will be sent with your request (accurate to about 12 m)."
        if language == "en"
        else "會附上你的位置（誤差約 12 公尺）。"
    )
    await expect(button).to_have_attribute("aria-pressed", "true")
    await assert_accessible(page, "voice form with the location on")
    # Only the route and direction are said: the location gives the stop.
    await page.locator("#voice-text").fill("307往西門")
    await page.locator("#voice-text").press("Enter")
    await expect(page.locator("#proposal-yes")).to_be_visible()
    sent = parse_qs(urlsplit(page.url).query)
    assert float(sent["lat"][0]) == pytest.approx(lat, abs=1e-6)
    assert float(sent["lon"][0]) == pytest.approx(lon, abs=1e-6)
    await expect(page.locator("#proposal-prompt")).to_contain_text(name("TPE-1014", language))
    # The read-back keeps the location for another try, and says so.
    await expect(page.locator("#voice-location")).to_have_attribute("aria-pressed", "true")
    await expect(status).to_have_text(
        "The location you gave before will be sent with your request."
        if language == "en"
        else "會附上你先前提供的位置。"
    )
    await assert_accessible(page, "voice read-back with a location")
    # Pressed again, the location is left out.
    await page.locator("#voice-location").press("Enter")
    await expect(status).to_have_text(
        "Your location will not be sent." if language == "en" else "不會附上你的位置。"
    )
    await expect(page.locator("#voice-lat")).to_be_disabled()
    await context.close()


async def test_voice_works_without_the_location(city: ApiServer, browser: Browser) -> None:
    context = await rider_context(browser, city, "en")  # geolocation not granted
    page = await context.new_page()
    await page.goto(city.base_url + "/")
    await page.locator("#voice-location").press("Enter")
    status = page.locator("#voice-location-status")
    await expect(status).to_have_text(
        "Your location is not available: your request will be sent without it. "
        "Say the stop where you get on."
    )
    await expect(page.locator("#voice-location")).to_have_attribute("aria-pressed", "false")
    await assert_accessible(page, "voice form, location refused")
    await page.locator("#voice-text").fill("307 to Ximen at Nanking Fuhsing")
    await page.locator("#voice-text").press("Enter")
    await expect(page.locator("#proposal-yes")).to_be_visible()
    assert "lat" not in parse_qs(urlsplit(page.url).query)
    await expect(page.locator("#proposal-prompt")).to_contain_text("Nanjing Fuxing")
    await context.close()
