"""The live map (issue #18): drawn from stops and shapes, items focusable with names,
zoom and pan by keyboard, a bus moved by a live update without losing focus."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from broker_config.topics import Topics
from rider_api.console.i18n import TEXTS
from rider_api.console.netmap import build_base, load_shapes
from rider_api.models import ShapePoint, Trip
from tests.conftest import ConnectFn
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer
from tests.rider_api.test_console_risk import position
from tests.support.waiting import eventually


async def test_route_lines_follow_shapes_else_stops_and_stops_are_capped(api: ApiServer) -> None:
    async with api.state.sessions() as session:
        trip = await session.get(Trip, "T0")
        assert trip is not None
        trip.shape_id = "SH0"
        for i, (lat, lon) in enumerate([(25.04, 121.50), (25.05, 121.515), (25.043, 121.53)]):
            session.add(ShapePoint(shape_id="SH0", sequence=i, lat=lat, lon=lon))
        await session.commit()
        shapes = await load_shapes(session)
    assert list(shapes) == [("R1", 0)]
    network = api.state.network

    def draw(cap: int) -> str:
        base = build_base(
            network,
            shapes,
            t=lambda key, **v: TEXTS.t(key, "en", **v),
            lang="en",
            stop_href=lambda s: f"/x/{s}",
            focusable_stops=cap,
        )
        assert base.shaped == 1
        return str(base.svg)

    svg = draw(100)
    assert svg.count('class="m-route"') == 2  # R1 both ways (R2 has one stop: no line)
    assert svg.count('class="m-stop"') == 5
    assert 'aria-label="Stop Far Stop (S9)"' in svg
    capped = draw(3)
    assert 'class="m-stop"' not in capped
    assert 'class="m-stops-all"' in capped


@pytest.mark.browser
@pytest.mark.timeout(60)
async def test_map_items_keyboard_zoom_pan_and_a_moving_bus(
    api: ApiServer, connect: ConnectFn, topics: Topics, page: Page
) -> None:
    gateway = await connect("stop.S2", status_topic=topics.stop_status("S2"))
    assert gateway.connected
    bus = await connect("vehicle.V2")
    await bus.publish(topics.vehicle_position("V2"), position("S1"), qos=0)
    await eventually(lambda: "V2" in api.state.dispatcher.fleet.vehicles, what="V2's position")
    await page.goto(f"{api.base_url}/ops/login?lang=en")
    await page.fill("#token", OPERATOR_TOKEN)
    await page.click("form.stack button[type=submit]")
    await page.wait_for_url(f"{api.base_url}/ops?lang=en")

    svg = page.locator("#netmap")
    await expect(svg.locator("a.m-stop")).to_have_count(5)
    await expect(svg.locator("path.m-route")).to_have_count(2)
    gw = svg.locator('[data-key="gateway:S2"]')
    await expect(gw).to_have_attribute("aria-label", "Stop gateway Stop S2 (S2): Online")
    bus_item = svg.locator('[data-key="bus:V2"]')
    await expect(bus_item).to_have_count(1)
    assert (await bus_item.get_attribute("aria-label") or "").startswith("Bus V2, route 307: ")
    # The same items in the table next to the map.
    await expect(page.locator('#map-table tr[data-key="bus:V2"]')).to_have_count(1)
    await expect(page.locator('#map-table tr[data-key="gateway:S2"]')).to_have_count(1)

    # Zoom and pan by keyboard, and by the buttons.
    home = await svg.get_attribute("viewBox")
    assert home is not None
    _hx, _hy, hw, _hh = map(float, home.split())
    await page.locator("#map-frame").focus()
    await page.keyboard.press("+")
    x, _y, w, _h = map(float, (await svg.get_attribute("viewBox") or "").split())
    assert w == pytest.approx(hw / 2, abs=0.2)
    await page.keyboard.press("ArrowRight")
    x2, *_ = map(float, (await svg.get_attribute("viewBox") or "").split())
    assert x2 > x
    await page.keyboard.press("0")
    assert await svg.get_attribute("viewBox") == home
    await page.click('button[data-map="out"]')
    assert float((await svg.get_attribute("viewBox") or "").split()[2]) > hw
    await page.click('button[data-map="reset"]')
    assert await svg.get_attribute("viewBox") == home

    # Tab reaches the bus from the map (stops, then live items, all in order).
    await page.locator("#map-frame").focus()
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.getAttribute('data-key')") == "bus:V2":
            break
    else:
        pytest.fail("Tab never reached the bus on the map")

    # A live update moves the bus; the focus stays on it.
    before = await bus_item.get_attribute("transform")
    await bus.publish(topics.vehicle_position("V2"), position("S3"), qos=0)
    await expect(bus_item).not_to_have_attribute("transform", before or "")
    assert await page.evaluate("document.activeElement.getAttribute('data-key')") == "bus:V2"
