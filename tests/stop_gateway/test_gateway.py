"""The gateway through a real Mosquitto with the project's ACL (logins stop.S1, server.api)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from broker_config.broker import ManagedBroker
from broker_config.device.audio import TextSink
from broker_config.device.pending_file import SqlitePendingStore
from broker_config.device.speech import TextSpeaker
from broker_config.messages import (
    Announcement,
    ButtonAction,
    DeviceHealth,
    DeviceState,
    DeviceStatus,
    EventReceipt,
    Lang,
    Localized,
    ReservationStatus,
    StopCall,
    StopEvent,
    decode,
    utcnow,
)
from broker_config.session import MqttSession
from broker_config.topics import Topics
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

RID = uuid.UUID("0b6c3d1e-6a0f-4d8e-9a51-3f2b8c1d0e11")
ZH_ASSIGNED_3 = "三零七路 往板橋 公車已通知司機，約三分鐘後到站"
EN_ASSIGNED_3 = (
    "Bus three oh seven to Bahn chow: the driver has been notified; arriving in about 3 minutes"
)


class HeardSink(TextSink):
    """A text sink whose sentences can be awaited."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: asyncio.Queue[tuple[Lang, str]] = asyncio.Queue()

    def play(self, wav: Path | None, text: str, lang: Lang) -> None:
        super().play(wav, text, lang)
        self.heard.put_nowait((lang, text))

    async def next(self, timeout: float = 5.0) -> tuple[Lang, str]:
        return await asyncio.wait_for(self.heard.get(), timeout)

    async def texts(self, count: int, timeout: float = 5.0) -> list[str]:
        return [(await self.next(timeout))[1] for _ in range(count)]

    async def expect_silence(self, within: float = 0.6) -> None:
        try:
            said = await asyncio.wait_for(self.heard.get(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected speech {said}")


MakeGateway = Callable[..., Awaitable[tuple[StopGateway, HeardSink]]]


@pytest.fixture
async def make_gateway(broker: ManagedBroker) -> AsyncIterator[MakeGateway]:
    async with AsyncExitStack() as stack:

        async def _make(stop_id: str = "S1", **overrides: Any) -> tuple[StopGateway, HeardSink]:
            sink = HeardSink()
            options: dict[str, Any] = {
                "stop_id": stop_id,
                "broker_host": broker.settings.host,
                "broker_port": broker.port,
                "credentials_file": broker.state_dir / "credentials.json",
                "resync_settle_s": 0.2,
                "menu_dwell_s": 0.5,
                "health_interval_s": 60,
            }
            options.update(overrides)
            gateway = StopGateway(GatewaySettings(**options), speaker=TextSpeaker(sink))
            await stack.enter_async_context(gateway)
            await gateway.wait_connected(10)
            return gateway, sink

        yield _make


def stop_call(
    seq: int,
    status: ReservationStatus = ReservationStatus.ASSIGNED,
    *,
    eta_s: int | None = 180,
    rid: uuid.UUID = RID,
    route_id: str = "307",
    name: tuple[str, str] = ("307", "307"),
    lang: Lang = "zh-TW",
    reason: str | None = None,
) -> StopCall:
    return StopCall(
        reservation_id=rid,
        seq=seq,
        status=status,
        route_id=route_id,
        route_name=Localized.model_validate({"zh-TW": name[0], "en": name[1]}),
        headsign=Localized.model_validate({"zh-TW": "板橋", "en": "Banqiao"}),
        vehicle_id="V1" if status is not ReservationStatus.PENDING else None,
        eta_s=eta_s,
        rider_lang=lang,
        updated_at=datetime.now(UTC),
        reason=reason,
    )


async def publish_call(server: MqttSession, topics: Topics, call: StopCall) -> None:
    await server.publish(topics.stop_call("S1", call.reservation_id), call, qos=1, retain=True)


async def send_receipt(
    server: MqttSession,
    event_id: uuid.UUID,
    outcome: Literal["applied", "duplicate", "refused"] = "applied",
    detail: str | None = None,
) -> None:
    """Answer a button event as the API does, on the stop's receipts topic."""
    receipt = EventReceipt(event_id=event_id, outcome=outcome, detail=detail, at=utcnow())
    await server.publish(Topics().stop_receipts("S1"), receipt, qos=1)


async def test_a_call_from_the_server_is_announced_and_stale_ones_are_not(
    make_gateway: MakeGateway, connect: Any, topics: Topics
) -> None:
    gateway, sink = await make_gateway()
    server = await connect("server.api")
    await publish_call(server, topics, stop_call(1, lang="en"))
    assert await sink.texts(2) == [EN_ASSIGNED_3, ZH_ASSIGNED_3]

    await publish_call(server, topics, stop_call(2, eta_s=170))  # still about 3: said
    await publish_call(server, topics, stop_call(1, eta_s=30))  # stale seq: dropped
    await publish_call(server, topics, stop_call(3, eta_s=50))  # under 1 minute
    assert await sink.texts(2) == [
        "三零七路 往板橋 公車約一分鐘後到站",
        "Bus three oh seven to Bahn chow: arriving in about 1 minute",
    ]
    await publish_call(server, topics, stop_call(4, ReservationStatus.AT_STOP, eta_s=0))
    assert await sink.texts(2) == ["三零七路 公車已到站", "Bus three oh seven is at the stop now"]
    await sink.expect_silence()
    assert gateway.tracker.get(RID) is not None


async def test_a_malformed_call_is_logged_and_ignored(
    make_gateway: MakeGateway, connect: Any, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    gateway, sink = await make_gateway()
    server = await connect("server.api")
    topic = topics.stop_call("S1", RID)
    await server.publish(topic, b'{"v": 1, "seq": "many"', qos=1)
    await server.publish(topic, b'{"v": 1, "seq": -1}', qos=1)
    await publish_call(server, topics, stop_call(1))
    assert await sink.texts(2) == [ZH_ASSIGNED_3, EN_ASSIGNED_3]
    assert caplog.text.count("ignored malformed call") == 2
    assert gateway.runtime.health().last_error is not None


async def test_a_call_on_a_malformed_topic_is_logged_and_ignored(
    make_gateway: MakeGateway, connect: Any, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    gateway, sink = await make_gateway()
    server = await connect("server.api")
    # Matches the gateway's filter but is no v1 topic: no builder makes it.
    bad_topic = f"{topics.root}/stops/S1/calls/not-a-uuid"
    await server.publish(bad_topic, stop_call(1), qos=1)
    await publish_call(server, topics, stop_call(1))
    assert await sink.texts(2) == [ZH_ASSIGNED_3, EN_ASSIGNED_3]
    await sink.expect_silence()
    assert caplog.text.count("not a v1 call topic") == 1
    assert bad_topic in (gateway.runtime.health().last_error or "")


async def test_killing_the_gateway_turns_its_status_offline(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    gateway, _sink = await make_gateway()
    observer = await connect("server.api")
    await observer.subscribe(topics.stop_status("S1"), inbox)
    online = decode(DeviceStatus, (await inbox.get()).payload)
    assert online.state is DeviceState.ONLINE
    await gateway.abort()
    offline = decode(DeviceStatus, (await inbox.get(10)).payload)
    assert offline.state is DeviceState.OFFLINE
    assert offline.session == online.session


async def test_calls_published_while_down_arrive_after_restart_said_once(
    make_gateway: MakeGateway, connect: Any, topics: Topics
) -> None:
    gateway, _sink = await make_gateway()
    await gateway.abort()
    server = await connect("server.api")
    await publish_call(server, topics, stop_call(1, ReservationStatus.PENDING, eta_s=None))
    await publish_call(server, topics, stop_call(2, ReservationStatus.ASSIGNED, eta_s=400))
    await publish_call(server, topics, stop_call(3, ReservationStatus.ACKNOWLEDGED, eta_s=280))
    _again, sink = await make_gateway()
    # Only the current state, once: not "booked", not "assigned".
    assert await sink.texts(2) == [
        "三零七路 往板橋 司機已確認，約五分鐘後到站",
        "Bus three oh seven to Bahn chow: the driver has confirmed; arriving in about 5 minutes",
    ]
    await sink.expect_silence()


async def test_a_reconnect_resyncs_without_repeating(
    make_gateway: MakeGateway, connect: Any, topics: Topics, broker: ManagedBroker
) -> None:
    gateway, sink = await make_gateway()
    server = await connect("server.api")
    await publish_call(server, topics, stop_call(1))
    assert await sink.texts(2) == [ZH_ASSIGNED_3, EN_ASSIGNED_3]
    reconnected = asyncio.Event()
    gateway.runtime.mqtt.on_connection_change(lambda up: reconnected.set() if up else None)
    await broker.restart()
    await asyncio.wait_for(reconnected.wait(), 30)
    await sink.expect_silence(1.0)  # the retained call came again: not said again
    health = gateway.runtime.health()
    assert health.last_error is not None
    assert "broker unreachable" in health.last_error


async def test_operator_announcement_is_said_as_sent(
    make_gateway: MakeGateway, connect: Any, topics: Topics
) -> None:
    _gateway, sink = await make_gateway(languages=["en", "zh-TW"])
    server = await connect("server.api")
    announcement = Announcement(
        id=uuid.uuid4(),
        text=Localized.model_validate({"zh-TW": "本站暫停服務", "en": "This stop is closed"}),
        priority="urgent",
    )
    await server.publish(topics.stop_announce("S1"), announcement, qos=1)
    assert await sink.texts(2) == ["This stop is closed", "本站暫停服務"]


async def test_health_is_published_with_queue_and_speaker_state(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_health("S1"), inbox)
    await make_gateway(health_interval_s=0.2)
    health = decode(DeviceHealth, (await inbox.get()).payload)
    assert health.speaker_ok is True
    assert health.queue_depth == 0
    assert health.uptime_s >= 0


async def test_book_without_a_phone_publishes_a_book_event_and_confirms(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway(
        routes=["307:0:307:307:板橋:Banqiao", "R30:1:紅30:Red 30:捷運劍潭站:MRT Jiantan"]
    )
    offers: asyncio.Queue[str] = asyncio.Queue()
    gateway.offer_listeners.append(lambda route: offers.put_nowait(route.route_id))
    await gateway.press(ButtonAction.BOOK)
    assert await asyncio.wait_for(offers.get(), 5) == "307"
    assert await asyncio.wait_for(offers.get(), 5) == "R30"
    await gateway.press(ButtonAction.BOOK)
    event = decode(StopEvent, (await inbox.get()).payload)
    assert event.action is ButtonAction.BOOK
    assert (event.route_id, event.direction_id, event.lang) == ("R30", 1, "zh-TW")
    said = [text for _lang, text in list(sink.lines)]
    assert "紅三十 往捷運劍潭站" in said
    assert "正在預約紅三十 往捷運劍潭站" in said
    assert "Booking Bus Red 30 to M R T Jiantan" in said
    # The server's call for the booking is the spoken confirmation.
    while not sink.heard.empty():
        sink.heard.get_nowait()
    call = stop_call(
        1, ReservationStatus.PENDING, eta_s=None, route_id="R30", name=("紅30", "Red 30")
    )
    await publish_call(server, topics, call)
    assert await sink.texts(2) == [
        "紅三十 往板橋 已預約，正在安排公車",
        "Bus Red 30 to Bahn chow: booked; finding a bus for you",
    ]


async def test_help_and_cancel_buttons(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway()
    await gateway.press(ButtonAction.CANCEL)
    assert await sink.texts(2) == [
        "本站目前沒有預約。按預約鍵可預約公車",
        "There is no booking at this stop. Press book to book a bus",
    ]
    await gateway.press(ButtonAction.HELP)
    help_press = decode(StopEvent, (await inbox.get()).payload)
    assert help_press.action is ButtonAction.HELP
    await send_receipt(server, help_press.id)
    assert await sink.texts(2) == [
        "已通知服務人員，請稍候",
        "Staff have been notified; please wait",
    ]
    await publish_call(server, topics, stop_call(1))
    await sink.texts(2)
    await gateway.press(ButtonAction.CANCEL)
    event = decode(StopEvent, (await inbox.get()).payload)
    assert (event.action, event.reservation_id) == (ButtonAction.CANCEL, RID)
    assert await sink.texts(2) == [
        "正在取消三零七路 往板橋的預約",
        "Cancelling the booking for Bus three oh seven to Bahn chow",
    ]
    await send_receipt(server, event.id)
    await publish_call(server, topics, stop_call(2, ReservationStatus.CANCELLED))
    assert await sink.texts(2) == [
        "三零七路 往板橋 的預約已取消",
        "Bus three oh seven to Bahn chow: the booking is cancelled",
    ]
    assert gateway.tracker.active() == []
    assert gateway.sender.pending_count == 0


# -- button events until the server's receipt ----------------------------------------------

HELP_SENT = ["已通知服務人員，請稍候", "Staff have been notified; please wait"]
HELP_QUEUED = [
    "目前無法連線，恢復連線後會通知服務人員",
    "No connection right now; staff will be notified as soon as it is back",
]
BOOK_FAILED = [
    "預約沒有成功，請稍後再試，或按求助鍵",
    "The booking did not go through; please try again later or press help",
]


async def test_help_pressed_offline_is_promised_then_confirmed_by_its_receipt(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any, broker: ManagedBroker
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway()
    await broker.stop()
    await eventually(lambda: not gateway.runtime.mqtt.connected, what="the gateway offline")
    await gateway.press(ButtonAction.HELP)
    # Offline: said at once that staff will be notified, not that they have been.
    assert await sink.texts(2) == HELP_QUEUED
    assert gateway.sender.pending_count == 1
    await broker.start()
    press = decode(StopEvent, (await inbox.get(30)).payload)
    assert press.action is ButtonAction.HELP
    await sink.expect_silence(0.3)  # the broker has it; the server has not answered
    await send_receipt(server, press.id)
    assert await sink.texts(2) == HELP_SENT
    assert gateway.sender.pending_count == 0


async def test_help_without_an_answer_is_sent_again_until_the_receipt(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway(receipt_wait_s=0.2, resend_first_s=0.1, resend_max_s=0.2)
    await gateway.press(ButtonAction.HELP)
    copies = [decode(StopEvent, (await inbox.get()).payload) for _ in range(3)]
    assert len({c.id for c in copies}) == 1
    assert await sink.texts(2) == HELP_QUEUED  # no receipt within receipt_wait_s
    await send_receipt(server, copies[0].id, "duplicate")
    assert await sink.texts(2) == HELP_SENT
    assert gateway.sender.pending_count == 0
    assert gateway.runtime.health().queue_depth == 0


async def test_a_cancel_the_server_refuses_says_there_is_no_booking(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway()
    await publish_call(server, topics, stop_call(1))
    await sink.texts(2)
    await gateway.press(ButtonAction.CANCEL)
    event = decode(StopEvent, (await inbox.get()).payload)
    assert (await sink.texts(2))[1] == "Cancelling the booking for Bus three oh seven to Bahn chow"
    await send_receipt(server, event.id, "refused", "no active booking to cancel")
    assert await sink.texts(2) == [
        "本站目前沒有預約。按預約鍵可預約公車",
        "There is no booking at this stop. Press book to book a bus",
    ]


async def _hear(sink: HeardSink, text: str, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while (await sink.next(within))[1] != text:
            pass


async def _book(gateway: StopGateway) -> None:
    offers: asyncio.Queue[str] = asyncio.Queue()
    gateway.offer_listeners.append(lambda route: offers.put_nowait(route.route_id))
    await gateway.press(ButtonAction.BOOK)
    assert await asyncio.wait_for(offers.get(), 5) == "307"
    await gateway.press(ButtonAction.BOOK)


async def test_a_booking_the_server_refuses_is_said_to_have_failed_at_once(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway(routes=["307:0:307:307:板橋:Banqiao"])
    await _book(gateway)
    event = decode(StopEvent, (await inbox.get()).payload)
    assert event.action is ButtonAction.BOOK
    await send_receipt(server, event.id, "refused", "one booking per route")
    await _hear(sink, BOOK_FAILED[1], within=5.0)  # not after book_confirm_timeout_s (30 s)


async def test_a_booking_the_server_never_got_is_given_up_at_the_deadline(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway(
        routes=["307:0:307:307:板橋:Banqiao"], book_confirm_timeout_s=1.0, resend_first_s=0.2
    )
    await _book(gateway)
    event = decode(StopEvent, (await inbox.get()).payload)
    await _hear(sink, BOOK_FAILED[1])
    assert gateway.sender.pending_count == 0
    while not inbox.queue.empty():  # copies sent before the deadline
        assert decode(StopEvent, inbox.queue.get_nowait().payload).id == event.id
    await inbox.expect_nothing(0.6)  # given up: no copy after the stop said it failed


async def test_a_booking_the_server_applied_is_never_said_to_have_failed(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway(
        routes=["307:0:307:307:板橋:Banqiao"], book_confirm_timeout_s=0.5
    )
    await _book(gateway)
    event = decode(StopEvent, (await inbox.get()).payload)
    await send_receipt(server, event.id)
    await eventually(lambda: gateway.sender.pending_count == 0, what="the receipt")
    # Past the deadline with no call yet: the booking exists, so it did not fail.
    said: list[str] = []
    with contextlib.suppress(TimeoutError):
        while True:
            said.append((await sink.next(1.0))[1])
    assert BOOK_FAILED[1] not in said


async def test_a_help_press_kept_on_disk_outlives_a_kill_and_is_announced_when_applied(
    make_gateway: MakeGateway,
    connect: Any,
    topics: Topics,
    inbox: Any,
    broker: ManagedBroker,
    tmp_path: Path,
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    gateway, sink = await make_gateway(state_dir=tmp_path / "gateway")
    await broker.stop()
    await eventually(lambda: not gateway.runtime.mqtt.connected, what="the gateway offline")
    await gateway.press(ButtonAction.HELP)
    assert await sink.texts(2) == HELP_QUEUED
    await gateway.abort()  # as kill -9 would: the promise is on disk only
    await broker.start()
    again, heard = await make_gateway(state_dir=tmp_path / "gateway")
    press = decode(StopEvent, (await inbox.get(30)).payload)
    assert press.action is ButtonAction.HELP
    await send_receipt(server, press.id)
    await _hear(heard, HELP_SENT[1])
    await eventually(lambda: again.sender.pending_count == 0, what="nothing pending")


async def test_a_booking_kept_from_before_a_restart_past_its_deadline_is_given_up(
    make_gateway: MakeGateway, connect: Any, topics: Topics, inbox: Any, tmp_path: Path
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.stop_events("S1"), inbox)
    settings = GatewaySettings(stop_id="S1", state_dir=tmp_path / "gateway")
    path = settings.pending_path()
    assert path is not None
    old = datetime.now(UTC) - timedelta(hours=1)
    stale = StopEvent(
        id=uuid.uuid4(), action=ButtonAction.BOOK, route_id="307", direction_id=0, at=old
    )
    help_press = StopEvent(id=uuid.uuid4(), action=ButtonAction.HELP, at=old)
    async with SqlitePendingStore(path, StopEvent) as store:
        await store.add(stale)
        await store.add(help_press)
    gateway, _sink = await make_gateway(state_dir=tmp_path / "gateway")
    assert decode(StopEvent, (await inbox.get()).payload).id == help_press.id
    assert [e.id for e in gateway.sender.pending_events()] == [help_press.id]
    await send_receipt(server, help_press.id)
    await eventually(lambda: gateway.sender.pending_count == 0, what="nothing pending")
    async with SqlitePendingStore(path, StopEvent) as reopened:
        assert await reopened.pending() == []
