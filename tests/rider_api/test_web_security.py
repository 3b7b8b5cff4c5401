"""Cross-site requests refused and security headers on every answer (issue 14).

Over HTTP: with a foreign ``Origin`` or ``Sec-Fetch-Site``, the rider app's forms, the
console's broadcast and cookie-authenticated API calls are refused and change nothing
(counted in the database); from the server's own origin, or from a program without
either header, they work. Every route, error, static file and stream carries the
headers. In Chromium: a page on another loopback port, whose forms the browser sends
with the rider's and the operator's cookies (same-site), cannot book, cancel or
broadcast; listing that origin as trusted lets the same page through, so the check is
what refuses it; the pages run under the policy without one violation.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlmodel import col, func, select

from broker_config.messages import ReservationStatus
from rider_api.app import create_app
from rider_api.console.routes.static import STATIC_FILES as CONSOLE_FILES
from rider_api.core.security import RIDER_COOKIE
from rider_api.core.web_security import (
    CONTENT_SECURITY_POLICY,
    DOCS_CONTENT_SECURITY_POLICY,
    PERMISSIONS_POLICY,
    cross_site_refusal,
    normalize_origin,
)
from rider_api.models import OutboxMessage, Reservation
from rider_api.settings import ApiSettings
from rider_api.web.routes.static import STATIC_FILES as WEB_FILES
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiFactory, ApiServer
from tests.support.browser import axe_violations, describe

OPS_BEARER = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
BROADCAST = {"target": "stop", "stop_id": "S1", "text_zh": "測試", "text_en": "Test"}
BOOKING = {"stop_id": "S1", "route_id": "R1", "direction_id": 0}
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": PERMISSIONS_POLICY,
}


def _other_port(base_url: str) -> str:
    """The server's own host on another port: the same site, another origin."""
    port = int(base_url.rsplit(":", 1)[1])
    return f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}"


#: What a browser sends with a form posted from another site's page.
ATTACKS: dict[str, Callable[[str], dict[str, str]]] = {
    "foreign-origin": lambda _base: {"Origin": "http://evil.example"},
    "cross-site": lambda _base: {"Sec-Fetch-Site": "cross-site"},
    "same-site-other-port": lambda base: {
        "Origin": _other_port(base),
        "Sec-Fetch-Site": "same-site",
    },
    "null-origin": lambda _base: {"Origin": "null"},
}


# -- helpers -----------------------------------------------------------------------------


async def count_reservations(api: ApiServer) -> int:
    async with api.state.sessions() as session:
        return (await session.exec(select(func.count()).select_from(Reservation))).one()


async def count_announcements(api: ApiServer, stop_id: str = "S1") -> int:
    topic = api.state.topics.stop_announce(stop_id)
    async with api.state.sessions() as session:
        query = select(func.count()).where(col(OutboxMessage.topic) == topic)
        return (await session.exec(query)).one()


async def status_of(api: ApiServer, reservation_id: str) -> ReservationStatus:
    async with api.state.sessions() as session:
        res = await session.get(Reservation, uuid.UUID(reservation_id))
        assert res is not None
        return res.status


async def book_by_api(api: ApiServer, token: str) -> str:
    """A booking made by a program (bearer token, no Origin): let in."""
    r = await api.client.post(
        "/v1/reservations", json=BOOKING, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 201, r.text
    reservation_id: str = r.json()["id"]
    return reservation_id


async def ops_cookie(api: ApiServer) -> str:
    """The console's cookie as the sign-in form sets it (whatever it holds)."""
    r = await api.client.post("/ops/login", data={"token": OPERATOR_TOKEN})
    assert r.status_code == 303, r.text
    api.client.cookies.clear()  # the shared client stays anonymous
    return "; ".join(f"{name}={value}" for name, value in r.cookies.items())


def assert_security_headers(response: httpx.Response, what: str, *, docs: bool = False) -> None:
    expected = {**HEADERS}
    if docs:
        expected["content-security-policy"] = DOCS_CONTENT_SECURITY_POLICY
    got = {name: response.headers.get(name) for name in expected}
    assert got == expected, f"{what} ({response.status_code})"
    assert "strict-transport-security" not in response.headers, what


# -- the rule, without I/O ---------------------------------------------------------------

OWN = {"http://127.0.0.1:8000"}


@pytest.mark.parametrize(
    ("method", "origin", "site", "refused"),
    [
        ("GET", "http://evil.example", "cross-site", False),
        ("HEAD", None, "cross-site", False),
        ("POST", None, None, False),
        ("POST", None, "none", False),
        ("POST", None, "same-origin", False),
        ("POST", "http://127.0.0.1:8000", "same-origin", False),
        ("POST", "http://127.0.0.1:8000", None, False),
        ("POST", "HTTP://127.0.0.1:8000/", None, False),
        ("POST", "https://partner.example", "cross-site", False),
        ("POST", None, "cross-site", True),
        ("POST", None, "same-site", True),
        ("POST", "http://evil.example", None, True),
        ("POST", "http://127.0.0.1:8001", "same-site", True),
        ("POST", "http://127.0.0.1:8001", None, True),
        ("POST", "https://127.0.0.1:8000", None, True),
        ("POST", "http://127.0.0.1:8000", "cross-site", True),
        ("POST", "null", None, True),
        ("DELETE", "http://evil.example", "cross-site", True),
        ("PUT", "http://evil.example", None, True),
        ("PATCH", None, "cross-site", True),
        ("PROPFIND", None, "cross-site", True),
    ],
)
def test_cross_site_rule(method: str, origin: str | None, site: str | None, refused: bool) -> None:
    reason = cross_site_refusal(
        method=method,
        origin=origin,
        fetch_site=site,
        own=OWN,
        trusted={"https://partner.example"},
    )
    assert (reason is not None) is refused, reason


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("HTTPS://BusHail.Example:443/", "https://bushail.example"),
        ("http://bushail.example:80", "http://bushail.example"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_origins_are_normalized(given: str, expected: str) -> None:
    assert normalize_origin(given) == expected


@pytest.mark.parametrize(
    "bad",
    ["null", "", "evil.example", "ftp://x", "https://x/path", "https://u@x", "http://x:99999"],
)
def test_what_is_not_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        normalize_origin(bad)
    with pytest.raises(ValueError, match="not an origin"):
        ApiSettings(trusted_origins=[bad])


async def test_an_unhandled_error_is_answered_with_the_headers() -> None:
    """The application as built, with a route that fails (no lifespan needed for it)."""
    app = create_app(ApiSettings(mqtt_enabled=False))

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/internal-error")
    assert_security_headers(r, "unhandled error")


# -- over HTTP ---------------------------------------------------------------------------


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_another_sites_forms_and_cookie_calls_are_refused_and_change_nothing(
    api: ApiServer, attack: str
) -> None:
    rider = await api.rider(language="en")
    rid = await book_by_api(api, rider["token"])
    as_rider = {**ATTACKS[attack](api.base_url), "Cookie": f"{RIDER_COOKIE}={rider['token']}"}
    as_operator = {**ATTACKS[attack](api.base_url), "Cookie": await ops_cookie(api)}
    reservations, announcements = await count_reservations(api), await count_announcements(api)
    status = await status_of(api, rid)

    form_posts = [
        ("/book", {"stop": "S1", "choice": "R1:0"}, as_rider),
        (f"/trip/{rid}/cancel", {}, as_rider),
        ("/ops/broadcast", BROADCAST, as_operator),
        ("/language", {"language": "zh-TW"}, as_rider),
    ]
    for path, data, headers in form_posts:
        r = await api.client.post(path, data=data, headers=headers)
        assert r.status_code == 403, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert "Request refused" in r.text, path
        assert "set-cookie" not in r.headers, path
    api_calls = [
        ("DELETE", f"/v1/reservations/{rid}", None),
        ("POST", "/v1/reservations", BOOKING),
    ]
    for method, path, body in api_calls:
        r = await api.client.request(method, path, json=body, headers=as_rider)
        assert r.status_code == 403, path
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"].endswith("/cross-site-request"), problem
        assert "another web site" in problem["detail"]

    assert await count_reservations(api) == reservations
    assert await count_announcements(api) == announcements
    assert await status_of(api, rid) is status is not ReservationStatus.CANCELLED


async def test_the_servers_own_pages_and_programs_are_let_in(api: ApiServer) -> None:
    rider = await api.rider(language="en")
    own = {"Origin": api.base_url, "Sec-Fetch-Site": "same-origin"}
    as_rider = {**own, "Cookie": f"{RIDER_COOKIE}={rider['token']}"}
    reservations, announcements = await count_reservations(api), await count_announcements(api)

    r = await api.client.post("/book", data={"stop": "S1", "choice": "R1:0"}, headers=as_rider)
    assert r.status_code == 303, r.text
    booked = re.fullmatch(r"/trip/([0-9a-f-]+)\?booked=1", r.headers["location"])
    assert booked is not None
    assert await count_reservations(api) == reservations + 1
    r = await api.client.post(f"/trip/{booked[1]}/cancel", headers=as_rider)
    assert r.status_code == 303
    assert await status_of(api, booked[1]) is ReservationStatus.CANCELLED

    r = await api.client.post(
        "/ops/broadcast", data=BROADCAST, headers={**own, "Cookie": await ops_cookie(api)}
    )
    assert r.status_code == 202, r.text
    assert await count_announcements(api) == announcements + 1

    # A cookie call from the app's own page, and a program's bearer call (no headers).
    rid = await book_by_api(api, rider["token"])
    r = await api.client.delete(f"/v1/reservations/{rid}", headers=as_rider)
    assert r.status_code == 200, r.text
    rid = await book_by_api(api, rider["token"])
    r = await api.client.delete(f"/v1/reservations/{rid}", headers=rider["headers"])
    assert r.status_code == 200, r.text


def _fill(path: str, values: Mapping[str, str]) -> list[str]:
    """The path with its parameters filled in (a static file route: each of its files)."""
    if "{name}" in path:
        files = CONSOLE_FILES if path.startswith("/ops/") else WEB_FILES
        return [path.replace("{name}", name) for name in files]
    return [re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m[1], "x"), path)]


async def _headers_of(
    client: httpx.AsyncClient, method: str, url: str, headers: Mapping[str, str]
) -> httpx.Response:
    # Streams (SSE) are opened, their headers read and the stream closed.
    async with client.stream(method, url, headers=headers) as response:
        return response


async def test_every_route_answers_with_the_security_headers(api: ApiServer) -> None:
    rider = await api.rider(language="en")
    rid = await book_by_api(api, rider["token"])
    values = {"reservation_id": rid, "stop_id": "S1", "route_id": "R1"}
    identities = {
        "anonymous": {},
        "rider": {"Cookie": f"{RIDER_COOKIE}={rider['token']}"},
        "operator": OPS_BEARER,
    }
    app = create_app(ApiSettings(mqtt_enabled=False))  # the same routes, not started
    docs = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    statuses: dict[int, int] = {}
    seen_get = seen_unsafe = 0
    for route in iter_route_contexts(app.routes):
        methods = getattr(route.route, "methods", None) or set()
        assert route.path is not None
        for url in _fill(route.path, values):
            if "GET" in methods:
                seen_get += 1
                for who, headers in identities.items():
                    r = await _headers_of(api.client, "GET", url, headers)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    assert_security_headers(r, f"GET {url} as {who}", docs=route.path in docs)
            for method in sorted(methods - {"GET", "HEAD"}):
                # Every state-changing route refuses another site's page, with the headers.
                seen_unsafe += 1
                r = await api.client.request(
                    method, url, headers={**identities["rider"], "Origin": "http://evil.example"}
                )
                assert r.status_code == 403, f"{method} {url}"
                assert_security_headers(r, f"{method} {url} from evil.example")
    assert seen_get >= 30
    assert seen_unsafe >= 12
    assert statuses.get(200, 0) >= 40, statuses  # pages, data, files and streams answered

    errors = [
        ("GET", "/no/such/page", {}, 404),
        ("GET", "/static/nope.js", {}, 404),
        ("GET", "/start", {}, 405),
        ("POST", "/v1/reservations", {"json": {"stop_id": 1}, "headers": rider["headers"]}, 422),
        ("POST", "/start", {"data": {"display_name": ""}}, 422),
        ("POST", "/v1/riders", {"content": b"x" * (70 * 1024)}, 413),
    ]
    for method, url, options, status in errors:
        r = await api.client.request(method, url, **options)
        assert r.status_code == status, f"{method} {url}: {r.text[:200]}"
        assert_security_headers(r, f"{method} {url}")


async def test_hsts_only_when_the_request_came_over_https(
    make_api: ApiFactory, tmp_path: Path
) -> None:
    api = await make_api()
    r = await api.client.get("/healthz")
    assert "strict-transport-security" not in r.headers
    # Over TLS at a proxy on loopback (uvicorn trusts its X-Forwarded-Proto).
    r = await api.client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["strict-transport-security"] == "max-age=31536000"

    # A second instance: on a database of its own (SQLite allows one instance a file).
    proxied = await make_api(
        mqtt=False, behind_tls_proxy=True, url=f"sqlite:///{tmp_path / 'proxied.db'}"
    )
    r = await proxied.client.get("/healthz")
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    # Behind that proxy the browser's origin is https://<Host>.
    rider = await proxied.rider()
    https_origin = proxied.base_url.replace("http://", "https://")
    r = await proxied.client.post(
        "/v1/reservations", json=BOOKING, headers={**rider["headers"], "Origin": https_origin}
    )
    assert r.status_code == 201, r.text
    # ... and the cookies it sets are Secure although the app itself sees http.
    r = await proxied.client.post(
        "/start",
        data={"display_name": "Mei", "language": "en"},
        headers={"Origin": https_origin},
    )
    assert r.status_code == 303, r.text
    cookies = r.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert all("; secure" in c.lower() for c in cookies), cookies


# -- in Chromium -------------------------------------------------------------------------


@asynccontextmanager
async def foreign_site(pages: dict[str, str]) -> AsyncIterator[str]:
    """Another origin on loopback (a free port): serves ``pages`` (path -> HTML, read at
    request time) with a minimal HTTP/1.1 of its own; yields its origin."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).split()
            while (await reader.readline()).strip():
                pass  # the request's headers
            path = request_line[1].decode() if len(request_line) > 1 else "/"
            body = pages.get(path, "").encode()
            status = "200 OK" if body else "404 Not Found"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def auto_post(action: str, fields: Mapping[str, str]) -> str:
    """A page that posts a form to ``action`` as soon as it loads."""
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    return (
        '<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>'
        f'<form id="f" method="post" action="{action}">{inputs}</form>'
        '<script>document.getElementById("f").submit()</script></body></html>'
    )


async def sign_up_and_in(browser: Browser, api: ApiServer) -> tuple[BrowserContext, Page, str]:
    """A browser signed up in the rider app (its form) and signed in to the console (its
    form), as one person testing both would be; returns the rider's token."""
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    await page.goto(api.base_url + "/")
    await page.fill("#display_name", "Mei")
    await page.click("form[action='/start'] button")
    await expect(page.locator("h1")).to_have_text("Hello, Mei")
    await page.goto(api.base_url + "/ops/login")
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{api.base_url}/ops")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies[RIDER_COOKIE]["sameSite"] == "Lax"
    return context, page, cookies[RIDER_COOKIE]["value"]


async def post_from(page: Page, page_url: str, api: ApiServer) -> tuple[int, dict[str, str]]:
    """Open the foreign page; the status of the form post it makes to the server, and the
    headers the browser sent with it (cookies included)."""

    def to_server(response: Any) -> bool:
        return bool(response.request.method == "POST" and response.url.startswith(api.base_url))

    async with page.expect_response(to_server) as posted:
        await page.goto(page_url)
    response = await posted.value
    return response.status, await response.request.all_headers()


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_a_page_on_another_origin_cannot_book_cancel_or_broadcast(
    api: ApiServer, browser: Browser
) -> None:
    pages: dict[str, str] = {}
    async with foreign_site(pages) as foreign:
        context, page, token = await sign_up_and_in(browser, api)
        rid = await book_by_api(api, token)
        pages["/book"] = auto_post(f"{api.base_url}/book", {"stop": "S1", "choice": "R1:0"})
        pages["/cancel"] = auto_post(f"{api.base_url}/trip/{rid}/cancel", {})
        pages["/broadcast"] = auto_post(f"{api.base_url}/ops/broadcast", BROADCAST)
        reservations, announcements = await count_reservations(api), await count_announcements(api)
        before = await status_of(api, rid)
        console_cookies = [c["name"] for c in await context.cookies() if c["path"] == "/ops"]
        assert console_cookies

        for path in ("/book", "/cancel", "/broadcast"):
            status, sent = await post_from(page, foreign + path, api)
            assert status == 403, path
            # The browser did send the cookies (another port is the same site): only the
            # origin check stood in the way.
            names = [RIDER_COOKIE] if path != "/broadcast" else console_cookies
            assert all(f"{name}=" in sent.get("cookie", "") for name in names), (path, sent)
            assert sent["origin"] == foreign
            assert sent["sec-fetch-site"] == "same-site"
            await expect(page.locator("h1")).to_contain_text("Request refused")
        violations = await axe_violations(page)  # the refusal page, read by a screen reader
        assert not violations, describe(violations)

        assert await count_reservations(api) == reservations
        assert await count_announcements(api) == announcements
        assert await status_of(api, rid) is before is not ReservationStatus.CANCELLED
        await context.close()


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_same_page_from_a_trusted_origin_books(
    make_api: ApiFactory, browser: Browser
) -> None:
    """The control: the origin check, not the browser, is what stopped the page above."""
    pages: dict[str, str] = {}
    async with foreign_site(pages) as foreign:
        api = await make_api(trusted_origins=[foreign])
        context, page, _token = await sign_up_and_in(browser, api)
        pages["/book"] = auto_post(f"{api.base_url}/book", {"stop": "S1", "choice": "R1:0"})
        reservations = await count_reservations(api)
        status, _sent = await post_from(page, foreign + "/book", api)
        assert status == 303
        await expect(page.locator("#trip-heading")).to_contain_text("Booked")
        assert await count_reservations(api) == reservations + 1
        await context.close()


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_the_pages_run_under_the_policy_without_a_violation(
    api: ApiServer, browser: Browser
) -> None:
    context, page, token = await sign_up_and_in(browser, api)
    rid = await book_by_api(api, token)
    refused: list[str] = []
    page.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    rider_pages = [
        "/",
        "/find?q=stop",
        "/stop/S1",
        "/book?stop=S1&choice=R1:0",
        f"/trip/{rid}",
        "/voice?text=307+at+stop+S1",
    ]
    for path in rider_pages:
        response = await page.goto(api.base_url + path)
        assert response is not None
        assert response.status == 200, path
        assert (await response.all_headers())["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The script ran (it shows the "near me" button) ...
    await page.goto(api.base_url + "/find?q=stop")
    await expect(page.locator("#near-button")).to_be_visible()
    # ... and the console's live board streams (SSE) under connect-src 'self'.
    for path in ("/ops/quality", "/ops/broadcast", "/ops"):
        await page.goto(api.base_url + path)
    await expect(page.locator("#live[data-updated]")).to_have_count(1)
    assert refused == []
    await context.close()
