"""The trip page's live updates in headless Chromium: a lost stream and its return, two
messages in one moment, and "your stop is next" from a real bus over MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from broker_config.messages import DriverEventType, VehicleStopStatus
from broker_config.topics import Topics
from rider_api.models import Reservation
from rider_api.reservations.lifecycle import Trigger
from tests.conftest import ConnectFn
from tests.rider_api.conftest import ApiServer
from tests.rider_api.test_dispatch_scenarios import make_bus, wait_status
from tests.rider_api.test_web_app import _RECORD, assert_accessible, book_by_api, signed_in
from tests.support.waiting import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

STATUS = VehicleStopStatus


class CuttableLink:
    """A TCP relay between the browser and the API: ``cut()`` drops every connection and
    refuses new ones (as a dead proxy or a lost network does), ``mend()`` lets them in
    again on the same port. Nothing in the browser or the server is faked."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def mend(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.transport.abort()
        self._writers.discard(dst)


@pytest.fixture
async def link(api: ApiServer) -> AsyncIterator[CuttableLink]:
    port = int(api.base_url.rsplit(":", 1)[1])
    relay = CuttableLink(port)
    await relay.mend()
    try:
        yield relay
    finally:
        await relay.close()


async def said(page: Any) -> list[tuple[str, str]]:
    recorded: list[list[str]] = await page.evaluate("window.__said")
    return [(region, text) for region, text in recorded]


async def following(api: ApiServer, n: int = 1) -> None:
    await eventually(
        lambda: api.state.notifier.listener_count() >= n, what="the trip page follows the trip"
    )


LOST = {"en": "Live updates paused. Reconnecting.", "zh-TW": "暫時無法取得即時狀態，正在重新連線。"}
BACK = {"en": "Live updates are back.", "zh-TW": "即時狀態已恢復。"}
ASSIGNED = {"en": "A bus is assigned: KKA-1234.", "zh-TW": "已派車：KKA-1234。"}


@pytest.mark.parametrize("language", ["en", "zh-TW"])
async def test_a_lost_stream_and_its_return_are_announced(
    api: ApiServer, browser: Browser, link: CuttableLink, language: str
) -> None:
    context, rider = await signed_in(browser, api, language)
    await context.add_init_script(_RECORD)
    page = await context.new_page()
    reservation_id = await book_by_api(api, rider)
    await page.goto(f"{link.url}/trip/{reservation_id}")
    await following(api)

    await link.cut()
    polite = page.locator("#live-status")
    await expect(polite).to_have_text(LOST[language])
    await assert_accessible(page, f"reconnecting ({language})")
    # A change while the page cannot hear: told once the stream is back.
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, uuid.UUID(reservation_id))
        assert res is not None
        api.state.changes.apply(uow, res, Trigger.ASSIGN, "test", vehicle_id="KKA-1234")

    await link.mend()
    await expect(polite).to_have_text(ASSIGNED[language], timeout=20_000)
    await expect(page.locator("#trip-vehicle")).to_have_text("KKA-1234")
    assert [text for region, text in await said(page) if region == "live-status"] == [
        LOST[language],
        BACK[language],
        ASSIGNED[language],
    ]
    await assert_accessible(page, f"live again ({language})")
    await context.close()


async def test_two_messages_in_one_moment_are_both_spoken_in_order(
    api: ApiServer, browser: Browser
) -> None:
    context, rider = await signed_in(browser, api, "en")
    await context.add_init_script(_RECORD)
    page = await context.new_page()
    reservation_id = await book_by_api(api, rider)
    await page.goto(f"{api.base_url}/trip/{reservation_id}")
    await following(api)
    rid = uuid.UUID(reservation_id)

    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, rid)
        assert res is not None
        api.state.changes.apply(uow, res, Trigger.ASSIGN, "test", vehicle_id="KKA-1234")
    await expect(page.locator("#live-status")).to_have_text("A bus is assigned: KKA-1234.")
    # One commit: the driver confirms as the bus crosses the 3-minute mark.
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, rid)
        assert res is not None
        res.eta_s = 170
        api.state.changes.apply(uow, res, Trigger.ACK, "test")
    # The stream sends the reservation as it is when it reads it: each commit is awaited
    # on the page (shown at once; spoken from the queue) before the next.
    await expect(page.locator("#trip-status")).to_have_text("The driver confirmed")
    # Two messages on the heels of each other: the 1-minute mark, then the bus at the stop.
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, rid)
        assert res is not None
        res.eta_s = 50
        api.state.changes.refresh(uow, res)
    await expect(page.locator("#trip-eta")).to_have_text("under a minute")
    async with api.state.unit_of_work() as uow:
        res = await uow.session.get(Reservation, rid)
        assert res is not None
        res.eta_s = 0
        api.state.changes.apply(uow, res, Trigger.STOPPED, "test")
    await expect(page.locator("#live-alert")).to_have_text("Your bus is at the stop now!")
    assert await said(page) == [
        ("live-status", "A bus is assigned: KKA-1234."),
        ("live-status", "The driver confirmed and will stop for you."),
        ("live-status", "Your bus is about 3 minutes away."),
        ("live-status", "Your bus is about 1 minute away."),
        ("live-alert", "Your bus is at the stop now!"),
    ]
    await context.close()


@pytest.mark.parametrize("language", ["en", "zh-TW"])
async def test_your_stop_is_next_before_the_destination(
    api: ApiServer, browser: Browser, connect: ConnectFn, topics: Topics, language: str
) -> None:
    context, rider = await signed_in(browser, api, language)
    await context.add_init_script(_RECORD)
    page = await context.new_page()
    bus = await make_bus(connect, topics, "V1")
    await bus.at("S1", STATUS.STOPPED_AT)
    await eventually(lambda: "V1" in api.state.dispatcher.fleet.vehicles, what="the bus is seen")
    r = await api.client.post(
        "/v1/reservations",
        json={"stop_id": "S2", "route_id": "R1", "direction_id": 0, "destination_stop_id": "S4"},
        headers=rider["headers"],
    )
    assert r.json()["vehicle_id"] == "V1", r.text
    rid = r.json()["id"]
    await page.goto(f"{api.base_url}/trip/{rid}")
    await following(api)

    await bus.at("S2", STATUS.STOPPED_AT)
    await wait_status(api, rider, rid, "at_stop")
    await bus.tap(rid, DriverEventType.BOARDED)
    on_board = {
        "en": "You are on board. You will hear when your stop is next.",
        "zh-TW": "已上車。快到下車站時會提醒你。",
    }
    await expect(page.locator("#live-status")).to_have_text(on_board[language])
    await expect(page.locator("#live-alert")).to_have_text("")
    await expect(page.locator("#eta-row")).to_be_hidden()

    await bus.at("S3", STATUS.IN_TRANSIT_TO)
    await bus.at("S3", STATUS.STOPPED_AT)  # the stop before the destination
    next_stop = {
        "en": "Your stop is next: Stop S4. Get ready to get off.",
        "zh-TW": "下一站就是你的下車站：站S4。請準備下車。",
    }
    await expect(page.locator("#live-alert")).to_have_text(next_stop[language])
    await expect(page.locator("#trip-status")).to_have_text(
        {"en": "Your stop is next", "zh-TW": "即將到達下車站"}[language]
    )
    await assert_accessible(page, f"your stop is next ({language})")
    alerts = [text for region, text in await said(page) if region == "live-alert"]
    at_stop = {"en": "Your bus is at the stop now!", "zh-TW": "你的公車已經到站！"}
    assert alerts == [at_stop[language], next_stop[language]]  # said once, before the stop

    await bus.tap(rid, DriverEventType.ALIGHTED)
    await expect(page.locator("#trip-status")).to_have_text(
        {"en": "Trip completed", "zh-TW": "行程完成"}[language]
    )
    await expect(page.locator("#live-alert")).to_have_text("")
    await expect(page.locator("#history li")).to_have_count(7)  # pending .. completed
    await context.close()
