"""Counting deliveries: every StopCall and DriverAlert one subscriber gets, by (topic, seq).

A reader drops a copy whose ``seq`` it has seen, so a second copy of a (topic, seq) is a
duplicate delivery: harmless to devices, but in the normal case a sign that two relays
publish the same outbox rows. After a crash the new leader may publish again what the
dead one had published but not yet marked sent; those copies are counted apart.

Each kill divides the copies: right after it, the counter publishes a marker to itself.
The broker forwards what it received to a subscriber in order, and the dead instance
published everything it ever will before the marker, so each copy is known to have come
before the kill or after it. A (topic, seq) seen on both sides was published again after
the crash; more than one copy on one side is a duplicate in the normal case. With
several kills, the copies fall into the periods between them the same way. The counter's
own connection lost (the broker killed or restarted) starts a period too: a relay sends
again what the broker had not acknowledged when it went, and the subscriber may have had
the first copy.

Copies of one (topic, seq) are compared too: a re-publication is byte for byte the same
message. Two different messages under one ``seq`` (a **seq conflict**) are worse than a
duplicate: two changes of one reservation were given the same number (one written over
the other), and every reader drops whichever comes second.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from broker_config.broker import ManagedBroker
from broker_config.errors import MalformedPayloadError
from broker_config.messages import DriverAlert, StopCall, decode
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import TopicKind, monitor_login
from simulators.cluster.const import DELIVERIES_MONITOR

__all__ = ["Deliveries", "DeliveryCounter", "count_deliveries"]


Key = tuple[str, int]
#: Per (topic, seq): per distinct payload, its copies in each period (0: before the
#: first kill, 1: between the first and the second ...).
Copies = dict[Key, dict[bytes, collections.Counter[int]]]


@dataclass(frozen=True, slots=True)
class Deliveries:
    """What the subscriber got: copies, distinct (topic, seq), and the extra copies."""

    messages: int
    distinct: int
    #: Extra copies within one period between kills: two relays publishing the same rows.
    duplicates: int
    #: Copies published again after a kill, one per later period (accepted after a crash).
    republished: int
    #: Different messages beyond the first under one (topic, seq).
    conflicts: int
    examples: tuple[str, ...]


def count_deliveries(copies: Copies, *, examples: int = 5) -> Deliveries:
    """Count ``copies``: duplicates, re-publications after a kill, seq conflicts."""
    duplicates = republished = conflicts = messages = 0
    lines: list[str] = []
    for (topic, seq), variants in sorted(copies.items()):
        if len(variants) > 1:
            conflicts += len(variants) - 1
            if len(lines) < examples:
                lines.append(f"{topic} seq {seq}: {len(variants)} different messages")
        for periods in variants.values():
            messages += periods.total()
            extra = sum(n - 1 for n in periods.values())
            duplicates += extra
            republished += len(periods) - 1
            if extra and len(lines) < examples:
                where = ", ".join(f"{n} in period {k}" for k, n in sorted(periods.items()))
                lines.append(f"{topic} seq {seq}: copies {where} (0: before the first fault)")
    return Deliveries(
        messages=messages,
        distinct=len(copies),
        duplicates=duplicates,
        republished=republished,
        conflicts=conflicts,
        examples=tuple(lines),
    )


class DeliveryCounter:
    """``async with DeliveryCounter(broker) as counter:`` subscribes (a read-only monitor
    login, a clean session) to every call and alert; ``await counter.mark()`` right after
    each kill; ``counter.summary()`` at the end. ``alert_at`` keeps when the first
    DriverAlert of each reservation came (``time.monotonic()``, read off the socket)."""

    def __init__(self, broker: ManagedBroker, *, name: str = DELIVERIES_MONITOR) -> None:
        self._topics = broker.topics
        self._marker = self._topics.monitor(name, "kill-marker")
        options = SessionOptions(clean_start=True, session_expiry_s=0)
        self._session = MqttSession(broker.endpoint(monitor_login(name)), options)
        self._period = 0
        self._was_up = False
        self._marked = asyncio.Event()
        self.copies: Copies = collections.defaultdict(dict)
        self.alert_at: dict[str, float] = {}
        self.malformed = 0

    async def __aenter__(self) -> Self:
        session = await self._session.__aenter__()
        try:
            await session.wait_connected(10)
            self._was_up = True
            session.on_connection_change(self._on_connection)
            for kind in (TopicKind.STOP_CALL, TopicKind.VEHICLE_ALERT):
                await session.subscribe(self._topics.all_of(kind), self._on_message)
            await session.subscribe(self._marker, self._on_message)
        except BaseException:
            await session.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._session.close()

    def _on_connection(self, up: bool) -> None:
        if not up and self._was_up:
            self._period += 1  # whatever comes after the broker's loss is a new period
        self._was_up = up

    async def _on_message(self, msg: ReceivedMessage) -> None:
        if msg.topic == self._marker:
            self._period += 1
            self._marked.set()
            return
        # Retained copies come again on (re)subscribing; an empty payload is a clearing.
        if msg.retain or not msg.payload or msg.parsed is None:
            return
        try:
            if msg.parsed.kind is TopicKind.VEHICLE_ALERT:
                alert = decode(DriverAlert, msg.payload)
                seq = alert.seq
                self.alert_at.setdefault(str(alert.reservation_id), msg.received_at)
            else:
                seq = decode(StopCall, msg.payload).seq
        except MalformedPayloadError:
            self.malformed += 1
            return
        variants = self.copies[(msg.topic, seq)]
        variants.setdefault(msg.payload, collections.Counter())[self._period] += 1

    async def mark(self, timeout: float = 10.0) -> None:
        """A new period: every copy read after this returns came after the kill before it."""
        self._marked.clear()
        await self._session.wait_connected(timeout)
        await self._session.publish(self._marker, b"", qos=1)
        await asyncio.wait_for(self._marked.wait(), timeout)

    def summary(self) -> Deliveries:
        return count_deliveries(self.copies)
