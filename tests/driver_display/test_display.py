"""The display core against a real Mosquitto: alerts in, taps out, never lost."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker_config.broker import ManagedBroker
from broker_config.messages import (
    CannotStopReason,
    DeviceHealth,
    DeviceState,
    DeviceStatus,
    DriverEvent,
    DriverEventType,
    Lang,
    ReservationStatus,
    VehiclePosition,
    VehicleStopStatus,
    decode,
    encode,
    utcnow,
)
from broker_config.topics import Topics
from driver_display.deliveries import Delivery
from driver_display.display import AnswerNotAllowedError, DriverDisplay, UnknownAlertError
from driver_display.outbox import MemoryOutbox, SqliteOutbox
from driver_display.settings import DisplaySettings
from driver_display.sound import Cue, SoundPlan
from driver_display.sound_output import RecordingSoundOutput
from tests.conftest import ConnectFn, Inbox
from tests.driver_display.factories import MakeAlert, running_display, send_receipt, until


class QueueSource:
    """A PositionSource fed by the test."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[VehiclePosition] = asyncio.Queue()

    async def positions(self) -> AsyncIterator[VehiclePosition]:
        while True:
            yield await self.queue.get()


async def test_alerts_arrive_update_and_clear(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics, tmp_path: Path, make_alert: MakeAlert
) -> None:
    server = await connect("server.api")
    sound = RecordingSoundOutput()
    async with running_display(broker, tmp_path, "V1", sound=sound) as display:
        alert = make_alert(seq=1, note="guide dog")
        rid = alert.reservation_id
        topic = topics.vehicle_alert("V1", rid)
        await server.publish(topic, alert, retain=True)
        await until(display, lambda: display.store.get(rid) == alert)
        await until(display, lambda: len(sound.played) == 1)
        assert sound.played[0].cue is Cue.NEW_ALERT

        # A stale copy (lower seq) is dropped; a newer one applies silently.
        newer = alert.model_copy(update={"seq": 3, "eta_s": 60})
        await server.publish(topic, newer, retain=True)
        await server.publish(topic, alert.model_copy(update={"seq": 2}), retain=True)
        await until(display, lambda: display.store.get(rid) == newer)

        # An empty retained payload removes the card.
        await server.publish(topic, b"", retain=True)
        await until(display, lambda: display.store.get(rid) is None)
        assert [p.cue for p in sound.played] == [Cue.NEW_ALERT]


async def test_malformed_alert_is_logged_and_ignored(
    broker: ManagedBroker,
    connect: ConnectFn,
    topics: Topics,
    tmp_path: Path,
    make_alert: MakeAlert,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await connect("server.api")
    async with running_display(broker, tmp_path, "V1") as display:
        bad_id = uuid.uuid4()
        with caplog.at_level(logging.WARNING, logger="driver_display"):
            await server.publish(topics.vehicle_alert("V1", bad_id), b'{"v": 1, "seq": "x"')
            await server.publish(
                topics.vehicle_alert("V1", uuid.uuid4()), encode(make_alert()), retain=True
            )  # reservation_id differs from the topic's
            good = make_alert()
            await server.publish(topics.vehicle_alert("V1", good.reservation_id), good)
            await until(display, lambda: display.store.get(good.reservation_id) is not None)
        assert display.malformed_count == 2
        assert len(display.store) == 1
        malformed = [r for r in caplog.records if "malformed alert" in r.getMessage()]
        assert len(malformed) == 2
        assert str(bad_id) in malformed[0].getMessage()


async def test_alert_on_a_malformed_topic_is_logged_and_ignored(
    broker: ManagedBroker,
    connect: ConnectFn,
    topics: Topics,
    tmp_path: Path,
    make_alert: MakeAlert,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await connect("server.api")
    async with running_display(broker, tmp_path, "V1") as display:
        # Matches the display's filter but is no v1 topic: no builder makes it.
        bad_topic = f"{topics.root}/vehicles/V1/alerts/not-a-uuid"
        with caplog.at_level(logging.WARNING, logger="driver_display"):
            await server.publish(bad_topic, make_alert())
            good = make_alert()
            await server.publish(topics.vehicle_alert("V1", good.reservation_id), good)
            await until(display, lambda: display.store.get(good.reservation_id) is not None)
        assert len(display.store) == 1
        assert any(bad_topic in r.getMessage() for r in caplog.records)


async def test_tap_is_published_and_buttons_follow(
    broker: ManagedBroker,
    connect: ConnectFn,
    inbox: Inbox,
    topics: Topics,
    tmp_path: Path,
    make_alert: MakeAlert,
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    async with running_display(broker, tmp_path, "V1") as display:
        alert = make_alert(seq=1)
        rid = alert.reservation_id
        await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
        await until(display, lambda: display.store.get(rid) is not None)

        with pytest.raises(AnswerNotAllowedError):
            await display.answer(rid, DriverEventType.BOARDED)
        with pytest.raises(UnknownAlertError):
            await display.answer(uuid.uuid4(), DriverEventType.ACKNOWLEDGED)

        event = await display.answer(rid, DriverEventType.ACKNOWLEDGED)
        got = decode(DriverEvent, (await inbox.get()).payload)
        assert got == event
        await send_receipt(server, "V1", event.id)
        with pytest.raises(AnswerNotAllowedError):
            await display.answer(rid, DriverEventType.ACKNOWLEDGED)  # no double ack

        at_stop = alert.model_copy(update={"seq": 2, "status": ReservationStatus.AT_STOP})
        await server.publish(topics.vehicle_alert("V1", rid), at_stop, retain=True)
        await until(display, lambda: display.store.get(rid) == at_stop)
        cannot = await display.answer(
            rid, DriverEventType.CANNOT_STOP, CannotStopReason.STOP_BLOCKED
        )
        got = decode(DriverEvent, (await inbox.get()).payload)
        assert got == cannot
        assert got.reason is CannotStopReason.STOP_BLOCKED
        await send_receipt(server, "V1", cannot.id)
        view = display.store.view(rid)
        assert view is not None
        assert view.answers == ()
        await until(display, lambda: display.unsent == 0)
        await inbox.expect_nothing()


async def test_tap_while_broker_is_down_is_sent_after_it_returns_until_its_receipt(
    broker: ManagedBroker,
    connect: ConnectFn,
    inbox: Inbox,
    topics: Topics,
    tmp_path: Path,
    make_alert: MakeAlert,
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    async with running_display(broker, tmp_path, "V1") as display:
        alert = make_alert()
        rid = alert.reservation_id
        await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
        await until(display, lambda: display.store.get(rid) is not None)

        await broker.stop()
        await until(display, lambda: not display.connected)
        event = await display.answer(rid, DriverEventType.ACKNOWLEDGED)
        assert display.unsent == 1
        assert display.state().unsent == 1

        await broker.start()
        got = decode(DriverEvent, (await inbox.get(timeout=30)).payload)
        assert got.id == event.id
        assert display.unsent == 1  # the broker has it; the server has not answered yet
        await send_receipt(server, "V1", event.id)
        await until(display, lambda: display.unsent == 0, timeout=10)
        assert display.delivery(rid, DriverEventType.ACKNOWLEDGED) == Delivery("recorded")
        while not inbox.queue.empty():  # copies sent before the receipt came
            assert decode(DriverEvent, inbox.queue.get_nowait().payload).id == event.id
        await inbox.expect_nothing(within=1.0)


async def test_pending_taps_are_sent_in_order_after_a_restart_until_their_receipts(
    broker: ManagedBroker,
    connect: ConnectFn,
    inbox: Inbox,
    topics: Topics,
    tmp_path: Path,
) -> None:
    # Taps stored by a display that died before the server's receipts came.
    settings = DisplaySettings(vehicle_id="V2", state_dir=tmp_path)
    events = [
        DriverEvent(
            id=uuid.uuid4(),
            reservation_id=uuid.uuid4(),
            type=DriverEventType.ACKNOWLEDGED,
            at=utcnow(),
        )
        for _ in range(3)
    ]
    async with SqliteOutbox(settings.outbox_path("V2")) as outbox:
        for event in events:
            await outbox.add(event)
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_events("V2"), inbox)
    async with running_display(broker, tmp_path, "V2") as display:
        got = [decode(DriverEvent, (await inbox.get()).payload) for _ in events]
        assert got == events
        for event in events:
            await send_receipt(server, "V2", event.id, "duplicate")
        await until(display, lambda: display.unsent == 0)
        # The replayed taps also count as answered on the screen.
        assert display.store.answered(events[0].reservation_id) == (DriverEventType.ACKNOWLEDGED,)
    async with running_display(broker, tmp_path, "V2"):
        await inbox.expect_nothing(within=0.5)


async def test_a_tap_is_sent_again_until_its_receipt_and_the_screen_says_so(
    broker: ManagedBroker,
    connect: ConnectFn,
    inbox: Inbox,
    topics: Topics,
    tmp_path: Path,
    make_alert: MakeAlert,
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    async with running_display(
        broker, tmp_path, "V1", resend_first_s=0.1, resend_max_s=0.2
    ) as display:
        alert = make_alert()
        rid = alert.reservation_id
        await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
        await until(display, lambda: display.store.get(rid) is not None)
        event = await display.answer(rid, DriverEventType.ACKNOWLEDGED)
        # Nobody answers: the same tap goes out again, and the card says "sending".
        copies = [decode(DriverEvent, (await inbox.get()).payload) for _ in range(3)]
        assert {c.id for c in copies} == {event.id}
        state = display.state()
        assert state.unsent == 1
        assert state.delivery(state.views[0]) == Delivery("sending")
        await send_receipt(server, "V1", event.id)
        await until(display, lambda: display.unsent == 0)
        state = display.state()
        assert state.delivery(state.views[0]) == Delivery("recorded")
        while not inbox.queue.empty():  # copies on their way as the receipt came
            inbox.queue.get_nowait()
        await inbox.expect_nothing(within=0.6)


async def test_a_refused_tap_shows_the_servers_reason(
    broker: ManagedBroker,
    connect: ConnectFn,
    inbox: Inbox,
    topics: Topics,
    tmp_path: Path,
    make_alert: MakeAlert,
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    async with running_display(broker, tmp_path, "V1") as display:
        alert = make_alert(status=ReservationStatus.AT_STOP)
        rid = alert.reservation_id
        await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
        await until(display, lambda: display.store.get(rid) is not None)
        event = await display.answer(rid, DriverEventType.BOARDED)
        assert decode(DriverEvent, (await inbox.get()).payload).id == event.id
        reason = "the booking is cancelled"
        await send_receipt(server, "V1", event.id, "refused", reason)
        await until(display, lambda: display.unsent == 0)
        assert display.delivery(rid, DriverEventType.BOARDED) == Delivery("refused", reason)
        assert display.last_error is not None
        assert reason in display.last_error
    # After a restart the card still shows why (the outbox keeps the reason).
    async with running_display(broker, tmp_path, "V1") as again:
        await until(again, lambda: again.store.get(rid) is not None)
        assert again.delivery(rid, DriverEventType.BOARDED) == Delivery("refused", reason)
        assert again.unsent == 0


async def test_a_receipt_kept_for_the_display_while_it_was_away_settles_its_tap(
    broker: ManagedBroker,
    connect: ConnectFn,
    inbox: Inbox,
    topics: Topics,
    tmp_path: Path,
    make_alert: MakeAlert,
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_events("V1"), inbox)
    alert = make_alert()
    rid = alert.reservation_id
    async with running_display(broker, tmp_path, "V1") as display:
        await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
        await until(display, lambda: display.store.get(rid) is not None)
        event = await display.answer(rid, DriverEventType.ACKNOWLEDGED)
        assert decode(DriverEvent, (await inbox.get()).payload).id == event.id
    # The server answers while the display is switched off: its session keeps the receipt.
    await send_receipt(server, "V1", event.id)
    async with running_display(broker, tmp_path, "V1") as display:
        await until(display, lambda: display.unsent == 0)
        assert display.delivery(rid, DriverEventType.ACKNOWLEDGED) == Delivery("recorded")


async def test_status_health_and_position(
    broker: ManagedBroker,
    connect: ConnectFn,
    inbox: Inbox,
    topics: Topics,
    tmp_path: Path,
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_status("V3"), inbox)
    health = Inbox()
    await server.subscribe(topics.vehicle_health("V3"), health)
    positions = Inbox()
    await server.subscribe(topics.vehicle_position("V3"), positions)
    async with running_display(broker, tmp_path, "V3", health_interval_s=0.2) as display:
        status = decode(DeviceStatus, (await inbox.get()).payload)
        assert status.state is DeviceState.ONLINE
        beat = decode(DeviceHealth, (await health.get()).payload)
        assert beat.queue_depth == 0
        position = VehiclePosition(
            route_id="307",
            direction_id=0,
            lat=25.0478,
            lon=121.5170,
            stop_id="S1",
            current_stop_sequence=3,
            current_status=VehicleStopStatus.INCOMING_AT,
            timestamp=1_700_000_000.0,
        )
        await display.publish_position(position)
        assert decode(VehiclePosition, (await positions.get()).payload) == position
    status = decode(DeviceStatus, (await inbox.get()).payload)
    assert status.state is DeviceState.OFFLINE


async def test_position_source_feeds_the_topic(
    broker: ManagedBroker, connect: ConnectFn, inbox: Inbox, topics: Topics, tmp_path: Path
) -> None:
    server = await connect("server.api")
    await server.subscribe(topics.vehicle_position("V1"), inbox)
    source = QueueSource()
    position = VehiclePosition(
        route_id="307",
        direction_id=1,
        lat=25.05,
        lon=121.52,
        stop_id="S2",
        current_stop_sequence=4,
        current_status=VehicleStopStatus.STOPPED_AT,
        timestamp=1_700_000_001.0,
    )
    config = DisplaySettings(vehicle_id="V1", state_dir=tmp_path)
    async with (
        MemoryOutbox() as outbox,
        DriverDisplay(
            config,
            outbox=outbox,
            endpoint=broker.endpoint("vehicle.V1"),
            position_source=source,
        ) as display,
    ):
        await display.runtime.mqtt.wait_connected(10)
        source.queue.put_nowait(position)
        assert decode(VehiclePosition, (await inbox.get()).payload) == position


class QueueSound:
    """A SoundOutput whose plays a test can await."""

    speaker_ok: bool | None = True

    def __init__(self) -> None:
        self.plays: asyncio.Queue[Cue] = asyncio.Queue()

    async def play(self, plan: SoundPlan, lang: Lang) -> None:
        self.plays.put_nowait(plan.cue)


async def test_unacknowledged_alert_chimes_until_acknowledged(
    broker: ManagedBroker, connect: ConnectFn, topics: Topics, tmp_path: Path, make_alert: MakeAlert
) -> None:
    server = await connect("server.api")
    sound = QueueSound()
    async with running_display(
        broker, tmp_path, "V1", sound=sound, reminder_interval_s=0.2
    ) as display:
        alert = make_alert()
        rid = alert.reservation_id
        await server.publish(topics.vehicle_alert("V1", rid), alert, retain=True)
        assert await asyncio.wait_for(sound.plays.get(), 5) is Cue.NEW_ALERT
        assert await asyncio.wait_for(sound.plays.get(), 5) is Cue.REMINDER
        assert await asyncio.wait_for(sound.plays.get(), 5) is Cue.REMINDER
        await display.answer(rid, DriverEventType.ACKNOWLEDGED)
        while not sound.plays.empty():  # a chime may have been due as we tapped
            sound.plays.get_nowait()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sound.plays.get(), 0.6)
