"""The unit of work: one short transaction, its outbox messages, and what it changed.

Every state change of the server runs in ``async with units() as uow``: the rows, the
history and the outbox messages that the change implies are written in one transaction
(so a message is stored before it is published), and listeners registered once at
start-up (relay wake-up, dispatcher index, metrics, live streams) hear what changed
after the commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import Message, ReservationStatus, encode, utcnow
from rider_api.db.engine import WriteGate
from rider_api.models import Incident, OutboxMessage, Reservation, ReservationEvent

__all__ = ["AfterCommit", "ChangeSet", "UnitOfWork", "UnitsOfWork"]

logger = logging.getLogger(__name__)


@dataclass
class ChangeSet:
    """What a unit of work changed, for the after-commit listeners."""

    reservations: set[uuid.UUID] = field(default_factory=set)
    touched: dict[uuid.UUID, Reservation] = field(default_factory=dict)
    #: History rows written in this unit of work, per reservation.
    events: dict[uuid.UUID, list[ReservationEvent]] = field(default_factory=dict)
    #: Outbox rows were written: the relay has work.
    outbox: bool = False
    history: list[tuple[Reservation, ReservationStatus, ReservationStatus, str]] = field(
        default_factory=list
    )
    #: Kinds of the incidents recorded (counted in the metrics once committed).
    incidents: list[str] = field(default_factory=list)


AfterCommit = Callable[[ChangeSet], None]


@dataclass(slots=True)
class _Pending:
    topic: str
    payload: bytes
    reservation_id: uuid.UUID | None
    qos: int
    retain: bool
    delay_s: float


class UnitOfWork:
    """One transaction: its session, what it changed, and the messages it will send."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.changes = ChangeSet()
        # Immediate messages in order; a retained one enqueued with ``coalesce`` is
        # replaced by the next immediate message for its topic (a booking assigned at once
        # would otherwise send its stop a pending call, then an assigned call).
        self._immediate: list[_Pending | None] = []
        self._replaceable: dict[str, int] = {}
        self._delayed: list[_Pending] = []
        self._supersede: set[str] = set()

    def enqueue(
        self,
        topic: str,
        message: Message | None,
        *,
        reservation_id: uuid.UUID | None,
        qos: int = 1,
        retain: bool = False,
        delay_s: float = 0.0,
        supersede: bool = True,
        coalesce: bool = True,
    ) -> None:
        """Send ``message`` when this unit of work commits (None: clear a retained topic).

        A new message for a topic supersedes a delayed clear still waiting for that topic
        (stored, or earlier in this unit of work), so a call that goes on (pickup ->
        drop-off) is never wiped by an older clear. ``supersede=False`` skips the stored
        check where no clear can be waiting (a reservation's first message).
        A retained message with ``coalesce`` (the default) is dropped if a later immediate
        message for the same topic follows in this unit of work: readers only need the
        last state. ``coalesce=False`` keeps a message readers must hear on its own.
        """
        pending = _Pending(
            topic,
            encode(message) if message is not None else b"",
            reservation_id,
            qos,
            retain,
            delay_s,
        )
        if delay_s > 0:
            self._delayed.append(pending)
        else:
            if retain and supersede:
                self._supersede.add(topic)
                self._delayed = [p for p in self._delayed if p.topic != topic]
            if retain:
                earlier = self._replaceable.pop(topic, None)
                if earlier is not None:
                    self._immediate[earlier] = None
                if coalesce:
                    self._replaceable[topic] = len(self._immediate)
            self._immediate.append(pending)
        self.changes.outbox = True

    def record_incident(self, incident: Incident) -> None:
        """Store an incident in this transaction (counted after the commit)."""
        self.session.add(incident)
        self.changes.incidents.append(incident.kind)

    async def flush_outbox(self) -> None:
        """Write the pending messages in this transaction (called before commit)."""
        if not self.changes.outbox:
            return
        now = utcnow()
        if self._supersede:
            await self.session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.topic).in_(sorted(self._supersede)),
                    col(OutboxMessage.sent_at).is_(None),
                    col(OutboxMessage.not_before) > now,
                )
                .values(sent_at=now)
            )
        # Immediate messages first, then the delayed clears (due later anyway).
        immediate = [p for p in self._immediate if p is not None]
        for p in (*immediate, *self._delayed):
            self.session.add(
                OutboxMessage(
                    reservation_id=p.reservation_id,
                    topic=p.topic,
                    payload=p.payload,
                    qos=p.qos,
                    retain=p.retain,
                    created_at=now,
                    not_before=now + timedelta(seconds=p.delay_s),
                )
            )
        self._immediate.clear()
        self._replaceable.clear()
        self._delayed.clear()
        self._supersede.clear()


class UnitsOfWork:
    """Opens units of work; listeners registered at start-up run after each commit."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], gate: WriteGate) -> None:
        self.sessions = sessions
        self.gate = gate
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, listener: AfterCommit) -> None:
        """Call ``listener(changes)`` after every commit, in registration order."""
        self._after_commit.append(listener)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork]:
        async with self.sessions() as session:
            uow = UnitOfWork(session)
            async with self.gate(), session.begin():
                yield uow
                await uow.flush_outbox()
            for listener in self._after_commit:
                try:
                    listener(uow.changes)
                except Exception:
                    # The change is committed: a failing listener must not turn it into
                    # an error for the caller.
                    logger.exception("after-commit listener %r failed", listener)
