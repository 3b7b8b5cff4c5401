"""A device's events are done when the server has applied them, not when the broker has them.

The broker's PUBACK only says the broker took a copy; if the server was not subscribed
at that moment (a broker restarted without its sessions, a server reconnecting), the
copy went to nobody. So a device keeps each event (a driver's tap, a stop's button
press) until the server's ``EventReceipt`` with the event's id arrives on the device's
receipts topic, and sends it again (same id) on every (re)connection and then with a
back-off (:mod:`broker_config.device.resend`), and at once whenever a server comes
online (its retained birth on ``server/{instance}/status``: after a server lost its
broker session, what it missed need not wait for the back-off). The server applies an
id once and answers
every copy: ``applied``, ``duplicate`` (applied before: a receipt was missed) or
``refused`` (will never be applied; ``detail`` says why). All three end the event.

``async with EventSender(mqtt, events_topic=..., receipts_topic=..., store=...) as sender:``
entered *before* the device's session connects: it loads the pending events from the
store and registers the receipts handler, so the receipts the broker kept for the
device's persistent session find their events. ``await sender.send(event)`` stores the
event (durably, if the store is) and returns a :class:`Ticket` whose ``settled`` future
gives the :class:`Settlement`; ``on_settled`` hears every settlement, those of events
loaded from the store too.

A broker refusal of the publish itself (ACL, too large) will not change on retry: it
settles the event as ``refused``. ``withdraw(event_id)`` gives an event up (a booking
the stop has told the rider failed); a copy already at the broker may still be applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Literal, Protocol, Self, TypeVar

from broker_config.aio import cancel_and_wait, wait_event
from broker_config.device.resend import Backoff, ResendSchedule
from broker_config.errors import (
    MalformedPayloadError,
    MqttError,
    PublishRefusedError,
    SessionClosedError,
)
from broker_config.messages import (
    DeviceState,
    DeviceStatus,
    DriverEvent,
    EventReceipt,
    Message,
    StopEvent,
    decode,
)
from broker_config.received import Handler, ReceivedMessage

__all__ = [
    "EventSender",
    "MemoryPendingStore",
    "MqttLink",
    "Outcome",
    "PendingStore",
    "Settlement",
    "Ticket",
]

logger = logging.getLogger(__name__)

#: How a pending event ended: the server's receipt outcomes, or given up by the device.
Outcome = Literal["applied", "duplicate", "refused", "withdrawn"]

#: The device events that get receipts.
E = TypeVar("E", DriverEvent, StopEvent)


@dataclass(frozen=True, slots=True)
class Settlement:
    """How one event ended (``detail``: the server's or the broker's reason, if any)."""

    event_id: uuid.UUID
    outcome: Outcome
    detail: str | None = None
    #: False when the device ended it itself: the broker refused the publish, or withdrawn.
    by_server: bool = True

    @property
    def applied(self) -> bool:
        """The server has applied the event (now, or before: ``duplicate``)."""
        return self.outcome in ("applied", "duplicate")


@dataclass(frozen=True, slots=True)
class Ticket:
    """A sent event: its id, and the future of its settlement."""

    event_id: uuid.UUID
    settled: asyncio.Future[Settlement]


class MqttLink(Protocol):
    """What the sender needs of an ``MqttSession`` (a fake in unit tests)."""

    @property
    def connected(self) -> bool: ...

    def on_connection_change(self, listener: Callable[[bool], None]) -> None: ...

    async def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None: ...

    async def publish(
        self,
        topic: str,
        payload: bytes | Message | None,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float | None = None,
    ) -> None: ...


class PendingStore(Protocol[E]):
    """Where a device keeps its events until they are settled."""

    async def add(self, event: E) -> None:
        """Keep ``event`` (an id already kept is kept once)."""
        ...

    async def pending(self) -> list[E]:
        """The events not settled yet, oldest first."""
        ...

    async def settle(self, event_id: uuid.UUID, outcome: Outcome, detail: str | None) -> None:
        """The event is done: never send it again."""
        ...


class MemoryPendingStore(Generic[E]):
    """Pending events in memory only: lost with the process."""

    def __init__(self) -> None:
        self._events: dict[uuid.UUID, E] = {}
        self._settling: set[uuid.UUID] = set()

    async def add(self, event: E) -> None:
        self._events.setdefault(event.id, event)

    async def pending(self) -> list[E]:
        return list(self._events.values())

    async def settle(self, event_id: uuid.UUID, outcome: Outcome, detail: str | None) -> None:
        self._events.pop(event_id, None)


class EventSender(Generic[E]):
    """Sends a device's events until their receipts arrive; see the module docstring."""

    def __init__(
        self,
        mqtt: MqttLink,
        *,
        events_topic: str,
        receipts_topic: str,
        store: PendingStore[E],
        server_status_filter: str | None = None,
        backoff: Backoff | None = None,
        on_settled: Callable[[E, Settlement], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "device",
    ) -> None:
        self.mqtt: MqttLink = mqtt
        self.events_topic = events_topic
        self.receipts_topic = receipts_topic
        #: The servers' status topics (``Topics.all_of(SERVER_STATUS)``); None: not watched.
        self.server_status_filter = server_status_filter
        self.store: PendingStore[E] = store
        self.name = name
        self.schedule: ResendSchedule[uuid.UUID] = ResendSchedule(backoff)
        #: Copies published (PUBACK or not), for tests and health.
        self.copies_sent = 0
        self.last_error: str | None = None
        self._on_settled: Callable[[E, Settlement], None] | None = on_settled
        self._clock = clock
        self._events: dict[uuid.UUID, E] = {}
        self._settling: set[uuid.UUID] = set()
        self._futures: dict[uuid.UUID, asyncio.Future[Settlement]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listening = False
        #: Each server's latest online session number: a new one sends what is pending.
        self._server_sessions: dict[str, int] = {}

    # -- lifetime -------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        now = self._clock()
        for event in await self.store.pending():
            self._events[event.id] = event
            self.schedule.add(event.id, now)
        if not self._listening:
            self.mqtt.on_connection_change(self._on_connection_change)
            self._listening = True
        await self.mqtt.subscribe(self.receipts_topic, self._on_receipt, qos=1)
        if self.server_status_filter is not None:
            await self.mqtt.subscribe(self.server_status_filter, self._on_server_status, qos=1)
        self._task = asyncio.create_task(self._run(), name=f"receipts-{self.name}")
        if self._events:
            logger.info("%s: %d event(s) still wait for a receipt", self.name, len(self._events))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop sending; pending events stay in the store (and unsettled)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()

    # -- what devices call ----------------------------------------------------------------
    @property
    def pending_count(self) -> int:
        """Events not settled yet (sent or not)."""
        return len(self.schedule) + len(self._settling)

    def is_pending(self, event_id: uuid.UUID) -> bool:
        return event_id in self.schedule

    def pending_events(self) -> list[E]:
        """The events not settled yet, oldest first (those loaded from the store too)."""
        return list(self._events.values())

    async def send(self, event: E) -> Ticket:
        """Keep ``event`` in the store, then send it until it is settled.

        Once this returns, the event is as safe as the store (a disk error raises here,
        before anything was sent).
        """
        await self.store.add(event)
        future: asyncio.Future[Settlement] = asyncio.get_running_loop().create_future()
        self._futures[event.id] = future
        self._events[event.id] = event
        self.schedule.add(event.id, self._clock())
        self._wake.set()
        return Ticket(event.id, future)

    async def withdraw(self, event_id: uuid.UUID, reason: str = "given up") -> bool:
        """Stop sending ``event_id``; False if it was settled already."""
        settlement = await self._settle(event_id, "withdrawn", reason, by_server=False)
        return settlement is not None

    # -- receipts -------------------------------------------------------------------------
    async def _on_receipt(self, msg: ReceivedMessage) -> None:
        try:
            receipt = decode(EventReceipt, msg.payload)
        except MalformedPayloadError as exc:
            # Only the server writes here (the broker's ACL): worth a line every time.
            logger.warning("%s: ignored malformed receipt on %s: %s", self.name, msg.topic, exc)
            return
        settlement = await self._settle(receipt.event_id, receipt.outcome, receipt.detail)
        if settlement is None:
            # The answer to a further copy of an event settled already.
            logger.debug("%s: receipt for %s, not pending", self.name, receipt.event_id)

    async def _settle(
        self, event_id: uuid.UUID, outcome: Outcome, detail: str | None, *, by_server: bool = True
    ) -> Settlement | None:
        event = self._events.pop(event_id, None)
        if event is None:
            return None
        self.schedule.remove(event_id)  # no further copy from here on
        # Still counted as pending until the store has it and the listener heard it.
        self._settling.add(event_id)
        try:
            await self.store.settle(event_id, outcome, detail)
        except Exception as exc:
            # Not marked: after a restart it is sent again and the server answers
            # "duplicate"; nothing is lost, so the device carries on.
            self.last_error = f"event {event_id} settled but not stored: {exc}"
            logger.exception("%s: could not store the settlement of %s", self.name, event_id)
        finally:
            self._settling.discard(event_id)
        settlement = Settlement(event_id, outcome, detail, by_server)
        log = logger.warning if outcome == "refused" else logger.info
        log("%s: event %s %s%s", self.name, event_id, outcome, f" ({detail})" if detail else "")
        future = self._futures.pop(event_id, None)
        if future is not None and not future.done():
            future.set_result(settlement)
        if self._on_settled is not None:
            try:
                self._on_settled(event, settlement)
            except Exception:
                logger.exception("%s: settlement listener failed", self.name)
        return settlement

    # -- sending --------------------------------------------------------------------------
    async def _on_server_status(self, msg: ReceivedMessage) -> None:
        """A server's new online session: send every pending event now, back-off anew."""
        try:
            status = decode(DeviceStatus, msg.payload)
        except MalformedPayloadError as exc:
            logger.warning(
                "%s: ignored malformed server status on %s: %s", self.name, msg.topic, exc
            )
            return
        if status.state is not DeviceState.ONLINE:
            return
        if self._server_sessions.get(msg.topic) == status.session:
            return  # a copy of a birth already heard
        self._server_sessions[msg.topic] = status.session
        if msg.retain or not self.schedule:
            # The stored copy, sent on subscribing: our own connection covered it.
            return
        logger.info(
            "%s: a server came online (%s); sending %d pending event(s) now",
            self.name,
            msg.topic,
            len(self.schedule),
        )
        self.schedule.reconnected(self._clock())
        self._wake.set()

    def _on_connection_change(self, connected: bool) -> None:
        if connected:
            self.schedule.reconnected(self._clock())
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._loop()
            except SessionClosedError:
                return  # the device is closing: what is pending stays in the store
            except Exception as exc:
                # A fault must not end the sender for good: the events are still pending.
                self.last_error = f"sender failed: {exc}"
                logger.exception("%s: sending pending events failed; retrying", self.name)
                await asyncio.sleep(self.schedule.backoff.first_s)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            timeout: float | None = None
            if self.mqtt.connected:
                for event_id in self.schedule.due(self._clock()):
                    if not self.mqtt.connected:
                        break  # the rest go out after the reconnection
                    await self._send_copy(event_id)
                next_due = self.schedule.next_due()
                if next_due is not None:
                    timeout = max(0.0, next_due - self._clock())
            # While offline only a connection (or a new event) wakes the sender.
            await wait_event(self._wake, timeout)

    async def _send_copy(self, event_id: uuid.UUID) -> None:
        event = self._events.get(event_id)
        if event is None:
            return  # settled while earlier copies went out
        attempt = self.schedule.attempts(event_id) + 1
        try:
            # Waits for PUBACK, across a reconnection (the session re-sends it itself).
            await self.mqtt.publish(self.events_topic, event, qos=1)
        except SessionClosedError:
            raise  # see _run
        except PublishRefusedError as exc:
            self.last_error = f"event {event_id} refused by the broker: {exc}"
            detail = f"the broker refused it: {exc.reason}"
            await self._settle(event_id, "refused", detail, by_server=False)
            return
        except MqttError as exc:
            # The queue is full or the link broke: this copy is lost, the back-off retries.
            self.last_error = f"event {event_id} not sent: {exc}"
            logger.warning("%s: event %s not sent: %s", self.name, event_id, exc)
        else:
            self.copies_sent += 1
            if attempt > 1:
                logger.info(
                    "%s: event %s sent again (copy %d), no receipt yet",
                    self.name,
                    event_id,
                    attempt,
                )
        self.schedule.sent(event_id, self._clock())
