"""Per-client limits on sign-up, voice and search: the token buckets with a clock of the
test's own, then every endpoint through the real server (API 429 problem+json, pages 429
in the page's language, both with Retry-After), and the 429 page in Chromium with axe."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from rider_api.api.rate_limits import client_limits
from rider_api.core.rate_limits import ClientLimits, Limited, Rate, RateLimiter, client_key
from rider_api.settings import ApiSettings
from tests.rider_api.conftest import ApiFactory, ApiServer
from tests.support.browser import axe_violations, describe

pytestmark = pytest.mark.timeout(90)


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True, scope="module")
def _zhconv_loaded() -> None:
    """zhconv leaves its dictionary file open on first use (a ResourceWarning that
    filterwarnings=error turns into a failure): load it once, quietly."""
    from rider_api.voice.normalize import normalize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        normalize("预约")
        gc.collect()


# -- the limiter core ---------------------------------------------------------------------


def test_the_burst_then_one_token_per_interval_with_the_exact_wait(clock: FakeClock) -> None:
    limiter = RateLimiter(Rate(5, 3600), clients=10, clock=clock)
    assert [limiter.take("a") for _ in range(5)] == [0] * 5
    assert limiter.take("a") == 720  # one token back every 3600 / 5 s
    clock.advance(719)
    assert limiter.take("a") == 1
    clock.advance(1)
    assert limiter.take("a") == 0
    assert limiter.take("a") == 720


def test_a_quiet_window_restores_the_whole_burst_and_no_more(clock: FakeClock) -> None:
    limiter = RateLimiter(Rate(3, 60), clients=10, clock=clock)
    assert [limiter.take("a") for _ in range(4)] == [0, 0, 0, 20]
    clock.advance(60)
    assert [limiter.take("a") for _ in range(4)] == [0, 0, 0, 20]
    clock.advance(3600)  # a long silence saves up no more than one burst
    assert [limiter.take("a") for _ in range(4)] == [0, 0, 0, 20]


def test_refused_requests_take_nothing_and_do_not_push_the_wait_back(clock: FakeClock) -> None:
    limiter = RateLimiter(Rate(2, 60), clients=10, clock=clock)
    assert [limiter.take("a"), limiter.take("a")] == [0, 0]
    waits = []
    for _ in range(100):
        waits.append(limiter.take("a"))
        clock.advance(0.25)
    assert (waits[0], waits[-1]) == (30, 6)
    assert all(w > 0 for w in waits)
    clock.advance(5)
    assert limiter.take("a") == 0


@pytest.mark.parametrize(
    ("rate", "wait"),
    [(Rate(30, 60), 2), (Rate(7, 10), 2), (Rate(60, 60), 1), (Rate(1, 0.1), 1)],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(
    clock: FakeClock, rate: Rate, wait: int
) -> None:
    limiter = RateLimiter(rate, clients=10, clock=clock)
    for _ in range(rate.count):
        assert limiter.take("a") == 0
    assert limiter.take("a") == wait


def test_clients_are_counted_apart_and_the_least_recently_seen_is_forgotten(
    clock: FakeClock,
) -> None:
    limiter = RateLimiter(Rate(1, 3600), clients=2, clock=clock)
    assert limiter.take("a") == 0
    assert limiter.take("b") == 0
    assert (limiter.take("a"), limiter.take("b")) == (3600, 3600)
    assert limiter.take("c") == 0  # a third address: "a", seen longest ago, is forgotten
    assert limiter.take("b") == 3600
    assert limiter.take("a") == 0  # back with a full bucket (bounded memory's price)


def test_client_limits_keep_one_bucket_per_kind(clock: FakeClock) -> None:
    limits = ClientLimits(
        {Limited.SIGN_UP: Rate(1, 60), Limited.VOICE: Rate(2, 60), Limited.SEARCH: Rate(3, 60)},
        clients=10,
        clock=clock,
    )
    assert limits.take(Limited.SIGN_UP, "a") == 0
    assert limits.take(Limited.SIGN_UP, "a") == 60
    assert [limits.take(Limited.VOICE, "a") for _ in range(3)] == [0, 0, 30]
    assert [limits.take(Limited.SEARCH, "a") for _ in range(4)] == [0, 0, 0, 20]
    with pytest.raises(ValueError, match="no rate for"):
        ClientLimits({Limited.SIGN_UP: Rate(1, 60)}, clients=10)


def test_rates_are_checked_and_described() -> None:
    assert Rate(5, 3600).describe() == "5 per hour"
    assert Rate(30, 60).describe() == "30 per minute"
    assert Rate(7, 90).describe() == "7 per 90 s"
    for count, per_s in ((0, 60.0), (1, 0.0), (1, -1.0)):
        with pytest.raises(ValueError, match="a rate needs"):
            Rate(count, per_s)
    with pytest.raises(ValueError, match="at least one client"):
        RateLimiter(Rate(1, 1), clients=0)


def test_the_settings_defaults_are_the_documented_limits(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    settings = ApiSettings()
    assert (settings.sign_up_limit, settings.sign_up_window_s) == (5, 3600)
    assert (settings.voice_limit, settings.voice_window_s) == (30, 60)
    assert (settings.search_limit, settings.search_window_s) == (60, 60)
    assert (settings.rate_limit_clients, settings.trusted_proxies) == (10_000, 0)
    limits = client_limits(settings, clock=clock)
    assert [limits.take(Limited.SIGN_UP, "a") for _ in range(6)] == [0] * 5 + [720]
    monkeypatch.setenv("BUSHAIL_API_SIGN_UP_LIMIT", "2")
    monkeypatch.setenv("BUSHAIL_API_SIGN_UP_WINDOW_S", "86400")
    assert client_limits(ApiSettings(), clock=clock).rate(Limited.SIGN_UP) == Rate(2, 86400)


# -- whose address --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "key"),
    [
        ("203.0.113.9", [], 0, "203.0.113.9"),
        # Anyone can write the header: without a trusted proxy it is never read.
        ("203.0.113.9", ["198.51.100.1"], 0, "203.0.113.9"),
        # Behind one proxy, the address it appended (the rightmost), not the client's text.
        ("10.0.0.2", ["198.51.100.66, 198.51.100.1"], 1, "198.51.100.1"),
        ("10.0.0.2", ["198.51.100.66", "198.51.100.1"], 1, "198.51.100.1"),
        # Behind two (a CDN, then ours): the one the outer proxy saw.
        ("10.0.0.2", ["198.51.100.66, 198.51.100.7, 10.0.0.9"], 2, "198.51.100.7"),
        ("10.0.0.2", ["198.51.100.7"], 2, "198.51.100.7"),
        ("10.0.0.2", [], 1, "10.0.0.2"),
        ("10.0.0.2", [" , "], 1, "10.0.0.2"),
        # Ports dropped; IPv6 counted per /64 (one subscriber's block); mapped IPv4 as IPv4.
        ("10.0.0.2", ["198.51.100.1:4711"], 1, "198.51.100.1"),
        ("10.0.0.2", ["[2001:db8:1:2::5]:443"], 1, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:aaaa::1", [], 0, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", [], 0, "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.4", [], 0, "192.0.2.4"),
        (None, [], 0, "unknown"),
        ("10.0.0.2", ["unknown"], 1, "unknown"),
    ],
)
def test_client_key(peer: str | None, forwarded: list[str], proxies: int, key: str) -> None:
    assert client_key(peer, forwarded, trusted_proxies=proxies) == key


# -- every endpoint, through the real server -----------------------------------------------


@dataclass
class Endpoint:
    """One limited door: how to knock, and what the limit is called in the settings."""

    name: str
    setting: str
    knock: Callable[[ApiServer, dict[str, Any]], Awaitable[httpx.Response]]
    page: bool


def _cookie(rider: dict[str, Any]) -> dict[str, str]:
    return {"Cookie": f"bushail_token={rider['token']}"}


async def _api_sign_up(api: ApiServer, rider: dict[str, Any]) -> httpx.Response:
    return await api.client.post("/v1/riders", json={"display_name": "Mei", "language": "en"})


async def _web_sign_up(api: ApiServer, rider: dict[str, Any]) -> httpx.Response:
    return await api.client.post(
        "/start",
        data={"display_name": "Mei", "language": "en"},
        headers={"Accept-Language": "en"},
    )


async def _api_voice(api: ApiServer, rider: dict[str, Any]) -> httpx.Response:
    return await api.client.post(
        "/v1/voice/intents", json={"text": "307 S1", "lang": "en"}, headers=rider["headers"]
    )


async def _web_voice(api: ApiServer, rider: dict[str, Any]) -> httpx.Response:
    return await api.client.get("/voice", params={"text": "307 S1"}, headers=_cookie(rider))


async def _api_search(api: ApiServer, rider: dict[str, Any]) -> httpx.Response:
    return await api.client.get("/v1/stops", params={"q": "S1"}, headers=rider["headers"])


async def _web_search(api: ApiServer, rider: dict[str, Any]) -> httpx.Response:
    return await api.client.get("/find", params={"q": "S1"}, headers=_cookie(rider))


ENDPOINTS = [
    Endpoint("POST /v1/riders", "sign_up", _api_sign_up, page=False),
    Endpoint("POST /start", "sign_up", _web_sign_up, page=True),
    Endpoint("POST /v1/voice/intents", "voice", _api_voice, page=False),
    Endpoint("GET /voice", "voice", _web_voice, page=True),
    Endpoint("GET /v1/stops", "search", _api_search, page=False),
    Endpoint("GET /find", "search", _web_search, page=True),
]


async def limited_api(make_api: ApiFactory, clock: FakeClock, **limits: Any) -> ApiServer:
    """The API with ``limits`` (ApiSettings fields) counted on the test's clock."""
    api = await make_api(mqtt=False, **limits)
    api.state.limits = client_limits(api.state.settings, clock=clock)
    return api


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_each_door_refuses_past_its_limit_and_opens_after_the_window(
    make_api: ApiFactory, clock: FakeClock, endpoint: Endpoint
) -> None:
    api = await limited_api(
        make_api,
        clock,
        **{f"{endpoint.setting}_limit": 3, f"{endpoint.setting}_window_s": 60.0},
    )
    rider = {} if endpoint.setting == "sign_up" else await api.rider(language="en")

    def ok(r: httpx.Response) -> bool:
        return r.status_code in (200, 201, 303)

    for _ in range(3):
        r = await endpoint.knock(api, rider)
        assert ok(r), r.text
    refused = await endpoint.knock(api, rider)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "20"  # 60 s / 3
    if endpoint.page:
        assert refused.headers["content-type"].startswith("text/html")
        assert "Try again in 20 seconds." in refused.text
        assert refused.headers["cache-control"] == "no-store"
    else:
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["status"] == 429
        assert problem["type"].endswith("/rate-limited")
        assert problem["retry_after_s"] == 20
        assert "Try again in 20 seconds." in problem["detail"]

    clock.advance(19)
    assert (await endpoint.knock(api, rider)).status_code == 429
    clock.advance(1)
    assert ok(await endpoint.knock(api, rider))
    assert (await endpoint.knock(api, rider)).status_code == 429
    clock.advance(60)  # a whole window: the whole burst again
    for _ in range(3):
        assert ok(await endpoint.knock(api, rider))
    assert (await endpoint.knock(api, rider)).status_code == 429


async def test_api_and_web_sign_up_share_one_limit(make_api: ApiFactory, clock: FakeClock) -> None:
    api = await limited_api(make_api, clock, sign_up_limit=2)
    assert (await _api_sign_up(api, {})).status_code == 201
    assert (await _web_sign_up(api, {})).status_code == 303
    assert (await _api_sign_up(api, {})).status_code == 429
    refused = await _web_sign_up(api, {})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1800"
    assert "Try again in 30 minutes." in refused.text


async def test_a_refused_sign_up_creates_no_rider(make_api: ApiFactory, clock: FakeClock) -> None:
    from sqlmodel import func, select

    from rider_api.models import Rider

    api = await limited_api(make_api, clock, sign_up_limit=1)
    await _api_sign_up(api, {})
    for _ in range(20):
        await _api_sign_up(api, {})
        await _web_sign_up(api, {})
    async with api.state.sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Rider))).one() == 1


async def test_the_default_sign_up_limit_engages_at_five(
    make_api: ApiFactory, clock: FakeClock
) -> None:
    """The measured hole (100 sign-ups of 100 in a row), with the real defaults."""
    api = await limited_api(
        make_api, clock, sign_up_limit=ApiSettings().sign_up_limit, sign_up_window_s=3600
    )
    codes = [(await _api_sign_up(api, {})).status_code for _ in range(100)]
    assert codes == [201] * 5 + [429] * 95


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    make_api: ApiFactory, clock: FakeClock
) -> None:
    api = await limited_api(make_api, clock, sign_up_limit=1, trusted_proxies=1)

    async def sign_up(forwarded_for: str) -> int:
        r = await api.client.post(
            "/v1/riders", json={"display_name": "Mei"}, headers={"X-Forwarded-For": forwarded_for}
        )
        return r.status_code

    assert await sign_up("198.51.100.1") == 201
    assert await sign_up("198.51.100.1") == 429
    # What the client wrote in front of the proxy's hop changes nothing.
    assert await sign_up("203.0.113.50, 198.51.100.1") == 429
    assert await sign_up("198.51.100.2") == 201


@pytest.mark.parametrize(
    ("accept", "lang", "html_lang", "title", "when"),
    [
        ("zh-TW", "zh-TW", "zh-Hant-TW", "請稍後再試", "請在 60 分鐘後再試一次。"),
        ("en-US,en;q=0.9", "en", "en", "Please try again later", "Try again in 60 minutes."),
    ],
)
async def test_the_sign_up_page_says_when_in_the_page_language(
    make_api: ApiFactory,
    clock: FakeClock,
    accept: str,
    lang: str,
    html_lang: str,
    title: str,
    when: str,
) -> None:
    api = await limited_api(make_api, clock, sign_up_limit=1)
    form = {"display_name": "Mei", "language": lang}
    first = await api.client.post("/start", data=form, headers={"Accept-Language": accept})
    assert first.status_code == 303
    api.client.cookies.clear()
    r = await api.client.post("/start", data=form, headers={"Accept-Language": accept})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3600"
    assert f'<html lang="{html_lang}">' in r.text
    assert f"<h1>{title}</h1>" in r.text
    assert when in r.text


# -- the 429 pages in Chromium ------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize(("language", "html_lang"), [("zh-TW", "zh-Hant-TW"), ("en", "en")])
async def test_the_429_pages_are_accessible_in_both_languages(
    make_api: ApiFactory, clock: FakeClock, browser: Browser, language: str, html_lang: str
) -> None:
    api = await limited_api(make_api, clock, sign_up_limit=2, voice_limit=1, search_limit=1)
    rider = await api.rider(language=language)  # the voice and search pages' rider
    locale = "en-US" if language == "en" else "zh-TW"
    context = await browser.new_context(locale=locale, viewport={"width": 320, "height": 640})
    page = await context.new_page()
    # Sign up by keyboard: the first visitor gets in, the next one is refused.
    for attempt in range(2):
        await context.clear_cookies()
        await page.goto(api.base_url + "/")
        await page.locator("#display_name").fill("Mei")
        await page.locator("#display_name").press("Enter")
        if attempt == 0:
            await expect(page.locator("h1")).to_contain_text("Mei")
    assert not any(c["name"] == "bushail_token" for c in await context.cookies())
    pages = {"sign-up": ""}
    await context.add_cookies(
        [
            {"name": "bushail_token", "value": rider["token"], "url": api.base_url},
            {"name": "bushail_lang", "value": language, "url": api.base_url},
        ]
    )
    pages |= {"voice": "/voice?text=307", "search": "/find?q=S1"}
    for what, path in pages.items():
        if path:
            first = await page.goto(api.base_url + path)
            assert first is not None
            assert first.status == 200, what
            refused = await page.goto(api.base_url + path)
            assert refused is not None
            assert refused.status == 429, what
        await expect(page.locator("html")).to_have_attribute("lang", html_lang)
        assert await page.locator("h1").count() == 1, what
        await expect(page.locator("main strong")).to_contain_text(
            "30" if what == "sign-up" else "1"
        )
        violations = await axe_violations(page)
        assert not violations, f"{what}: {describe(violations)}"
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{what}: {width}px wide at a 320px viewport"
    await context.close()
