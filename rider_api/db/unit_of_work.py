"""The unit of work: one short transaction, its outbox messages, and what it changed.

Every state change of the server runs in ``async with units() as uow``: the rows, the
history and the outbox messages that the change implies are written in one transaction
(so a message is stored before it is published), and listeners registered once at
start-up (relay wake-up, dispatcher index, metrics, live streams) hear what changed
after the commit.

A reservation created in a unit of work (``add_created``), the history rows
(``add_event``) and the outbox rows are written with core INSERTs at the end, not through
the ORM: a booking writes four rows, and the ORM's bookkeeping for them cost more than
SQLite did.

The outbox rows a unit of work wrote travel on in its ChangeSet (``outbox_rows``, with
their ids), so the relay can publish them as soon as the commit returns instead of
reading them back. While the after-commit listeners run, ``committing`` holds that
ChangeSet: a listener that is only called back (the relay's ``wake()``) finds it there.

On PostgreSQL a unit of work that never opened an ORM session (a booking) sends its
writes, the before-commit hooks' statements (the cluster's NOTIFY) and its COMMIT in one
pipeline (``core.driver_sql``): one round trip where a booking made six. A statement
that fails fails the pipeline, nothing after it runs (the COMMIT included), and the
transaction is rolled back as any other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Table, update
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import Message, ReservationStatus, encode, utcnow
from rider_api.core.driver_sql import DriverCursor, Returned, insert_rows
from rider_api.db.engine import WriteGate
from rider_api.models import Incident, OutboxMessage, Reservation, ReservationEvent

__all__ = [
    "AfterCommit",
    "BeforeCommit",
    "ChangeSet",
    "HistoryEntry",
    "OutboxRow",
    "UnitOfWork",
    "UnitsOfWork",
    "committing",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A history row written in a unit of work (a ``ReservationEvent`` once stored)."""

    reservation_id: uuid.UUID
    status: ReservationStatus
    at: datetime
    cause: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A stored outbox message due now, as its unit of work wrote it."""

    id: int
    reservation_id: uuid.UUID | None
    topic: str
    payload: bytes
    qos: int
    retain: bool
    #: Its reservation was created in the same unit of work: no older message of it
    #: can be waiting anywhere, whoever wrote it.
    fresh: bool


@dataclass
class ChangeSet:
    """What a unit of work changed, for the after-commit listeners."""

    reservations: set[uuid.UUID] = field(default_factory=set)
    #: Reservations created in this unit of work.
    created: set[uuid.UUID] = field(default_factory=set)
    touched: dict[uuid.UUID, Reservation] = field(default_factory=dict)
    #: History rows written in this unit of work, per reservation.
    events: dict[uuid.UUID, list[HistoryEntry]] = field(default_factory=dict)
    #: Outbox rows were written: the relay has work.
    outbox: bool = False
    #: The rows due now, in the order written (ids increasing), once committed.
    outbox_rows: list[OutboxRow] = field(default_factory=list)
    #: When the first delayed row written (a final call's clear) is due, if any.
    outbox_due: datetime | None = None
    history: list[tuple[Reservation, ReservationStatus, ReservationStatus, str]] = field(
        default_factory=list
    )
    #: Kinds of the incidents recorded (counted in the metrics once committed).
    incidents: list[str] = field(default_factory=list)


AfterCommit = Callable[[ChangeSet], None]
BeforeCommit = Callable[["UnitOfWork"], Awaitable[None]]

_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_RESERVATION: Table = Reservation.__table__  # type: ignore[attr-defined]
_EVENT: Table = ReservationEvent.__table__  # type: ignore[attr-defined]
_RESERVATION_COLUMNS = tuple(c.name for c in _RESERVATION.columns)
_EVENT_COLUMNS = ("reservation_id", "status", "at", "cause")
_OUTBOX_COLUMNS = (
    "reservation_id",
    "topic",
    "payload",
    "qos",
    "retain",
    "created_at",
    "not_before",
    "sent_at",
)
# The rows every booking writes go straight to the driver (see core.driver_sql).
_INSERT_RESERVATION = insert_rows(_RESERVATION, _RESERVATION_COLUMNS)
_INSERT_EVENT = insert_rows(_EVENT, _EVENT_COLUMNS)
_INSERT_OUTBOX = insert_rows(_OUTBOX, _OUTBOX_COLUMNS, returning="id")

#: The ChangeSet whose after-commit listeners are running now (None elsewhere).
committing: ContextVar[ChangeSet | None] = ContextVar("committing", default=None)


@dataclass(slots=True)
class _Pending:
    topic: str
    #: Encoded when written: a message a later one replaces is never encoded.
    message: Message | None
    reservation_id: uuid.UUID | None
    qos: int
    retain: bool
    delay_s: float
    encoded: bytes | None = None

    def payload(self) -> bytes:
        if self.encoded is None:
            self.encoded = encode(self.message) if self.message is not None else b""
        return self.encoded


class UnitOfWork:
    """One transaction: its session, what it changed, and the messages it will send.

    ``UnitsOfWork`` opens it on a connection in a transaction and makes the ORM session
    only when something asks for it: a booking writes through the driver alone and
    never pays for one.
    """

    def __init__(
        self,
        session: AsyncSession | None = None,
        *,
        connection: AsyncConnection | None = None,
        open_session: Callable[[], AsyncSession] | None = None,
    ) -> None:
        self._session = session
        self._connection = connection
        self._open_session = open_session
        self._driver: DriverCursor | None = None
        self.changes = ChangeSet()
        # Immediate messages in order; a retained one enqueued with ``coalesce`` is
        # replaced by the next immediate message for its topic (a booking assigned at once
        # would otherwise send its stop a pending call, then an assigned call).
        self._immediate: list[_Pending | None] = []
        self._replaceable: dict[str, int] = {}
        self._delayed: list[_Pending] = []
        # Retained topics whose stored delayed clears a new message supersedes, with the
        # reservation each belongs to.
        self._supersede: dict[str, uuid.UUID | None] = {}
        self._created: list[Reservation] = []
        self._events: list[HistoryEntry] = []
        self._after_created: list[object] = []
        # Outbox rows written, and their ids (known once the statements have run).
        self._written: list[tuple[list[_Pending], Returned]] = []

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
            message,
            reservation_id,
            qos,
            retain,
            delay_s,
        )
        if delay_s > 0:
            self._delayed.append(pending)
        else:
            if retain and supersede:
                self._supersede[topic] = reservation_id
                self._delayed = [p for p in self._delayed if p.topic != topic]
            if retain:
                earlier = self._replaceable.pop(topic, None)
                if earlier is not None:
                    self._immediate[earlier] = None
                if coalesce:
                    self._replaceable[topic] = len(self._immediate)
            self._immediate.append(pending)
        self.changes.outbox = True

    @property
    def session(self) -> AsyncSession:
        """The ORM session, in this unit of work's transaction (made on first use)."""
        if self._session is None:
            if self._open_session is None:
                raise RuntimeError("this unit of work has no session")
            if self._driver is not None and self._driver.pipelined:
                # The ORM reads what it runs at once: not in a pipeline.
                raise RuntimeError("no ORM session inside the commit's pipeline")
            self._session = self._open_session()
        return self._session

    async def connection(self) -> AsyncConnection:
        """The connection of this unit of work's transaction."""
        if self._connection is None:
            self._connection = await self.session.connection()
        return self._connection

    async def driver(self) -> DriverCursor:
        """A driver cursor in this unit of work's transaction (see ``core.driver_sql``)."""
        if self._driver is None:
            self._driver = DriverCursor(await self.connection())
        return self._driver

    async def close(self) -> None:
        if self._driver is not None:
            await self._driver.close()
        if self._session is not None:
            await self._session.close()

    def add_created(self, res: Reservation) -> None:
        """Store a new reservation, as it is at the end of this unit of work.

        It is not added to the session: do not read it back in the same unit of work.
        """
        self._created.append(res)
        self.changes.created.add(res.id)

    def add_after_created(self, row: object) -> None:
        """Add an ORM row that refers to a reservation created here (written after it)."""
        self._after_created.append(row)

    def add_event(
        self, reservation_id: uuid.UUID, status: ReservationStatus, at: datetime, cause: str
    ) -> HistoryEntry:
        """Store a history row of a reservation."""
        entry = HistoryEntry(reservation_id, status, at, cause)
        self._events.append(entry)
        self.changes.events.setdefault(reservation_id, []).append(entry)
        return entry

    def record_incident(self, incident: Incident) -> None:
        """Store an incident in this transaction (counted after the commit)."""
        self.session.add(incident)
        self.changes.incidents.append(incident.kind)

    async def complete(self, before_commit: Sequence[BeforeCommit] = ()) -> None:
        """Write what this unit of work holds, then run the ``before_commit`` hooks: the
        last of its transaction, before the commit.

        On PostgreSQL, when no ORM session is needed, the writes, the hooks' statements
        and the COMMIT go in one pipeline (the transaction's own commit then has nothing
        left to do); elsewhere each statement runs in turn and the caller commits."""
        if self._pipelinable():
            db = await self.driver()
            async with db.pipeline():
                await self._write(before_commit)
                await db.commit()
        else:
            await self._write(before_commit)
        await self._note_written()

    def _pipelinable(self) -> bool:
        return (
            self._connection is not None
            and self._connection.dialect.name == "postgresql"
            and self._session is None
            and not self._after_created
            # Superseding stored clears is an ORM update.
            and all(rid in self.changes.created for rid in self._supersede.values())
        )

    async def _write(self, before_commit: Sequence[BeforeCommit]) -> None:
        """Write the new reservations, the history, the pending messages and what the
        ORM session holds in this transaction, then run the ``before_commit`` hooks."""
        await self._write_rows()
        if self.changes.outbox:
            await self._write_outbox()
        if self._session is not None:
            await self._session.flush()
        for hook in before_commit:
            await hook(self)

    async def _note_written(self) -> None:
        """The outbox rows due now, with their ids, for the relay."""
        created = self.changes.created
        for pending, returned in self._written:
            for p, row_id in zip(pending, await returned.values(), strict=True):
                if p.delay_s > 0:
                    continue
                self.changes.outbox_rows.append(
                    OutboxRow(
                        row_id,
                        p.reservation_id,
                        p.topic,
                        p.payload(),
                        p.qos,
                        p.retain,
                        p.reservation_id is not None and p.reservation_id in created,
                    )
                )
        self._written.clear()

    async def _write_outbox(self) -> None:
        now = utcnow()
        created = self.changes.created
        # A topic of a reservation created in this unit of work has no stored clear.
        supersede = sorted(t for t, rid in self._supersede.items() if rid not in created)
        if supersede:
            await self.session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.topic).in_(supersede),
                    col(OutboxMessage.sent_at).is_(None),
                    col(OutboxMessage.not_before) > now,
                )
                .values(sent_at=now)
            )
        # Immediate messages first, then the delayed clears (due later anyway).
        immediate = [p for p in self._immediate if p is not None]
        pending = [*immediate, *self._delayed]
        if pending:
            # The ids come back in the order written, for the relay.
            returned = await _INSERT_OUTBOX.start(
                await self.driver(),
                [
                    {
                        "reservation_id": p.reservation_id,
                        "topic": p.topic,
                        "payload": p.payload(),
                        "qos": p.qos,
                        "retain": p.retain,
                        "created_at": now,
                        "not_before": now + timedelta(seconds=p.delay_s),
                        "sent_at": None,
                    }
                    for p in pending
                ],
            )
            self._written.append((pending, returned))
            for p in self._delayed:
                due = now + timedelta(seconds=p.delay_s)
                if self.changes.outbox_due is None or due < self.changes.outbox_due:
                    self.changes.outbox_due = due
        self._immediate.clear()
        self._replaceable.clear()
        self._delayed.clear()
        self._supersede.clear()

    async def _write_rows(self) -> None:
        """New reservations first (history rows and idempotency records refer to them),
        after what the session holds (a new reservation may refer to a new rider)."""
        if not (self._created or self._events or self._after_created):
            return
        if self._session is not None:
            await self._session.flush()
        db = await self.driver()
        if self._created:
            await _INSERT_RESERVATION.execute(
                db,
                [{c: getattr(res, c) for c in _RESERVATION_COLUMNS} for res in self._created],
            )
            self._created.clear()
        if self._events:
            await _INSERT_EVENT.execute(
                db,
                [
                    {
                        "reservation_id": e.reservation_id,
                        "status": e.status,
                        "at": e.at,
                        "cause": e.cause,
                    }
                    for e in self._events
                ],
            )
            self._events.clear()
        if self._after_created:
            self.session.add_all(self._after_created)
            self._after_created.clear()


class UnitsOfWork:
    """Opens units of work; listeners registered at start-up run after each commit."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], gate: WriteGate) -> None:
        self.sessions = sessions
        self.gate = gate
        self._after_commit: list[AfterCommit] = []
        self._before_commit: list[BeforeCommit] = []

    def before_commit(self, hook: BeforeCommit) -> None:
        """``await hook(uow)`` inside every transaction, last before its commit (the
        cluster's NOTIFY: sent if, and only if, the transaction commits)."""
        self._before_commit.append(hook)

    def after_commit(self, listener: AfterCommit) -> None:
        """Call ``listener(changes)`` after every commit, in registration order."""
        self._after_commit.append(listener)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork]:
        engine = self.sessions.kw["bind"]

        def open_session(connection: AsyncConnection) -> Callable[[], AsyncSession]:
            # Joins the transaction below: it flushes into it and never commits it.
            return lambda: self.sessions(bind=connection, join_transaction_mode="rollback_only")

        async with self.gate(), engine.connect() as connection:
            uow = UnitOfWork(connection=connection, open_session=open_session(connection))
            try:
                async with connection.begin():
                    yield uow
                    await uow.complete(self._before_commit)
            finally:
                await uow.close()
        token = committing.set(uow.changes)
        try:
            for listener in self._after_commit:
                try:
                    listener(uow.changes)
                except Exception:
                    # The change is committed: a failing listener must not turn it
                    # into an error for the caller.
                    logger.exception("after-commit listener %r failed", listener)
        finally:
            committing.reset(token)
