"""Operator sessions: the cookie holds a session id, never the token; logout revokes;
idle and absolute expiry; the sign-in throttle; the rider cookie never opens the console;
the audit log and its page (axe-clean in Chromium)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from playwright.async_api import Page
from sqlalchemy import inspect
from sqlmodel import col, select

from broker_config.messages import utcnow
from rider_api.console.audit import AuditAction, record
from rider_api.console.routes import live as live_routes
from rider_api.console.sessions import operator_label
from rider_api.console.throttle import Lockout, LoginThrottle
from rider_api.core.security import OPERATOR_COOKIE, RIDER_COOKIE, hash_token
from rider_api.db.engine import make_sync_engine
from rider_api.db.migrate import alembic_config, upgrade
from rider_api.models import OperatorAudit, OperatorSession
from rider_api.settings import ConsoleSettings
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer
from tests.support.browser import axe_violations, describe

OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
BROADCAST = {"target": "stop", "stop_id": "S1", "text_zh": "測試", "text_en": "Test"}
OP_LABEL = operator_label(hash_token(OPERATOR_TOKEN))


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """Sessions and the audit log on SQLite, and on PostgreSQL where it is set up."""
    return any_database_url


@dataclass
class FakeClock:
    """Wall and monotonic time that move only when told (no sleeps, no timing)."""

    at: datetime = field(default_factory=utcnow)
    mono: float = 1_000.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clock(api: ApiServer) -> FakeClock:
    """The API's sessions and sign-in throttle on a clock of the test's own."""
    fake = FakeClock()
    api.state.operator_sessions.clock = fake.now
    api.state.login_throttle.clock = fake.monotonic
    return fake


def cookie_of(response: httpx.Response) -> str:
    """The session id that a sign-in's ``Set-Cookie`` carries."""
    found = re.match(rf"{OPERATOR_COOKIE}=([^;]+);", response.headers["set-cookie"])
    assert found, response.headers["set-cookie"]
    return found.group(1)


async def sign_in(api: ApiServer, token: str = OPERATOR_TOKEN, **headers: str) -> str:
    """Sign in over HTTP; the session id (the client's own cookie jar is left empty, so
    every request below says which cookie it sends)."""
    r = await api.client.post("/ops/login", data={"token": token}, headers=headers)
    assert r.status_code == 303, r.text
    api.client.cookies.clear()
    return cookie_of(r)


def with_session(session_id: str) -> dict[str, str]:
    return {"Cookie": f"{OPERATOR_COOKIE}={session_id}"}


async def failed_sign_in(api: ApiServer, lang: str = "") -> httpx.Response:
    return await api.client.post(f"/ops/login{lang}", data={"token": "wrong-guess"})


# -- the cookie --------------------------------------------------------------------------


async def test_cookie_holds_a_random_session_id_stored_only_hashed(api: ApiServer) -> None:
    r = await api.client.post("/ops/login", data={"token": OPERATOR_TOKEN})
    assert r.status_code == 303
    assert r.headers["location"] == "/ops"
    cookie = r.headers["set-cookie"]
    api.client.cookies.clear()
    session_id = cookie_of(r)
    assert OPERATOR_TOKEN not in cookie
    assert hash_token(OPERATOR_TOKEN) not in cookie
    assert len(session_id) >= 43  # 32 random bytes, URL-safe base64
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/ops" in cookie
    assert "Secure" not in cookie  # plain http here; see the https case below
    assert f"Max-Age={int(api.state.console.session_absolute_s)}" in cookie

    async with api.state.sessions() as session:
        rows = (await session.exec(select(OperatorSession))).all()
    assert [row.session_hash for row in rows] == [hash_token(session_id)]
    (row,) = rows
    assert row.operator_digest == hash_token(OPERATOR_TOKEN)
    assert row.revoked_at is None
    assert row.expires_at - row.created_at == timedelta(
        seconds=api.state.console.session_absolute_s
    )

    r = await api.client.get("/ops", headers=with_session(session_id))
    assert r.status_code == 200
    # Two sign-ins are two sessions with different ids.
    assert await sign_in(api) != session_id


async def test_cookie_is_secure_behind_https(api: ApiServer) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as from a TLS proxy in front.
    r = await api.client.post(
        "/ops/login", data={"token": OPERATOR_TOKEN}, headers={"X-Forwarded-Proto": "https"}
    )
    assert r.status_code == 303
    assert "Secure" in r.headers["set-cookie"]


async def test_the_raw_token_in_the_cookie_no_longer_opens_the_console(api: ApiServer) -> None:
    """The old cookie (the token itself) is not a session: sign in again."""
    r = await api.client.get("/ops", headers=with_session(OPERATOR_TOKEN))
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/login"
    r = await api.client.get("/ops/live.json", headers=with_session(OPERATOR_TOKEN))
    assert r.status_code == 401


# -- logout ------------------------------------------------------------------------------


async def test_logout_revokes_the_session_and_a_replayed_cookie_is_refused(
    api: ApiServer,
) -> None:
    session_id = await sign_in(api)
    assert (await api.client.get("/ops/live.json", headers=with_session(session_id))).is_success

    r = await api.client.post("/ops/logout?lang=en", headers=with_session(session_id))
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/login?lang=en"
    assert re.match(rf'{OPERATOR_COOKIE}="?"?;', r.headers["set-cookie"])
    assert "Max-Age=0" in r.headers["set-cookie"]

    # The attacker who copied the cookie replays it: every page and endpoint refuses.
    replay = with_session(session_id)
    r = await api.client.get("/ops", headers=replay)
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/login"
    assert (await api.client.get("/ops/live.json", headers=replay)).status_code == 401
    assert (await api.client.get("/ops/live/events", headers=replay)).status_code == 401
    r = await api.client.post("/ops/broadcast", data=BROADCAST, headers=replay)
    assert r.status_code == 303
    async with api.state.sessions() as session:
        row = await session.get(OperatorSession, hash_token(session_id))
    assert row is not None
    assert row.revoked_at is not None
    # Signing out twice is harmless, and scripts' bearer token is untouched by it all.
    r = await api.client.post("/ops/logout", headers=replay)
    assert r.status_code == 303
    assert (await api.client.get("/v1/ops/devices", headers=OPS)).status_code == 200
    assert (await api.client.get("/ops/live.json", headers=OPS)).status_code == 200


async def test_live_stream_ends_with_its_session(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_routes, "SESSION_RECHECK_S", 0.0)  # check at every refresh
    session_id = await sign_in(api)
    events = 0
    async with asyncio.timeout(15):
        async with api.client.stream(
            "GET", "/ops/live/events", headers=with_session(session_id)
        ) as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("event: live"):
                    events += 1
                    r = await api.client.post("/ops/logout", headers=with_session(session_id))
                    assert r.status_code == 303
            # The loop ends because the server ended the stream after the sign-out.
    assert events == 1


async def test_sign_in_again_ends_the_browsers_previous_session(api: ApiServer) -> None:
    first = await sign_in(api)
    second = await sign_in(api, **with_session(first))
    assert (await api.client.get("/ops", headers=with_session(first))).status_code == 303
    assert (await api.client.get("/ops", headers=with_session(second))).status_code == 200


# -- expiry ------------------------------------------------------------------------------


async def test_idle_session_expires(api: ApiServer, clock: FakeClock) -> None:
    idle = api.state.console.session_idle_s
    session_id = await sign_in(api)
    for _ in range(3):
        # Used just before the idle limit each time: it stays open (each use counts).
        clock.advance(idle - 60)
        r = await api.client.get("/ops", headers=with_session(session_id))
        assert r.status_code == 200
    clock.advance(idle + 1)
    r = await api.client.get("/ops", headers=with_session(session_id))
    assert r.status_code == 303
    assert r.headers["location"] == "/ops/login"


async def test_session_ends_at_its_absolute_limit_however_busy(
    api: ApiServer, clock: FakeClock
) -> None:
    console = api.state.console
    step = console.session_idle_s * 0.8
    session_id = await sign_in(api)
    used = 0.0
    while used + step < console.session_absolute_s:
        clock.advance(step)
        used += step
        r = await api.client.get("/ops/live.json", headers=with_session(session_id))
        assert r.status_code == 200, f"refused after {used} s"
    clock.advance(console.session_absolute_s - used + 1)
    r = await api.client.get("/ops/live.json", headers=with_session(session_id))
    assert r.status_code == 401
    assert (await api.client.get("/ops", headers=with_session(session_id))).status_code == 303


async def test_removed_operator_token_ends_its_sessions(api: ApiServer) -> None:
    session_id = await sign_in(api)
    tokens = api.state.operator_token_hashes
    api.state.operator_token_hashes = frozenset()
    try:
        r = await api.client.get("/ops/live.json", headers=with_session(session_id))
        assert r.status_code == 401
    finally:
        api.state.operator_token_hashes = tokens


# -- throttle ----------------------------------------------------------------------------


async def test_sign_in_throttle_engages_at_the_limit_and_resets_on_success(
    api: ApiServer, clock: FakeClock
) -> None:
    console = api.state.console
    limit = console.login_failures_per_address
    window = int(console.login_window_s)
    for _ in range(limit - 1):
        r = await failed_sign_in(api)
        assert r.status_code == 403
        assert "這個權杖不是營運權杖" in r.text
    r = await failed_sign_in(api)
    assert r.status_code == 429
    assert r.headers["retry-after"] == str(window)
    assert "set-cookie" not in r.headers
    assert (
        f'<p class="error" role="alert" id="login-error">這個位址登入失敗次數太多，'
        f"請在 {window // 60} 分鐘後再試。</p>"
    ) in r.text
    # Locked means locked: the right token waits too (or guessing would go on).
    r = await api.client.post("/ops/login?lang=en", data={"token": OPERATOR_TOKEN})
    assert r.status_code == 429
    assert "set-cookie" not in r.headers
    assert f"Try again in {window // 60} minutes." in r.text

    clock.advance(window - 90)
    r = await failed_sign_in(api, "?lang=en")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "90"
    assert "Too many failed sign-ins from this address. Try again in 2 minutes." in r.text

    clock.advance(90)
    session_id = await sign_in(api)
    assert (await api.client.get("/ops", headers=with_session(session_id))).status_code == 200
    # The success reset the count: the next guesses start again from zero.
    for _ in range(limit - 1):
        assert (await failed_sign_in(api)).status_code == 403
    assert (await failed_sign_in(api)).status_code == 429

    async with api.state.sessions() as session:
        failed = (
            await session.exec(
                select(OperatorAudit).where(col(OperatorAudit.action) == "login.failed")
            )
        ).all()
    # Every failed guess is recorded; the refusals while locked cost no write.
    assert len(failed) == 2 * limit
    assert {(row.operator, row.client) for row in failed} == {(None, "127.0.0.1")}


def test_throttle_locks_everyone_after_failures_spread_over_addresses() -> None:
    settings = ConsoleSettings(
        login_failures_per_address=3, login_failures_global=5, login_window_s=60
    )
    now = [0.0]
    throttle = LoginThrottle(settings, clock=lambda: now[0])
    for i in range(4):
        assert throttle.failed(f"10.0.0.{i}") is None
        now[0] += 1
    assert throttle.failed("10.0.0.9") == Lockout(56, "all")
    assert throttle.lockout("192.0.2.1") == Lockout(56, "all")
    # Never more addresses kept than failures allowed in a window.
    assert len(throttle._by_address) <= settings.login_failures_global
    now[0] = 60.5  # the first failure (at 0) has left the window
    assert throttle.lockout("192.0.2.1") is None
    assert throttle.failed("192.0.2.1") == Lockout(1, "all")
    now[0] = 200
    assert throttle.lockout("10.0.0.9") is None
    assert throttle._by_address == {}


def test_throttle_per_address_is_a_sliding_window() -> None:
    settings = ConsoleSettings(login_failures_per_address=2, login_window_s=10)
    now = [0.0]
    throttle = LoginThrottle(settings, clock=lambda: now[0])
    assert throttle.failed("a") is None
    now[0] = 4
    assert throttle.failed("a") == Lockout(6, "address")
    assert throttle.lockout("b") is None
    now[0] = 10.5  # the failure at 0 is gone; the one at 4 remains
    assert throttle.lockout("a") is None
    assert throttle.failed("a") == Lockout(4, "address")
    throttle.succeeded("a")
    assert throttle.lockout("a") is None


# -- the rider's cookie ------------------------------------------------------------------


async def test_rider_cookie_never_opens_the_console(api: ApiServer) -> None:
    rider = await api.rider()
    rider_cookie = {"Cookie": f"{RIDER_COOKIE}={rider['token']}"}
    # The rider app's cookie is not read by the console at all ...
    for path in ("/ops", "/ops/quality", "/ops/broadcast", "/ops/audit"):
        r = await api.client.get(path, headers=rider_cookie)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/ops/login"
    for path in ("/ops/live.json", "/ops/quality.json", "/v1/ops/devices"):
        assert (await api.client.get(path, headers=rider_cookie)).status_code == 401, path
    r = await api.client.post("/ops/broadcast", data=BROADCAST, headers=rider_cookie)
    assert r.status_code == 303
    # ... nor an operator's token put into it (the operator API wants the header).
    operator_in_rider_cookie = {"Cookie": f"{RIDER_COOKIE}={OPERATOR_TOKEN}"}
    assert (await api.client.get("/ops", headers=operator_in_rider_cookie)).status_code == 303
    # A rider token as the console's cookie is no session either; as a bearer, 403.
    r = await api.client.get("/ops/live.json", headers=with_session(rider["token"]))
    assert r.status_code == 401
    assert (await api.client.get("/ops/live.json", headers=rider["headers"])).status_code == 403
    r = await api.client.post("/ops/login", data={"token": rider["token"]})
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


# -- audit log ---------------------------------------------------------------------------


async def book(api: ApiServer) -> str:
    rider = await api.rider()
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": "S1", "route_id": "R1", "direction_id": 0},
        headers=rider["headers"],
    )
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


def actions_on(page_html: str) -> list[str]:
    return re.findall(r'<tr data-action="([^"]+)">', page_html)


async def test_operator_actions_are_in_the_audit_log_newest_first(api: ApiServer) -> None:
    assert (await failed_sign_in(api)).status_code == 403
    session_id = await sign_in(api)
    r = await api.client.post("/ops/broadcast", data=BROADCAST, headers=with_session(session_id))
    assert r.status_code == 202
    r = await api.client.post(
        "/v1/ops/stops/S2/announce",
        json={"text": {"zh-TW": "稍候", "en": "Please wait"}, "priority": "urgent"},
        headers=OPS,
    )
    assert r.status_code == 202
    rid = await book(api)
    assert (await api.client.delete(f"/v1/ops/reservations/{rid}", headers=OPS)).is_success
    # A refused action leaves no row: the row commits with the action or not at all.
    r = await api.client.delete(f"/v1/ops/reservations/{rid}", headers=OPS)
    assert r.status_code == 409
    assert (await api.client.post("/ops/logout", headers=with_session(session_id))).is_redirect
    session_id = await sign_in(api)

    r = await api.client.get("/ops/audit?lang=en", headers=with_session(session_id))
    assert r.status_code == 200
    assert actions_on(r.text) == [
        "login",
        "logout",
        "reservation.cancel",
        "broadcast",
        "broadcast",
        "login",
        "login.failed",
    ]
    assert '<caption id="audit-caption">Operator actions, page 1 of 1</caption>' in r.text
    for text in ("Signed in", "Signed out", "Failed sign-in", "Cancelled a booking"):
        assert text in r.text
    async with api.state.sessions() as session:
        rows = (await session.exec(select(OperatorAudit).order_by(col(OperatorAudit.id)))).all()
    seen = [(row.action, row.operator, row.target, row.client) for row in rows]
    assert seen == [
        (AuditAction.LOGIN_FAILED, None, None, "127.0.0.1"),
        (AuditAction.LOGIN, OP_LABEL, None, "127.0.0.1"),
        (AuditAction.BROADCAST, OP_LABEL, "stop:S1", "127.0.0.1"),
        (AuditAction.BROADCAST, OP_LABEL, "stop:S2", "127.0.0.1"),
        (AuditAction.CANCEL, OP_LABEL, f"reservation:{rid}", "127.0.0.1"),
        (AuditAction.LOGOUT, OP_LABEL, None, "127.0.0.1"),
        (AuditAction.LOGIN, OP_LABEL, None, "127.0.0.1"),
    ]
    assert rows[2].detail == "info; 1 stop; zh-TW: 測試; en: Test"
    assert rows[3].detail == "urgent; 1 stop; zh-TW: 稍候; en: Please wait"
    # The page in zh-TW, too.
    r = await api.client.get("/ops/audit", headers=with_session(session_id))
    assert "操作紀錄，第 1 頁，共 1 頁" in r.text
    assert "登入失敗" in r.text


async def test_audit_page_is_paginated(api: ApiServer) -> None:
    size = api.state.console.audit_page_size
    async with api.state.unit_of_work() as uow:
        for i in range(size + 3):
            record(
                uow.session,
                action=AuditAction.LOGIN_FAILED,
                operator=None,
                client=f"192.0.2.{i % 250}",
                detail=f"n{i}",
            )
    r = await api.client.get("/ops/audit?lang=en", headers=OPS)
    assert len(actions_on(r.text)) == size
    assert "Operator actions, page 1 of 2" in r.text
    assert f"{size + 3} entries in all." in r.text
    assert f"n{size + 2}</td>" in r.text  # newest first
    assert '<a href="/ops/audit?page=2&amp;lang=en" rel="next">Older entries</a>' in r.text
    assert "Newer entries" not in r.text
    r = await api.client.get("/ops/audit?page=2&lang=en", headers=OPS)
    assert len(actions_on(r.text)) == 3
    assert "n0</td>" in r.text
    assert '<a href="/ops/audit?page=1&amp;lang=en" rel="prev">Newer entries</a>' in r.text
    r = await api.client.get("/ops/audit?page=9", headers=OPS)  # past the end: the last page
    assert "第 2 頁，共 2 頁" in r.text


# -- the migration -----------------------------------------------------------------------


def test_migration_0002_goes_down_and_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    cfg = alembic_config(url)
    command.downgrade(cfg, "0001")
    engine = make_sync_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert "operator_session" not in tables
    assert "operator_audit" not in tables
    assert "reservation" in tables
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        assert {"operator_session", "operator_audit"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- in Chromium -------------------------------------------------------------------------


@pytest.mark.browser
async def test_audit_page_and_locked_sign_in_have_no_axe_violations(
    api: ApiServer, page: Page
) -> None:
    await page.goto(f"{api.base_url}/ops/login?lang=en")
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{api.base_url}/ops?lang=en")
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == OPERATOR_COOKIE]
    assert cookie["value"] != OPERATOR_TOKEN
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    # A broadcast through the form, so the log has an operator's action in it.
    await page.goto(f"{api.base_url}/ops/broadcast")
    await page.fill("#b-stop", "S1")
    await page.fill("#b-zh", "測試")
    await page.fill("#b-en", "test")
    await page.click("form.stack button[type=submit]")
    await page.wait_for_selector("#broadcast-result")
    for lang in ("", "?lang=en"):
        await page.goto(f"{api.base_url}/ops/audit{lang}")
        await page.wait_for_selector('tr[data-action="broadcast"]')
        current = page.locator('nav a[aria-current="page"]')
        assert await current.get_attribute("href") == f"/ops/audit{lang}"
        violations = await axe_violations(page)
        assert not violations, f"/ops/audit{lang}: " + describe(violations)

    # Signing out with the console's own button; the board is then closed to this tab.
    await page.click("header form button[type=submit]")
    await page.wait_for_url(f"{api.base_url}/ops/login?lang=en")
    await page.goto(f"{api.base_url}/ops/audit")
    await page.wait_for_url(f"{api.base_url}/ops/login")

    # Guessing until locked: the wait is said in words, in an alert.
    for _ in range(api.state.console.login_failures_per_address):
        await page.fill("#token", "wrong-guess")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#login-error")
    alert = page.locator('[role="alert"]#login-error')
    assert "分鐘後再試" in (await alert.inner_text())
    assert await page.get_attribute("#token", "aria-invalid") is None
    violations = await axe_violations(page)
    assert not violations, describe(violations)
