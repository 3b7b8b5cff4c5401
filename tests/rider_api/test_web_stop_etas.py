"""The next bus of each route on the stop page: the pure choice (live, else the timetable)
and the page in headless Chromium (refreshed quietly, spoken on request or a big change)."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import pytest
from playwright.async_api import Browser, expect

from broker_config.messages import Localized, VehiclePosition, VehicleStopStatus
from broker_config.topics import Topics
from rider_api.dispatch.arrivals import NextBusKind, next_bus, next_scheduled
from rider_api.dispatch.fleet import VehicleState
from rider_api.models import ServiceCalendar
from rider_api.network.view import DirectionInfo, NetworkView, TripInfo, TripStop
from tests.conftest import ConnectFn
from tests.rider_api.conftest import COORDS, ApiServer
from tests.rider_api.test_dispatch_scenarios import make_bus
from tests.rider_api.test_web_app import assert_accessible, signed_in, tab_to
from tests.support.waiting import eventually

TAIPEI = zoneinfo.ZoneInfo("Asia/Taipei")
STATUS = VehicleStopStatus
ORDER = ("S1", "S2", "S3", "S4")


def network() -> NetworkView:
    """R1 direction 0, S1..S4 two minutes apart: a 06:00 trip and one at 25:00 (01:00
    the next morning, of the day before's service)."""
    view = NetworkView(timezone="Asia/Taipei")
    view.directions[("R1", 0)] = DirectionInfo(
        "R1",
        0,
        Localized.same("S4"),
        ORDER,
        {s: i for i, s in enumerate(ORDER)},
    )
    for trip_id, start in (("early", 6 * 3600), ("late", 25 * 3600)):
        stops = tuple(
            TripStop(i + 1, s, start + i * 120, start + i * 120 + 20, None)
            for i, s in enumerate(ORDER)
        )
        view.trips[trip_id] = TripInfo(trip_id, "R1", 0, "ALL", stops)
    view.trips_by_direction[("R1", 0)] = ["early", "late"]
    view.calendars["ALL"] = ServiceCalendar(
        service_id="ALL",
        **dict.fromkeys(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), True
        ),
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2035, 1, 1),
    )
    return view


def at(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=TAIPEI)


def test_the_timetable_gives_the_next_departure_in_local_time() -> None:
    net = network()
    assert next_scheduled(net, "R1", 0, "S3", at(5)) == at(6, 4) + dt.timedelta(seconds=20)
    # After midnight: yesterday's service day still runs (25:00 is 01:00 today).
    assert next_scheduled(net, "R1", 0, "S3", at(0, 30)) == at(1, 4) + dt.timedelta(seconds=20)
    # After the last bus of the day: tomorrow's first.
    later = next_scheduled(net, "R1", 0, "S3", at(7))
    assert later == at(1, 4, day=3) + dt.timedelta(seconds=20)
    # Nobody boards at the last stop; no bus within the window is None.
    assert next_scheduled(net, "R1", 0, "S4", at(5)) is None
    assert next_scheduled(net, "R1", 0, "S3", at(7), within=dt.timedelta(hours=1)) is None


def bus_at(stop_id: str, status: VehicleStopStatus) -> VehicleState:
    lat, lon = COORDS[stop_id]
    pos = VehiclePosition(
        route_id="R1",
        direction_id=0,
        trip_id="early",
        lat=lat,
        lon=lon,
        stop_id=stop_id,
        current_stop_sequence=ORDER.index(stop_id) + 1,
        current_status=status,
        timestamp=time.time(),
    )
    return VehicleState("V1", pos, ORDER.index(stop_id), time.monotonic())


def test_a_bus_on_its_way_beats_the_timetable() -> None:
    net = network()
    live = next_bus(net, [bus_at("S1", STATUS.STOPPED_AT)], "R1", 0, "S3", at(5))
    assert (live.kind, live.in_s, live.vehicle_id) == (NextBusKind.LIVE, 220, "V1")
    passed = next_bus(net, [bus_at("S4", STATUS.STOPPED_AT)], "R1", 0, "S3", at(5))
    assert passed.kind is NextBusKind.SCHEDULED
    assert passed.in_s == 64 * 60 + 20
    assert passed.departs_at is not None
    assert passed.departs_at.utcoffset() == dt.timedelta(hours=8)
    assert next_bus(net, [], "R1", 0, "S4", at(5)).kind is NextBusKind.NONE


def scheduled_text(language: str, first_s: int) -> str:
    """The stop page's text for the test network's next departure (trips at 06:00 and
    47:00, i.e. 23:00 of the next day), worked out here, not by the code under test."""
    now = dt.datetime.now(TAIPEI)
    today = now.date()
    times = []
    for day in (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)):
        origin = dt.datetime.combine(day, dt.time(12), TAIPEI) - dt.timedelta(hours=12)
        for start in (6 * 3600, 47 * 3600):
            times.append(origin + dt.timedelta(seconds=start + first_s))
    nxt = min(t for t in times if t >= now)
    hhmm = nxt.strftime("%H:%M")
    if nxt.date() != today:
        return {
            "en": f"Next bus: tomorrow at {hhmm} (scheduled, not live)",
            "zh-TW": f"下一班：明天 {hhmm}（時刻表，非即時）",
        }[language]
    return {
        "en": f"Next bus: {hhmm} (scheduled, not live)",
        "zh-TW": f"下一班：{hhmm}（時刻表，非即時）",
    }[language]


LIVE_4 = {"en": "Next bus: about 4 min away (live)", "zh-TW": "下一班：約 4 分鐘後到站（即時）"}
LIVE_2 = {"en": "Next bus: about 2 min away (live)", "zh-TW": "下一班：約 2 分鐘後到站（即時）"}
ROUTE_0 = {"en": "307 towards Fuyuan St.", "zh-TW": "307 往 撫遠街"}
ROUTE_1 = {"en": "307 towards Banqiao", "zh-TW": "307 往 板橋"}


def item(language: str, route: str, text: str) -> str:
    return f"{route}: {text}." if language == "en" else f"{route}：{text}。"


@pytest.mark.browser
@pytest.mark.timeout(120)
@pytest.mark.parametrize("language", ["en", "zh-TW"])
async def test_stop_page_tells_the_next_bus_live_and_quietly(
    api: ApiServer, browser: Browser, connect: ConnectFn, topics: Topics, language: str
) -> None:
    context, _rider = await signed_in(browser, api, language)
    page = await context.new_page()
    await page.clock.install()
    await page.goto(f"{api.base_url}/stop/S3")
    towards_fuyuan, towards_banqiao = page.locator("#next-0"), page.locator("#next-1")
    # No bus seen yet: the timetable's time, said to be one (S3 is 4:20 and 2:20 in).
    await expect(towards_fuyuan).to_have_text(scheduled_text(language, 260))
    await expect(towards_banqiao).to_have_text(scheduled_text(language, 140))
    await expect(page.locator("#choice-0")).to_have_attribute("aria-describedby", "next-0")
    await assert_accessible(page, f"stop with scheduled times ({language})")

    # A bus now on its way: a big change, said politely without a reload.
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    await eventually(lambda: "V1" in api.state.dispatcher.fleet.vehicles, what="the bus is seen")
    status = page.locator("#next-status")
    await page.clock.fast_forward(30_000)
    await expect(towards_fuyuan).to_have_text(LIVE_4[language])
    await expect(status).to_have_text(item(language, ROUTE_0[language], LIVE_4[language]))
    await assert_accessible(page, f"stop with a live time ({language})")

    # Two minutes sooner: shown, not said (never chatty).
    await bus.at("S2", STATUS.STOPPED_AT)
    await eventually(
        lambda: api.state.dispatcher.fleet.vehicles["V1"].position.stop_id == "S2",
        what="the bus moved on",
    )
    await page.clock.fast_forward(30_000)
    await expect(towards_fuyuan).to_have_text(LIVE_2[language])
    await expect(status).to_have_text(item(language, ROUTE_0[language], LIVE_4[language]))

    # Asked for: every route is said, by keyboard alone.
    await tab_to(page, "#next-refresh")
    await page.keyboard.press("Enter")
    updated = {"en": "Bus times updated.", "zh-TW": "到站時間已更新。"}[language]
    await expect(status).to_have_text(
        " ".join(
            (
                updated,
                item(language, ROUTE_0[language], LIVE_2[language]),
                item(language, ROUTE_1[language], scheduled_text(language, 140)),
            )
        )
    )
    assert page.url.endswith("/stop/S3")  # no reload
    await context.close()
