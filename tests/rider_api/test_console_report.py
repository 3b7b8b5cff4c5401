"""Operator console, issue #18: the daily report and its CSV, the language kept through
the sign-in, the broadcast stop picker, operators reading the network, and axe on every
console page in both languages (no violation, no colour contrast left 'incomplete')."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from broker_config.messages import ReservationStatus, utcnow
from rider_api.console.daily import compute_daily, daily_csv_text
from rider_api.console.quality import BookingRecord, HistoryEntry, IncidentRecord
from rider_api.models import Incident, Reservation, ReservationEvent
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer
from tests.support.browser import AXE_TAGS, _axe_source, describe

OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
TAIPEI = ZoneInfo("Asia/Taipei")
S = ReservationStatus


async def axe_results(page: Page) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """axe-core's violations, and its colour-contrast checks it could not decide."""
    await page.evaluate(_axe_source())
    result: dict[str, Any] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations', 'incomplete']})",
        AXE_TAGS,
    )
    unsure = [r for r in result["incomplete"] if r["id"].startswith("color-contrast")]
    return result["violations"], unsure


def unsure_text(unsure: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{n['target']}: {n['any'][0]['message'] if n['any'] else ''}"
        for r in unsure
        for n in r["nodes"][:5]
    )


async def assert_clean(page: Page, where: str) -> None:
    violations, unsure = await axe_results(page)
    assert not violations, f"{where}: " + describe(violations)
    assert not unsure, f"{where}: colour contrast incomplete: " + unsure_text(unsure)


async def sign_in(page: Page, base_url: str, lang: str = "") -> None:
    await page.goto(f"{base_url}/ops/login{lang}")
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("form.stack button[type=submit]")
    await page.wait_for_url(f"{base_url}/ops{lang}")


# -- the daily report ----------------------------------------------------------------------


def test_daily_figures_per_route_and_driver() -> None:
    day = datetime(2026, 12, 2, 8, tzinfo=TAIPEI)

    def booking(route: str, vehicle: str | None, status: S, ack_s: float | None) -> BookingRecord:
        history = [HistoryEntry(S.PENDING, day)]
        if vehicle:
            history.append(HistoryEntry(S.ASSIGNED, day + timedelta(seconds=10)))
        if ack_s is not None:
            history.append(HistoryEntry(S.ACKNOWLEDGED, day + timedelta(seconds=10 + ack_s)))
        if status is S.COMPLETED:
            history.append(HistoryEntry(S.BOARDED, day + timedelta(minutes=5)))
        history.append(HistoryEntry(status, day + timedelta(minutes=9)))
        return BookingRecord(uuid.uuid4().hex, route, status, day, tuple(history), vehicle)

    bookings = [
        booking("R1", "V1", S.COMPLETED, 4),
        booking("R1", "V1", S.COMPLETED, 8),
        booking("R1", "V2", S.NO_SHOW, 20),
        booking("R2", None, S.EXPIRED, None),
    ]
    incidents = [
        IncidentRecord("missed", day, "R1", "V2", "S1", "bus_full"),
        IncidentRecord("missed", day, "R1", "V2", "S2", "bus_full"),
        IncidentRecord("missed", day, "R2", "V3", "S9", None),
        IncidentRecord("no_show", day, "R1", "V2", "S1", None),
        IncidentRecord("rider_report", day, "R1", "V2", "S1", "rider says"),
    ]
    report = compute_daily("2026-12-02", bookings, incidents)
    o = report.overall
    assert (o.bookings, o.ended, o.served, o.missed, o.no_shows, o.rider_reports) == (
        4,
        4,
        2,
        3,
        1,
        1,
    )
    assert (o.ack_count, o.ack_p50_s, o.ack_p95_s, o.ack_mean_s) == (3, 8, 20, 10.7)
    assert report.missed_reasons == {"bus_full": 2, "-": 1}
    by_route = {r.key: r for r in report.by_route}
    assert (by_route["R1"].served, by_route["R1"].missed, by_route["R2"].missed) == (2, 2, 1)
    by_driver = {r.key: r for r in report.by_vehicle}
    assert by_driver["V1"].acks == [4, 8]
    assert (by_driver["V2"].no_shows, by_driver["V2"].rider_reports) == (1, 1)
    assert by_driver["V3"].missed == 1
    rows = list(csv.DictReader(io.StringIO(daily_csv_text(report))))
    assert {(r["scope"], r["key"]) for r in rows if not r["reason"]} == {
        ("day", ""),
        ("route", "R1"),
        ("route", "R2"),
        ("driver", "V1"),
        ("driver", "V2"),
        ("driver", "V3"),
    }
    assert {(r["scope"], r["key"], r["reason"], r["missed"]) for r in rows if r["reason"]} == {
        ("day-reason", "", "-", "1"),
        ("day-reason", "", "bus_full", "2"),
        ("route-reason", "R1", "bus_full", "2"),
        ("route-reason", "R2", "-", "1"),
    }


async def seed_day(api: ApiServer, at: datetime) -> None:
    """A completed booking acknowledged after 7 s on bus V1, and a missed pickup."""
    rider = await api.rider()
    async with api.state.sessions() as session:
        rid = uuid.uuid4()
        res = Reservation(
            id=rid,
            rider_id=uuid.UUID(rider["rider_id"]),
            stop_id="S1",
            route_id="R1",
            direction_id=0,
            status=S.COMPLETED,
            status_since=at + timedelta(minutes=10),
            created_at=at,
            vehicle_id="V1",
            expires_at=at + timedelta(hours=1),
        )
        session.add(res)
        for status, s in (
            (S.PENDING, 0),
            (S.ASSIGNED, 5),
            (S.ACKNOWLEDGED, 12),
            (S.COMPLETED, 600),
        ):
            session.add(
                ReservationEvent(
                    reservation_id=rid, status=status, at=at + timedelta(seconds=s), cause="test"
                )
            )
        session.add(
            Incident(
                kind="missed",
                route_id="R1",
                vehicle_id="V2",
                stop_id="S2",
                reason="bus_full",
                at=at,
            )
        )
        await session.commit()


async def test_report_page_and_csv(api: ApiServer) -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=TAIPEI)
    await seed_day(api, at)
    r = await api.client.get("/ops/report?date=2026-11-30&lang=en", headers=OPS)
    assert r.status_code == 200, r.text
    assert "Report for 2026-11-30" in r.text
    assert 'data-reason="bus_full"' in r.text
    assert "Bus full" in r.text
    r = await api.client.get("/ops/report.csv?date=2026-11-30", headers=OPS)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "bushail-day-2026-11-30.csv" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    day = next(x for x in rows if x["scope"] == "day" and not x["reason"])
    assert (day["bookings"], day["served"], day["missed"], day["ack_p50_s"]) == (
        "1",
        "1",
        "1",
        "7.0",
    )
    assert any(x["scope"] == "driver" and x["key"] == "V1" and x["ack_count"] == "1" for x in rows)
    assert any(x["reason"] == "bus_full" and x["missed"] == "1" for x in rows)
    # Another day has nothing; a rider may not read it.
    r = await api.client.get("/ops/report?date=2026-11-29&lang=en", headers=OPS)
    assert "No data on this day." in r.text
    rider = await api.rider()
    assert (await api.client.get("/ops/report.csv", headers=rider["headers"])).status_code == 403


# -- operators read the network ------------------------------------------------------------


async def test_operator_token_reads_stops_and_routes(api: ApiServer) -> None:
    rider = await api.rider()
    for headers in (OPS, rider["headers"]):
        r = await api.client.get("/v1/stops?q=Stop S2", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()[0]["stop_id"] == "S2"
        assert (await api.client.get("/v1/stops/S1", headers=headers)).status_code == 200
        r = await api.client.get("/v1/routes", headers=headers)
        assert r.status_code == 200
        assert {x["route_id"] for x in r.json()} == {"R1", "R2"}
        r = await api.client.get("/v1/routes/R1", headers=headers)
        assert r.status_code == 200
    assert (await api.client.get("/v1/routes")).status_code == 401
    bogus = {"Authorization": "Bearer not-a-token"}
    assert (await api.client.get("/v1/stops?q=S1", headers=bogus)).status_code == 401
    # An operator token still does not act as a rider.
    r = await api.client.get("/v1/reservations", headers=OPS)
    assert r.status_code == 403


# -- the broadcast stop picker --------------------------------------------------------------


async def test_broadcast_by_stop_name_and_counts(api: ApiServer) -> None:
    r = await api.client.get("/ops/stops.json?q=Stop S3&lang=en", headers=OPS)
    assert r.status_code == 200
    assert r.json()[0] == {"stop_id": "S3", "name": "Stop S3", "label": "Stop S3 · 站S3 (S3)"}
    form = {"target": "stop", "text_zh": "測試", "text_en": "Test", "stop_id": "Far Stop"}
    r = await api.client.post("/ops/broadcast?lang=en", data=form, headers=OPS)
    assert r.status_code == 202, r.text
    assert "Sent to 1 stop." in r.text
    r = await api.client.post(
        "/ops/broadcast?lang=en", data={**form, "stop_id": "站S2 (S2)"}, headers=OPS
    )
    assert r.status_code == 202
    r = await api.client.post(
        "/ops/broadcast?lang=en", data={**form, "stop_id": "Stop"}, headers=OPS
    )
    assert r.status_code == 422
    assert "Several stops match" in r.text
    assert 'id="stop-matches"' in r.text
    r = await api.client.post(
        "/ops/broadcast?lang=en", data={**form, "stop_id": "zzzz"}, headers=OPS
    )
    assert r.status_code == 422
    assert "There is no such stop." in r.text
    r = await api.client.post(
        "/ops/broadcast?lang=en", data={**form, "target": "route", "route_id": "R1"}, headers=OPS
    )
    assert "Sent to 4 stops." in r.text
    # The board's link fills the form in.
    r = await api.client.get("/ops/broadcast?target=stop&stop_id=S4&lang=en", headers=OPS)
    assert 'value="S4"' in r.text
    assert "Stop S4 · 站S4 (S4)" in r.text


@pytest.mark.browser
async def test_picker_suggests_by_name_and_radios_sit_beside_labels(
    api: ApiServer, page: Page
) -> None:
    await sign_in(page, api.base_url, "?lang=en")
    await page.goto(f"{api.base_url}/ops/broadcast?lang=en")
    stop = page.locator("#b-stop")
    await stop.fill("Far")
    option = page.locator('#stop-options option[value="S9"]')
    await expect(option).to_have_count(1)
    assert await option.get_attribute("label") == "Far Stop · 遠站 (S9)"
    for radio in ("target-stop", "target-route", "target-all", "prio-info", "prio-urgent"):
        box = await page.locator(f"#{radio}").bounding_box()
        label = await page.locator(f'label[for="{radio}"]').bounding_box()
        assert box is not None
        assert label is not None
        assert label["x"] >= box["x"] + box["width"], radio  # to its right
        middle = box["y"] + box["height"] / 2
        assert label["y"] <= middle <= label["y"] + label["height"], radio  # on its line
    await stop.fill("S9")
    await page.fill("#b-zh", "測試")
    await page.fill("#b-en", "Test")
    await page.click("form.stack button[type=submit]")
    await expect(page.locator("#broadcast-result")).to_have_text("Sent to 1 stop.")


# -- language through the sign-in, axe everywhere ---------------------------------------------


@pytest.mark.browser
async def test_english_is_kept_through_the_sign_in(api: ApiServer, page: Page) -> None:
    await page.goto(f"{api.base_url}/ops?lang=en")
    await page.wait_for_url(f"{api.base_url}/ops/login?lang=en")
    await expect(page.locator("h1")).to_have_text("Operator sign-in")
    assert await page.get_attribute("html", "lang") == "en"
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("form.stack button[type=submit]")
    await page.wait_for_url(f"{api.base_url}/ops?lang=en")
    await expect(page.locator("h1")).to_have_text("Live status")
    assert await page.get_attribute("html", "lang") == "en"
    # Without ?lang, Chinese, as before.
    r = await api.client.get("/ops")
    assert r.headers["location"] == "/ops/login"


CONSOLE_PAGES = [
    "/ops",
    "/ops/quality",
    "/ops/report",
    "/ops/broadcast",
    "/ops/audit",
    "/ops/devices",
]


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_every_console_page_passes_axe_with_contrast_decided(
    api: ApiServer, page: Page
) -> None:
    await seed_day(api, utcnow().astimezone(TAIPEI).replace(hour=0, minute=30))
    rider = await api.rider()
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": "S3", "route_id": "R1", "direction_id": 0},
        headers=rider["headers"],
    )
    assert r.status_code == 201
    for lang in ("", "?lang=en"):
        await page.goto(f"{api.base_url}/ops/login{lang}")
        await assert_clean(page, f"/ops/login{lang}")
    await sign_in(page, api.base_url)
    for path in CONSOLE_PAGES:
        for lang in ("", "?lang=en"):
            await page.goto(f"{api.base_url}{path}{lang}")
            if path == "/ops":
                await page.wait_for_selector("#risks li", state="attached")
                await page.wait_for_selector("#map-live .m-booking", state="attached")
            await assert_clean(page, f"{path}{lang}")
    # The error states: a broadcast to no stop, a report of an empty day.
    await page.goto(f"{api.base_url}/ops/broadcast?lang=en")
    await page.fill("#b-zh", "測試")
    await page.fill("#b-en", "test")
    await page.fill("#b-stop", "Stop")
    await page.click("form.stack button[type=submit]")
    await page.wait_for_selector("#broadcast-error")
    await assert_clean(page, "broadcast error")
