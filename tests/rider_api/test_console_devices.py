"""Device logins in the console (/ops/devices): an operator revokes a stolen gateway (cut
off at once, refused when it retries, in the audit log) and restores it; a rotation has
the old password refused; no page, audit row or log line ever holds a password; riders
and strangers can neither see the page nor change a login; without the broker's state
folder the page explains the CLI; the pages work by keyboard and are axe-clean."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page
from sqlmodel import col, select

from broker_config.admin import ChangeKind, DeviceAdmin, LoginChange
from broker_config.broker import ManagedBroker
from broker_config.errors import ConnectRefusedError
from broker_config.session import BrokerEndpoint, MqttSession, SessionOptions
from rider_api.console.routes.devices import (
    ChangeRefusedError,
    DeviceLogin,
    audit_detail,
    change_report,
    check_action,
)
from rider_api.console.sessions import operator_label
from rider_api.core.security import OPERATOR_COOKIE, RIDER_COOKIE, hash_token
from rider_api.models import OperatorAudit
from rider_api.settings import ConsoleSettings
from tests.conftest import ConnectFn
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiFactory, ApiServer
from tests.support.browser import axe_violations, describe
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(90)

OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
OP_LABEL = operator_label(hash_token(OPERATOR_TOKEN))
CONFIRM = {"confirm": "yes"}
DEVICE_LOGINS = [
    "stop.S1",
    "stop.S2",
    "stop.S3",
    "stop.S4",
    "vehicle.V1",
    "vehicle.V2",
    "vehicle.V3",
]


@pytest.fixture
async def api(make_api: ApiFactory, broker: ManagedBroker) -> ApiServer:
    """The API, its console pointed at the test broker's state folder."""
    return await make_api(console=ConsoleSettings(broker_state_dir=broker.state_dir))


async def sign_in(api: ApiServer) -> dict[str, str]:
    """A console session (the cookie a browser would send), as request headers."""
    r = await api.client.post("/ops/login", data={"token": OPERATOR_TOKEN})
    assert r.status_code == 303, r.text
    api.client.cookies.clear()
    found = re.match(rf"{OPERATOR_COOKIE}=([^;]+);", r.headers["set-cookie"])
    assert found
    return {"Cookie": f"{OPERATOR_COOKIE}={found.group(1)}"}


def went_offline(session: MqttSession) -> asyncio.Event:
    """Set when ``session`` loses its connection."""
    lost = asyncio.Event()
    session.on_connection_change(lambda up: None if up else lost.set())
    return lost


async def refused(endpoint: BrokerEndpoint) -> ConnectRefusedError:
    """Connect once with ``endpoint``; the broker's refusal."""
    options = SessionOptions(client_id=endpoint.username or "x", clean_start=True)
    async with MqttSession(endpoint, options) as session:
        with pytest.raises(ConnectRefusedError) as refusal:
            await session.wait_connected(10)
    return refusal.value


def result_of(html: str) -> str:
    """The text of the page's change result (role=status), tags removed."""
    found = re.search(r'<div id="device-result" class="ok" role="status">(.*?)</div>', html, re.S)
    assert found, html
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def row_of(html: str, login: str) -> str:
    found = re.search(rf'<tr data-login="{re.escape(login)}".*?</tr>', html, re.S)
    assert found, login
    return found.group(0)


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-login="([^"]+)"', html)


def revoked(broker: ManagedBroker) -> set[str]:
    return {s.login for s in DeviceAdmin(broker.state_dir).logins() if s.revoked}


async def audit_rows(api: ApiServer) -> list[OperatorAudit]:
    async with api.state.sessions() as session:
        rows = await session.exec(select(OperatorAudit).order_by(col(OperatorAudit.id)))
        return list(rows.all())


async def device_audit(api: ApiServer) -> list[tuple[str, str | None, str | None]]:
    return [
        (row.action, row.operator, row.target)
        for row in await audit_rows(api)
        if row.action.startswith("device.")
    ]


# -- revoke and restore ------------------------------------------------------------------


async def test_revoke_cuts_the_gateway_off_at_once_and_restore_brings_it_back(
    api: ApiServer, broker: ManagedBroker, connect: ConnectFn
) -> None:
    gateway = await connect("stop.S1", client_id="stop.S1", reconnect_max_s=0.5)
    lost = went_offline(gateway)
    endpoint = broker.endpoint("stop.S1")
    ops = await sign_in(api)

    r = await api.client.get("/ops/devices/stop.S1/revoke?lang=en", headers=ops)
    assert r.status_code == 200
    assert "<h1>Revoke stop.S1?</h1>" in r.text
    assert "I understand this device is cut off at once" in r.text
    # The box not ticked: refused, and nothing happens to the gateway.
    r = await api.client.post("/ops/devices/stop.S1/revoke?lang=en", headers=ops)
    assert r.status_code == 422
    assert 'role="alert" id="confirm-error">Tick the box to confirm. Nothing was changed.' in r.text
    assert gateway.connected
    assert revoked(broker) == set()

    r = await api.client.post("/ops/devices/stop.S1/revoke?lang=en", data=CONFIRM, headers=ops)
    assert r.status_code == 200, r.text
    said = result_of(r.text)
    assert said.startswith("stop.S1 is revoked. The broker refuses the previous password")
    confirmed = re.search(r"\(confirmed after (\d+\.\d{3}) s\)", said)
    assert confirmed, said
    # The live connection is closed (a bounded wait), and the gateway cannot come back:
    # its own retries are refused, as is anyone holding its password.
    await asyncio.wait_for(lost.wait(), 5)
    refusal = await eventually(lambda: gateway.last_refusal, what="the gateway's retry refused")
    assert refusal is not None
    assert refusal.code in (134, 135)  # bad user name or password / not authorised
    assert (await refused(endpoint)).code in (134, 135)
    assert revoked(broker) == {"stop.S1"}
    # The list marks it and offers only to restore it.
    row = row_of(r.text, "stop.S1")
    assert 'data-revoked="true"' in row
    assert "<strong>Revoked</strong>" in row
    assert re.findall(r'data-action="(\w+)"', row) == ["restore"]
    assert 'data-revoked="false"' in row_of(r.text, "stop.S2")
    # The audit log has it, with what the broker confirmed.
    assert await device_audit(api) == [("device.revoke", OP_LABEL, "stop.S1")]
    (row_revoke,) = [row for row in await audit_rows(api) if row.action == "device.revoke"]
    assert row_revoke.detail == (
        f"broker reloaded; previous password refused after {confirmed.group(1)} s"
    )
    r = await api.client.get("/ops/audit?lang=en", headers=ops)
    assert '<tr data-action="device.revoke">' in r.text
    assert "Revoked a device" in r.text

    r = await api.client.get("/ops/devices/stop.S1/restore", headers=ops)
    assert "我了解這個裝置將可以再次登入" in r.text
    r = await api.client.post("/ops/devices/stop.S1/restore?lang=en", data=CONFIRM, headers=ops)
    assert r.status_code == 200, r.text
    assert result_of(r.text).startswith("stop.S1 is restored. The broker has re-read")
    # The gateway, still retrying with its password, is back by itself.
    await gateway.wait_connected(30, raise_on_refusal=False)
    assert revoked(broker) == set()
    assert re.findall(r'data-action="(\w+)"', row_of(r.text, "stop.S1")) == ["rotate", "revoke"]
    assert await device_audit(api) == [
        ("device.revoke", OP_LABEL, "stop.S1"),
        ("device.restore", OP_LABEL, "stop.S1"),
    ]
    r = await api.client.get("/ops/audit", headers=ops)
    assert "恢復裝置" in r.text


# -- rotate, and no password anywhere ----------------------------------------------------


async def test_rotate_refuses_the_old_password_and_no_page_or_log_shows_a_password(
    api: ApiServer, broker: ManagedBroker, connect: ConnectFn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = dict(broker.credentials().items())
    old = broker.endpoint("stop.S2")
    gateway = await connect("stop.S2", client_id="stop.S2", reconnect_max_s=0.5)
    lost = went_offline(gateway)
    ops = await sign_in(api)
    pages: list[httpx.Response] = []
    for lang in ("", "?lang=en"):
        pages.append(await api.client.get(f"/ops/devices{lang}", headers=ops))
        pages.append(await api.client.get(f"/ops/devices/stop.S2/rotate{lang}", headers=ops))
    assert "bushail-broker password stop.S2 --state-dir" in pages[-1].text

    r = await api.client.post("/ops/devices/stop.S2/rotate?lang=en", data=CONFIRM, headers=ops)
    assert r.status_code == 200, r.text
    pages.append(r)
    said = result_of(r.text)
    assert said.startswith(
        "The password of stop.S2 is rotated. The broker refuses the previous password"
    )
    assert said.endswith(
        "this command prints it for whoever installs it on the device: "
        f"bushail-broker password stop.S2 --state-dir {broker.state_dir}"
    )
    await asyncio.wait_for(lost.wait(), 5)
    new = broker.endpoint("stop.S2")
    assert new.password != old.password
    assert (await refused(old)).code in (134, 135)
    # The device given its new password works.
    fresh = await connect("stop.S2", client_id="stop.S2")
    assert fresh.connected

    # A vehicle back from a theft: revoked, then restored with a new password.
    r = await api.client.post("/ops/devices/vehicle.V1/revoke", data=CONFIRM, headers=OPS)
    assert r.status_code == 200, r.text
    pages.append(r)
    stolen = broker.endpoint("vehicle.V1")
    r = await api.client.post(
        "/ops/devices/vehicle.V1/restore?lang=en",
        data={**CONFIRM, "new_password": "yes"},
        headers=OPS,
    )
    assert r.status_code == 200, r.text
    pages.append(r)
    said = result_of(r.text)
    assert said.startswith(
        "vehicle.V1 is restored with a new password. The broker refuses the previous password"
    )
    assert "bushail-broker password vehicle.V1" in said
    assert (await refused(stolen)).code in (134, 135)
    assert broker.endpoint("vehicle.V1").password != stolen.password

    for lang in ("", "?lang=en"):
        pages.append(await api.client.get(f"/ops/devices{lang}", headers=ops))
        pages.append(await api.client.get(f"/ops/audit{lang}", headers=ops))
    passwords = set(before.values()) | {password for _, password in broker.credentials().items()}
    assert len(passwords) == len(before) + 2  # stop.S2's and vehicle.V1's new ones
    for page in pages:
        assert page.status_code == 200
        leaked = [p for p in passwords if p in page.text]
        assert not leaked, f"{page.url} shows a password"
    rows = await audit_rows(api)
    assert [(row.action, row.target) for row in rows if row.action.startswith("device.")] == [
        ("device.rotate", "stop.S2"),
        ("device.revoke", "vehicle.V1"),
        ("device.restore", "vehicle.V1"),
    ]
    assert not [p for p in passwords for row in rows if p in (row.detail or "")]
    # The logs of the change (made in a worker thread) were captured, and hold none.
    assert "login stop.S2: password rotated" in caplog.text
    assert not [p for p in passwords if p in caplog.text], "a password was logged"


# -- the list, the filter, what does not apply -------------------------------------------


async def test_the_list_has_the_device_logins_a_filter_and_refuses_what_does_not_apply(
    api: ApiServer, broker: ManagedBroker
) -> None:
    before = dict(broker.credentials().items())
    r = await api.client.get("/ops/devices?lang=en", headers=OPS)
    assert r.status_code == 200
    # Stops and vehicles only: server and monitor logins are not the console's.
    assert listed(r.text) == DEVICE_LOGINS
    assert "server.api" not in r.text
    assert "monitor.api" not in r.text
    assert "Device logins: 7 shown of 7" in r.text
    assert f"A broker runs from {broker.state_dir}: a change applies at once." in r.text
    assert '<a href="/ops/devices?lang=en" aria-current="page">Device logins</a>' in r.text
    assert 'aria-label="Revoke stop.S1"' in r.text

    r = await api.client.get("/ops/devices?q=v&lang=en", headers=OPS)
    assert listed(r.text) == ["vehicle.V1", "vehicle.V2", "vehicle.V3"]
    assert "Device logins: 3 shown of 7" in r.text
    r = await api.client.get("/ops/devices?q=S3", headers=OPS)
    assert listed(r.text) == ["stop.S3"]
    assert "裝置帳號：顯示 1 個，共 7 個" in r.text
    r = await api.client.get("/ops/devices?q=nope&lang=en", headers=OPS)
    assert listed(r.text) == []
    assert "No device login contains “nope”." in r.text

    for method, path, code, text in [
        ("POST", "/ops/devices/server.api/rotate", 404, "There is no device login server.api."),
        ("GET", "/ops/devices/monitor.api/revoke", 404, "There is no device login monitor.api."),
        ("POST", "/ops/devices/stop.NOPE/revoke", 404, "There is no device login stop.NOPE."),
        ("GET", "/ops/devices/stop.S3/restore", 409, "stop.S3 is not revoked"),
        ("POST", "/ops/devices/stop.S3/restore", 409, "stop.S3 is not revoked"),
    ]:
        form = CONFIRM if method == "POST" else None
        r = await api.client.request(method, f"{path}?lang=en", data=form, headers=OPS)
        assert r.status_code == code, path
        assert f'role="alert" id="device-error">{text}' in r.text, path
    r = await api.client.post("/ops/devices/stop.S3/erase", data=CONFIRM, headers=OPS)
    assert r.status_code == 422
    # Nothing was changed nor recorded.
    assert dict(broker.credentials().items()) == before
    assert revoked(broker) == set()
    assert await device_audit(api) == []


# -- who may -----------------------------------------------------------------------------


async def test_no_session_or_a_rider_credential_can_neither_see_nor_change_a_login(
    api: ApiServer, broker: ManagedBroker
) -> None:
    before = dict(broker.credentials().items())
    rider = await api.rider()
    strangers: list[tuple[str, dict[str, str], int]] = [
        ("nobody", {}, 303),
        ("the rider app's cookie", {"Cookie": f"{RIDER_COOKIE}={rider['token']}"}, 303),
        (
            "a rider token as the console cookie",
            {"Cookie": f"{OPERATOR_COOKIE}={rider['token']}"},
            303,
        ),
        ("a rider bearer token", rider["headers"], 403),
    ]
    for who, headers, code in strangers:
        for path in ("/ops/devices", "/ops/devices/stop.S1/revoke"):
            r = await api.client.get(path, headers=headers)
            assert r.status_code == code, f"{who}: GET {path}"
            assert "data-login=" not in r.text, who
        for action in ("rotate", "revoke"):
            path = f"/ops/devices/stop.S1/{action}"
            r = await api.client.post(path, data=CONFIRM, headers=headers)
            assert r.status_code == code, f"{who}: POST {path}"
            if code == 303:
                assert r.headers["location"] == "/ops/login"
    # An operator's session, but the form sent from another site's page: refused.
    ops = await sign_in(api)
    r = await api.client.post(
        "/ops/devices/stop.S1/revoke",
        data=CONFIRM,
        headers={**ops, "Origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert dict(broker.credentials().items()) == before
    assert revoked(broker) == set()
    assert await device_audit(api) == []


# -- without the broker's folder ---------------------------------------------------------


async def test_without_the_broker_folder_the_page_explains_the_cli(
    make_api: ApiFactory, broker: ManagedBroker
) -> None:
    api = await make_api(console=ConsoleSettings(broker_state_dir=None))
    before = dict(broker.credentials().items())
    r = await api.client.get("/ops/devices?lang=en", headers=OPS)
    assert r.status_code == 200
    assert "BUSHAIL_CONSOLE_BROKER_STATE_DIR" in r.text
    assert "so passwords are rotated and devices revoked" in r.text
    assert "bushail-broker device revoke  LOGIN --state-dir STATE_DIR" in r.text
    assert "bushail-broker password LOGIN --state-dir STATE_DIR" in r.text
    assert listed(r.text) == []
    assert '<form method="post" action="/ops/devices' not in r.text
    r = await api.client.get("/ops/devices", headers=OPS)
    assert "所以無法在這裡更換密碼或停用裝置" in r.text
    for method in ("GET", "POST"):
        form = CONFIRM if method == "POST" else None
        r = await api.client.request(method, "/ops/devices/stop.S1/revoke", data=form, headers=OPS)
        assert r.status_code == 404
        assert "BUSHAIL_CONSOLE_BROKER_STATE_DIR" in r.text
    assert dict(broker.credentials().items()) == before
    assert revoked(broker) == set()


# -- pure pieces -------------------------------------------------------------------------


def test_what_the_page_and_the_log_say_of_every_outcome() -> None:
    folder = Path("/srv/broker")
    not_running = LoginChange("stop.S1", ChangeKind.REVOKED, False, None)
    report = change_report(not_running, lang="en", state_dir=folder, new_password=False)
    assert report.sentences == [
        "stop.S1 is revoked.",
        "No broker runs from /srv/broker: the change applies when it starts"
        " (the previous password was not checked).",
    ]
    assert report.password_command is None
    assert not report.warning
    assert audit_detail(not_running, new_password=False) == (
        "no broker running: applies when it starts"
    )
    # The broker did not confirm: an alert, and the log says so.
    accepted = LoginChange("vehicle.V1", ChangeKind.ROTATED, True, False)
    report = change_report(accepted, lang="zh-TW", state_dir=folder, new_password=False)
    assert report.warning
    assert report.sentences[1].startswith("但是 broker 仍接受先前的密碼")
    assert report.password_command == "bushail-broker password vehicle.V1 --state-dir /srv/broker"
    assert audit_detail(accepted, new_password=False) == (
        "broker reloaded; previous password STILL ACCEPTED"
    )
    renewed = LoginChange("stop.S1", ChangeKind.RESTORED, True, True, 0.0125)
    assert audit_detail(renewed, new_password=True) == (
        "with a new password; broker reloaded; previous password refused after 0.013 s"
    )
    # A folder with a space in its name is quoted in the command the page shows.
    report = change_report(renewed, lang="en", state_dir=Path("/srv/my broker"), new_password=True)
    assert report.password_command == "bushail-broker password stop.S1 --state-dir '/srv/my broker'"


def test_each_action_applies_to_a_login_in_the_right_state_only() -> None:
    logins = [DeviceLogin("stop.S1", "stop", False), DeviceLogin("vehicle.V1", "vehicle", True)]
    assert check_action(logins, "stop.S1", "rotate").login == "stop.S1"
    assert check_action(logins, "vehicle.V1", "restore").revoked
    for login, action, reason in [
        ("stop.S1", "restore", "not_revoked"),
        ("vehicle.V1", "revoke", "already_revoked"),
        ("vehicle.V1", "rotate", "revoked"),
        ("server.api", "rotate", "unknown"),
    ]:
        with pytest.raises(ChangeRefusedError) as refusal:
            check_action(logins, login, action)  # type: ignore[arg-type]
        assert refusal.value.reason == reason


# -- in Chromium -------------------------------------------------------------------------


@pytest.mark.browser
async def test_the_devices_pages_work_by_keyboard_and_have_no_axe_violations(
    api: ApiServer, page: Page
) -> None:
    base = api.base_url
    await page.goto(f"{base}/ops/login?lang=en")
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/ops?lang=en")
    for lang in ("", "?lang=en"):
        for path in ("/ops/devices", "/ops/devices/stop.S3/revoke", "/ops/devices/stop.S3/rotate"):
            await page.goto(f"{base}{path}{lang}")
            violations = await axe_violations(page)
            assert not violations, f"{path}{lang}: " + describe(violations)

    # By keyboard: filter, follow the row's link, tick the box, submit.
    await page.goto(f"{base}/ops/devices?lang=en")
    await page.focus("#q")
    await page.keyboard.type("S4")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/ops/devices?lang=en&q=S4")
    assert await page.locator("tr[data-login]").count() == 1
    await page.get_by_role("link", name="Revoke stop.S4").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/ops/devices/stop.S4/revoke?lang=en")
    box = page.get_by_role("checkbox", name="I understand this device is cut off at once")
    # Unticked, the browser itself holds the form back (no script needed).
    assert await box.evaluate("e => e.form.checkValidity()") is False
    await box.focus()
    await page.keyboard.press("Space")
    assert await box.is_checked()
    await page.get_by_role("button", name="Revoke stop.S4").focus()
    await page.keyboard.press("Enter")
    result = page.locator('#device-result[role="status"]')
    await result.wait_for()
    assert (await result.inner_text()).startswith("stop.S4 is revoked.")
    violations = await axe_violations(page)
    assert not violations, "the result: " + describe(violations)

    # The restore page (a second box) and the confirmation refused, in zh-TW.
    await page.goto(f"{base}/ops/devices/stop.S4/restore")
    violations = await axe_violations(page)
    assert not violations, "restore: " + describe(violations)
    await page.locator("#confirm").evaluate("e => e.required = false")
    await page.click("#confirm-form button[type=submit]")
    await page.wait_for_selector('#confirm-error[role="alert"]')
    assert await page.get_attribute("#confirm", "aria-invalid") == "true"
    violations = await axe_violations(page)
    assert not violations, "refused: " + describe(violations)
