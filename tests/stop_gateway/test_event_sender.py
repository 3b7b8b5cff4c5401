"""The shared EventSender against an in-process fake link: no broker, short back-offs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from broker_config.device.pending_file import SqlitePendingStore
from broker_config.device.receipts import (
    EventSender,
    MemoryPendingStore,
    Outcome,
    Settlement,
)
from broker_config.device.resend import Backoff
from broker_config.errors import PublishRefusedError
from broker_config.messages import (
    ButtonAction,
    EventReceipt,
    Message,
    StopEvent,
    encode,
    utcnow,
)
from broker_config.received import Handler, ReceivedMessage

pytestmark = pytest.mark.timeout(20)

EVENTS = "bushail/v1/stops/S1/events"
RECEIPTS = "bushail/v1/stops/S1/receipts"


class FakeLink:
    """Stands in for the MqttSession: records publishes, delivers receipts on demand."""

    def __init__(self, *, connected: bool = True) -> None:
        self.connected = connected
        self.listeners: list[Callable[[bool], None]] = []
        self.handlers: dict[str, Handler] = {}
        self.published: asyncio.Queue[StopEvent] = asyncio.Queue()
        self.refusal: PublishRefusedError | None = None

    def on_connection_change(self, listener: Callable[[bool], None]) -> None:
        self.listeners.append(listener)

    async def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        self.handlers[topic_filter] = handler

    async def publish(
        self,
        topic: str,
        payload: bytes | Message | None,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float | None = None,
    ) -> None:
        assert topic == EVENTS
        assert qos == 1
        assert isinstance(payload, StopEvent)
        if self.refusal is not None:
            raise self.refusal
        self.published.put_nowait(payload)

    def set_connected(self, value: bool) -> None:
        self.connected = value
        for listener in self.listeners:
            listener(value)

    async def deliver(self, payload: bytes) -> None:
        msg = ReceivedMessage(RECEIPTS, payload, 1, False, None, time.monotonic())
        await self.handlers[RECEIPTS](msg)

    async def receipt(
        self, event_id: uuid.UUID, outcome: Outcome = "applied", detail: str | None = None
    ) -> None:
        assert outcome != "withdrawn"
        receipt = EventReceipt(event_id=event_id, outcome=outcome, detail=detail, at=utcnow())
        await self.deliver(encode(receipt))

    async def copy(self, timeout: float = 5.0) -> StopEvent:
        return await asyncio.wait_for(self.published.get(), timeout)

    async def expect_no_copy(self, within: float) -> None:
        try:
            event = await asyncio.wait_for(self.published.get(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected copy of {event.id}")


def press(action: ButtonAction = ButtonAction.HELP) -> StopEvent:
    return StopEvent(id=uuid.uuid4(), action=action, at=utcnow())


class Heard:
    """Every settlement the sender reports, in order."""

    def __init__(self) -> None:
        self.settled: list[tuple[uuid.UUID, Settlement]] = []

    def __call__(self, event: StopEvent, settlement: Settlement) -> None:
        assert event.id == settlement.event_id
        self.settled.append((event.id, settlement))


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


@pytest.fixture
def store() -> MemoryPendingStore[StopEvent]:
    return MemoryPendingStore()


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
async def sender(
    link: FakeLink, store: MemoryPendingStore[StopEvent], heard: Heard
) -> AsyncIterator[EventSender[StopEvent]]:
    async with EventSender(
        link,
        events_topic=EVENTS,
        receipts_topic=RECEIPTS,
        store=store,
        backoff=Backoff(first_s=0.05, max_s=0.2),
        on_settled=heard,
        name="stop S1",
    ) as running:
        yield running


async def test_an_event_is_sent_once_and_done_at_its_receipt(
    sender: EventSender[StopEvent],
    link: FakeLink,
    store: MemoryPendingStore[StopEvent],
    heard: Heard,
) -> None:
    event = press()
    ticket = await sender.send(event)
    assert await link.copy() == event
    assert sender.pending_count == 1
    await link.receipt(event.id)
    settlement = await asyncio.wait_for(ticket.settled, 1)
    assert settlement == Settlement(event.id, "applied")
    assert settlement.applied
    assert sender.pending_count == 0
    assert await store.pending() == []
    assert heard.settled == [(event.id, settlement)]
    # The server's answer to a copy already on its way changes nothing.
    await link.receipt(event.id, "duplicate")
    assert len(heard.settled) == 1
    await link.expect_no_copy(0.2)


async def test_without_a_receipt_the_same_event_is_sent_again_with_a_backoff(
    sender: EventSender[StopEvent], link: FakeLink
) -> None:
    event = press()
    ticket = await sender.send(event)
    copies = [await link.copy() for _ in range(4)]
    assert {c.id for c in copies} == {event.id}
    assert sender.copies_sent >= 4
    await link.receipt(event.id, "duplicate")
    assert (await ticket.settled).applied
    await link.expect_no_copy(0.3)


async def test_nothing_is_sent_offline_and_everything_at_the_reconnection(
    link: FakeLink, sender: EventSender[StopEvent]
) -> None:
    link.set_connected(False)
    first, second = press(), press(ButtonAction.CANCEL)
    await sender.send(first)
    await sender.send(second)
    await link.expect_no_copy(0.3)
    assert sender.pending_count == 2
    link.set_connected(True)
    assert [await link.copy(), await link.copy()] == [first, second]


async def test_a_refusal_ends_the_event_with_its_reason(
    sender: EventSender[StopEvent], link: FakeLink, heard: Heard
) -> None:
    event = press(ButtonAction.CANCEL)
    ticket = await sender.send(event)
    await link.copy()
    await link.receipt(event.id, "refused", "no active booking to cancel")
    settlement = await ticket.settled
    assert (settlement.outcome, settlement.detail, settlement.by_server) == (
        "refused",
        "no active booking to cancel",
        True,
    )
    assert not settlement.applied
    await link.expect_no_copy(0.2)


async def test_a_publish_the_broker_refuses_is_not_retried(
    sender: EventSender[StopEvent], link: FakeLink
) -> None:
    link.refusal = PublishRefusedError(EVENTS, "Not authorized", 135)
    ticket = await sender.send(press())
    settlement = await asyncio.wait_for(ticket.settled, 2)
    assert settlement.outcome == "refused"
    assert not settlement.by_server
    assert settlement.detail == "the broker refused it: Not authorized"
    assert sender.pending_count == 0
    assert sender.last_error is not None


async def test_a_withdrawn_event_is_not_sent_again(
    sender: EventSender[StopEvent], link: FakeLink
) -> None:
    link.set_connected(False)
    event = press(ButtonAction.HELP)
    ticket = await sender.send(event)
    assert await sender.withdraw(event.id)
    assert not await sender.withdraw(event.id)
    settlement = await ticket.settled
    assert (settlement.outcome, settlement.by_server) == ("withdrawn", False)
    link.set_connected(True)
    await link.expect_no_copy(0.3)


async def test_events_kept_from_before_are_sent_first_and_reported_when_settled(
    link: FakeLink, store: MemoryPendingStore[StopEvent], heard: Heard
) -> None:
    old = [press(), press()]
    for event in old:
        await store.add(event)
    link.set_connected(False)
    async with EventSender(
        link, events_topic=EVENTS, receipts_topic=RECEIPTS, store=store, on_settled=heard
    ) as sender:
        assert sender.pending_count == 2
        # A receipt kept by the broker for the device's session, before any copy.
        await link.receipt(old[0].id, "applied")
        assert sender.pending_count == 1
        link.set_connected(True)
        assert await link.copy() == old[1]
        await link.receipt(old[1].id, "duplicate")
    assert [e for e, _s in heard.settled] == [old[0].id, old[1].id]
    assert await store.pending() == []


async def test_a_malformed_receipt_is_logged_and_ignored(
    sender: EventSender[StopEvent], link: FakeLink, caplog: pytest.LogCaptureFixture
) -> None:
    event = press()
    await sender.send(event)
    await link.copy()
    await link.deliver(b'{"v": 1, "event_id": "nope"}')
    assert sender.pending_count == 1
    assert "malformed receipt" in caplog.text
    await link.receipt(event.id)
    assert sender.pending_count == 0


async def test_the_sqlite_store_keeps_pending_events_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "S1" / "presses.sqlite3"
    events = [press(), press(ButtonAction.CANCEL), press(ButtonAction.HELP)]
    async with SqlitePendingStore(path, StopEvent) as store:
        for event in events:
            await store.add(event)
        await store.add(events[0])  # kept once
        await store.settle(events[1].id, "applied", None)
    async with SqlitePendingStore(path, StopEvent) as reopened:
        assert await reopened.pending() == [events[0], events[2]]
        await reopened.settle(events[0].id, "withdrawn", "given up")
        assert await reopened.pending() == [events[2]]
