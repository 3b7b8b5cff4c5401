"""What is at risk, first on the live board (issue #18): a booking made to wait, a stop
gateway killed, a bus gone stale with a rider assigned, a rider's report, each with what
to do next; live-updated in Chromium. And the pure rule, and kinds the console has no
text for."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from playwright.async_api import Page, expect

from broker_config.messages import ReservationStatus, VehiclePosition, VehicleStopStatus, utcnow
from broker_config.topics import Topics
from rider_api.console.live import BookingRow, IncidentRow
from rider_api.console.risk import at_risk
from rider_api.feeds.poller import FeedStatus
from rider_api.models import Incident
from rider_api.reservations.reports import RIDER_REPORT_KIND
from rider_api.settings import ConsoleSettings
from tests.conftest import ConnectFn
from tests.rider_api.conftest import COORDS, OPERATOR_TOKEN, ApiFactory, ApiServer
from tests.support.waiting import eventually

OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
S = ReservationStatus


def position(
    stop_id: str, status: VehicleStopStatus = VehicleStopStatus.STOPPED_AT
) -> VehiclePosition:
    lat, lon = COORDS[stop_id]
    return VehiclePosition(
        route_id="R1",
        direction_id=0,
        trip_id="T0",
        lat=lat,
        lon=lon,
        stop_id=stop_id,
        current_stop_sequence=int(stop_id[1:]),
        current_status=status,
        timestamp=time.time(),
    )


async def book(api: ApiServer, rider: dict[str, object], stop_id: str, route_id: str = "R1") -> str:
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": stop_id, "route_id": route_id, "direction_id": 0},
        headers=rider["headers"],  # type: ignore[arg-type]
    )
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


# -- the pure rule ---------------------------------------------------------------------------


def test_at_risk_order_and_actions() -> None:
    now = utcnow()

    def row(
        status: S, vehicle: str | None, waited_s: float, alert: str | None = None
    ) -> BookingRow:
        return BookingRow(
            id=uuid.uuid4(),
            status=status,
            stop_id="S1",
            stop_name=None,
            route_id="R1",
            route_name=None,
            direction_id=0,
            vehicle_id=vehicle,
            status_since=now - timedelta(seconds=waited_s),
            in_state_s=waited_s,
            alert=alert,
            gateway_online=True,
        )

    waiting_long = row(S.PENDING, None, 400)
    waiting_short = row(S.PENDING, None, 100)
    overdue = row(S.ASSIGNED, "V1", 60, alert="overdue")
    on_quiet_bus = row(S.ACKNOWLEDGED, "V2", 30)
    on_fresh_bus = row(S.ACKNOWLEDGED, "V3", 30)
    report = IncidentRow(RIDER_REPORT_KIND, now, "S2", None, "R1", "V4", "x", uuid.uuid4())
    old_report = IncidentRow(
        RIDER_REPORT_KIND, now - timedelta(hours=3), "S2", None, "R1", "V4", "x", None
    )
    offline = IncidentRow(
        "gateway_offline", None, "S3", None, "R1", None, "never_seen", uuid.uuid4()
    )
    items = at_risk(
        bookings=[waiting_long, waiting_short, overdue, on_quiet_bus, on_fresh_bus],
        offline_stops=[offline],
        incidents=[report, old_report],
        position_age_s={"V1": 1.0, "V2": 200.0, "V3": 5.0},
        now=now,
        wait_s=300,
        staleness_s=60,
        report_window_s=3600,
    )
    assert [(i.kind, i.vehicle_id, i.actions) for i in items] == [
        ("gateway_offline", None, ("cancel",)),
        ("unacknowledged", "V1", ("call", "broadcast")),
        ("stale_bus", "V2", ("call",)),
        ("waiting", None, ("broadcast", "cancel")),
        ("rider_report", "V4", ("call", "broadcast")),
    ]
    assert items[3].reservation_id == waiting_long.id


async def test_unknown_and_rider_report_kinds_render(api: ApiServer) -> None:
    async with api.state.unit_of_work() as uow:
        uow.record_incident(Incident(kind="brand_new_kind", stop_id="S1", reason="odd"))
        uow.record_incident(Incident(kind=RIDER_REPORT_KIND, stop_id="S2", vehicle_id="V1"))
    for lang, text in (
        ("?lang=en", "Rider reports the bus did not stop"),
        ("", "乘客回報公車未停靠"),
    ):
        r = await api.client.get(f"/ops{lang}", headers=OPS)
        assert r.status_code == 200, r.text
        assert "brand_new_kind" in r.text
        assert text in r.text
    data = (await api.client.get("/ops/live.json", headers=OPS)).json()
    assert [(r["kind"], r["vehicle_id"], r["actions"]) for r in data["risks"]] == [
        ("rider_report", "V1", ["call", "broadcast"])
    ]


# -- live, in Chromium ------------------------------------------------------------------------


async def sign_in(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/ops/login?lang=en")
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("form.stack button[type=submit]")
    await page.wait_for_url(f"{base_url}/ops?lang=en")


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_risks_appear_live_with_what_to_do(
    make_api: ApiFactory, connect: ConnectFn, topics: Topics, page: Page
) -> None:
    api = await make_api(
        console=ConsoleSettings(risk_wait_s=1.0, refresh_s=0.2), position_staleness_s=2.0
    )
    gateway = await connect("stop.S3", status_topic=topics.stop_status("S3"), keepalive_s=2)
    bus = await connect("vehicle.V1")
    await bus.publish(topics.vehicle_position("V1"), position("S1"), qos=0)
    fleet = api.state.dispatcher.fleet
    await eventually(lambda: "V1" in fleet.vehicles, what="V1's position")
    await eventually(lambda: api.state.devices.stop_online("S3"), what="gateway S3 online")
    rider = await api.rider("Mei")
    at_s3 = await book(api, rider, "S3")  # V1 is coming
    other = await api.rider("Lin")
    at_s9 = await book(api, other, "S9", "R2")  # no bus on R2: it waits
    await sign_in(page, api.base_url)
    risks = page.locator("#risks")

    # Made to wait beyond the (small) threshold: broadcast to its stop, or cancel it.
    waiting = risks.locator(f'li[data-kind="waiting"][data-reservation="{at_s9}"]')
    await expect(waiting).to_be_visible()
    href = await waiting.locator("a.broadcast").get_attribute("href")
    assert href == "/ops/broadcast?target=stop&stop_id=S9&lang=en"
    await expect(waiting.locator("button.cancel")).to_be_visible()

    # The bus stops reporting: stale, with a rider assigned. Call its driver.
    stale = risks.locator('li[data-kind="stale_bus"][data-vehicle="V1"]')
    await expect(stale).to_be_visible()
    await expect(stale).to_contain_text("Call the driver of bus V1")

    # The stop's gateway dies with the rider waiting there: first of all.
    await gateway.abort()
    offline = risks.locator(f'li[data-kind="gateway_offline"][data-reservation="{at_s3}"]')
    await expect(offline).to_be_visible()
    await expect(risks.locator("li").first).to_have_attribute("data-kind", "gateway_offline")
    await expect(offline).to_contain_text("Call the driver of bus V1")

    # Cancel the waiting booking from the board; the rider then reports the bus did not stop.
    await waiting.locator("button.cancel").click()
    await page.wait_for_url(f"{api.base_url}/ops?lang=en")
    await expect(waiting).to_have_count(0)
    r = await api.client.post(
        f"/v1/reservations/{at_s9}/reports",
        json={"kind": "bus_did_not_stop"},
        headers=other["headers"],
    )
    assert r.status_code == 201, r.text
    report = risks.locator(f'li[data-kind="rider_report"][data-reservation="{at_s9}"]')
    await expect(report).to_be_visible()
    await expect(report).to_contain_text("Rider reports the bus did not stop")
    await expect(report.locator("a.broadcast")).to_have_attribute(
        "href", "/ops/broadcast?target=stop&stop_id=S9&lang=en"
    )
    async with api.state.sessions() as session:
        stored = await session.get(Incident, r.json()["id"])
        assert stored is not None
        assert stored.kind == RIDER_REPORT_KIND


async def test_a_line_per_agency_feed(api: ApiServer) -> None:
    r = await api.client.get("/ops?lang=en", headers=OPS)
    assert "No agency GTFS-Realtime feed is configured." in r.text
    status = FeedStatus(
        name="agency-vp",
        kind="vehicle_positions",
        last_fetch_at=utcnow(),
        last_success_at=utcnow(),
        entities=42,
        applied=40,
        feed_age_s=12.0,
        errors=2,
        last_error="timeout",
    )
    api.state.feeds.pollers.append(SimpleNamespace(status=status))  # type: ignore[arg-type]
    try:
        r = await api.client.get("/ops?lang=en", headers=OPS)
        assert 'data-feed="agency-vp"' in r.text
        for text in ("Vehicle positions", ">42<", ">40<", "0:12", "timeout"):
            assert text in r.text, text
        feeds = (await api.client.get("/ops/live.json", headers=OPS)).json()["feeds"]
        assert [(f["name"], f["entities"], f["errors"]) for f in feeds] == [("agency-vp", 42, 2)]
    finally:
        api.state.feeds.pollers.clear()
