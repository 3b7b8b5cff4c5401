"""Transactional outbox relay: messages are written with the change that implies them
(``UnitOfWork.enqueue``), and the relay publishes them at QoS 1, in order per
reservation, marking each sent once its PUBACK came.

How a stored row gets out:

- **Sent from the commit** (a booking): rows of a reservation created in the committing
  unit of work (no older row of it can be waiting anywhere) are written to the broker by
  ``committed`` itself (``MqttSession.send``), so they wait neither for the request's
  answer nor for the relay's next turn; the relay task then awaits their PUBACKs and
  marks them. Every pass and every hand-over first settles such rows, so none is read
  back while its PUBACK is out, and a later row never goes out before a failed one.
- **Handed over**: right after a unit of work of this process commits, the relay is
  given the rows it wrote, ids included (``committed``; ``wake()`` called by an
  after-commit listener finds them in ``unit_of_work.committing``), and publishes them
  on its next turn, without reading them back.
- **Read back** (a pass): at start, after ``wake()`` from anything but a commit of this
  process (another instance's NOTIFY, a test), when a delayed row falls due (the
  clearing of a final call), after a failure, and every ``rescan_s`` as a safety net,
  the relay reads the unsent rows and publishes them, merged in id order with what was
  handed over meanwhile.

**Order per reservation.** One task publishes, in id order, through one MQTT
connection: a batch goes out pipelined (the broker keeps one connection's order, and
paho re-sends unacknowledged messages in order after a reconnect), and its PUBACKs are
awaited before the next batch. Handed rows skip the pass only where no older unsent
row of their reservation can exist that the relay was not given: on SQLite (one
instance, and every row is written by its units of work) and, on PostgreSQL where other
instances write too, for a reservation created in the same unit of work (a booking).
Other handed rows wait for a pass, which sees every row committed before it, as the
relay always did. If a publish fails, the later rows of that reservation in the batch
are not marked, so the next pass sends them again, in order.

**Marking sent** costs a write: rows published are marked in one UPDATE per
``mark_interval_s`` (kept in memory until then, so no pass publishes them again). After
a crash or a broker outage the relay resumes from the unsent rows: nothing is lost, and
a message published twice is dropped by its reader through ``seq``. A quarter of a
second: at 50 bookings/s one UPDATE per 12 bookings (every 50 ms it was a twentieth of
the API's CPU), and a crash re-publishes at most that quarter second's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Integer, any_, bindparam, delete, func, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.aio import cancel_and_wait, wait_event
from broker_config.errors import MqttError, PublishRefusedError
from broker_config.messages import utcnow
from broker_config.session import MqttSession, Sent
from rider_api.core.driver_sql import DriverCursor, DriverWrite
from rider_api.db.engine import WriteGate
from rider_api.db.unit_of_work import ChangeSet, OutboxRow, committing
from rider_api.models import OutboxMessage

__all__ = ["OutboxRelay"]

logger = logging.getLogger(__name__)

#: Marking a row sent, run on the driver for each row (see ``core.driver_sql``).
_MARK_SENT = DriverWrite(
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("b_id"))
    .values(sent_at=bindparam("b_sent_at"))
)
#: On PostgreSQL a batch is one statement, not psycopg's executemany pipeline of one
#: UPDATE per row (~25 rows a quarter second at 50 bookings/s; the pipeline showed among
#: the event loop's longer busy runs in a profile).
_MARK_SENT_ALL = DriverWrite(
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == any_(bindparam("b_ids", type_=ARRAY(Integer))))
    .values(sent_at=bindparam("b_sent_at"))
)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _row(message: OutboxMessage) -> OutboxRow:
    assert message.id is not None  # noqa: S101 - rows come from the database
    return OutboxRow(
        message.id,
        message.reservation_id,
        message.topic,
        message.payload,
        message.qos,
        message.retain,
        False,
    )


class OutboxRelay:
    """Publishes unsent outbox rows; ``async with`` runs it, ``wake()`` after each commit."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        mqtt: MqttSession,
        *,
        batch_size: int = 500,
        retention: timedelta = timedelta(days=1),
        write_gate: WriteGate | None = None,
        mark_interval_s: float = 0.25,
        rescan_s: float = 10.0,
        max_handed: int = 10_000,
    ) -> None:
        self._sessions = sessions
        self._mqtt = mqtt
        self._batch_size = batch_size
        self._retention = retention
        self._gate = write_gate
        self._mark_interval_s = mark_interval_s
        self._rescan_s = rescan_s
        self._max_handed = max_handed
        bind = sessions.kw.get("bind")
        #: SQLite: this process is the only writer, so every row comes through ``committed``.
        self._sole_writer = getattr(getattr(bind, "dialect", None), "name", "") == "sqlite"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._marker: asyncio.Task[None] | None = None
        #: Rows committed here and handed over, not yet published (commit order).
        self._handed: list[OutboxRow] = []
        #: The next turn reads the unsent rows back (a pass).
        self._pass_due = True
        #: When the first delayed row known falls due.
        self._next_due: datetime | None = None
        #: Published (or refused) rows not yet marked sent, in publishing order.
        self._unmarked: dict[int, None] = {}
        #: The last rows published (ids, oldest first, at most ``max_handed``), noted as
        #: they are sent: a row a pass read back and published while its commit was still
        #: handing it over (or the other way round) must not go out a second time.
        self._recent: dict[int, None] = {}
        #: Rows sent from their commit (``committed``), their PUBACKs not yet awaited.
        self._in_flight: list[list[tuple[OutboxRow, Sent | MqttError | None]]] = []
        self._marks_due = asyncio.Event()
        # A pass's read and a marking never overlap: a row marked while a pass reads it
        # as unsent must still count as published when that pass looks.
        self._db_lock = asyncio.Lock()

    def wake(self) -> None:
        """There are unsent rows. Called by an after-commit listener, it takes over the
        committing unit of work's rows (``committed``); otherwise it asks for a pass."""
        changes = committing.get()
        if changes is not None and changes.outbox:
            self.committed(changes)
            return
        self._pass_due = True
        self._wake.set()

    def committed(self, changes: ChangeSet) -> None:
        """A unit of work of this process committed: publish the rows it wrote."""
        if self._task is None:
            return  # not relaying (a follower, or stopped): the next start reads them back
        self._next_due = _earliest(self._next_due, changes.outbox_due)
        rows = changes.outbox_rows
        if rows and all(r.fresh for r in rows) and len(self._in_flight) < self._max_handed:
            # A booking's messages: no older message of its reservation can be waiting
            # anywhere, so they go out now, from the commit itself, instead of after
            # the request's answer and whatever else the event loop has queued.
            self._in_flight.append(self._send(sorted(rows, key=lambda r: r.id)))
            self._wake.set()
            return
        if len(self._handed) + len(rows) > self._max_handed:
            # The broker is away and they pile up: the database has them all.
            self._handed.clear()
            self._pass_due = True
        else:
            self._handed.extend(rows)
            if not self._sole_writer and not all(r.fresh for r in rows):
                self._pass_due = True
        self._wake.set()

    async def __aenter__(self) -> OutboxRelay:
        await self.start()
        return self

    async def start(self) -> None:
        """Start relaying (again, after ``stop``); a running relay is left as it is."""
        if self._task is None:
            self._pass_due = True
            self._task = asyncio.create_task(self._run(), name="outbox-relay")
            self._marker = asyncio.create_task(self._mark_sent(), name="outbox-marks")
        self._wake.set()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        tasks = [t for t in (self._task, self._marker) if t is not None]
        self._task = self._marker = None
        await cancel_and_wait(*tasks)
        if tasks and self._unmarked:
            # Best effort: what stays unmarked is published again by the next relay.
            try:
                async with asyncio.timeout(2.0):
                    await self._flush_marks()
            except Exception as exc:  # stopping: readers drop what is published again
                logger.warning("outbox: %d sent rows left unmarked: %s", len(self._unmarked), exc)
        self._handed.clear()
        for batch in self._in_flight:
            self._abandon(batch)
        self._in_flight.clear()
        self._unmarked.clear()
        self._recent.clear()

    def _write(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._gate() if self._gate is not None else contextlib.nullcontext()

    async def backlog(self) -> int:
        """Rows not published yet."""
        async with self._sessions() as session:
            result = await session.exec(
                select(func.count()).where(col(OutboxMessage.sent_at).is_(None))
            )
            return max(0, int(result.one()) - len(self._unmarked))

    async def _run(self) -> None:
        last_prune = last_pass = time.monotonic()
        while True:
            # Clear before looking: a commit that hands rows over while we publish sets
            # it again, and the loop comes round at once.
            self._wake.clear()
            now = utcnow()
            try:
                if (
                    self._pass_due
                    or (self._next_due is not None and self._next_due <= now)
                    or time.monotonic() - last_pass >= self._rescan_s
                ):
                    self._pass_due = False
                    last_pass = time.monotonic()
                    due_before, self._next_due = self._next_due, None
                    try:
                        more, next_due = await self.relay_once()
                    except BaseException:
                        self._next_due = _earliest(self._next_due, due_before)
                        raise
                    self._next_due = _earliest(self._next_due, next_due)
                    if more:
                        self._pass_due = True
                        continue
                elif self._in_flight or self._handed:
                    await self._publish_handed()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox relay failed; retrying")
                self._pass_due = True
                await wait_event(self._wake, 1.0)
                continue
            if self._in_flight or self._handed or self._pass_due:
                continue
            timeout = max(0.0, self._rescan_s - (time.monotonic() - last_pass))
            if self._next_due is not None:
                timeout = min(timeout, max(0.0, (self._next_due - utcnow()).total_seconds()))
            await wait_event(self._wake, timeout)
            if time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                await self._prune()

    async def relay_once(self) -> tuple[bool, datetime | None]:
        """One pass: publish the due unsent rows (one batch, with what was handed over);
        return (more are due now, when the next is due)."""
        now = utcnow()
        batch: dict[int, OutboxRow] = {}
        later: list[datetime] = []
        async with self._db_lock, self._sessions() as session:
            # One query for both the due rows and the next delayed one: delayed rows
            # (the clearing of an ended call) are few and due within a second.
            unsent = (
                await session.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.sent_at).is_(None))
                    .order_by(col(OutboxMessage.id))
                    .limit(self._batch_size)
                )
            ).all()
            for message in unsent:
                if message.not_before > now:
                    later.append(message.not_before)
                elif message.id not in self._unmarked:
                    row = _row(message)
                    batch[row.id] = row
        full = len(unsent) >= self._batch_size
        # Handed rows join the pass; past a full batch they wait for the next one, so
        # no row goes out before an older unsent row of its reservation not read yet.
        handed, self._handed = self._handed, []
        horizon = unsent[-1].id if full and unsent and unsent[-1].id is not None else None
        keep: list[OutboxRow] = []
        for row in handed:
            if horizon is not None and row.id > horizon:
                keep.append(row)
            elif row.id not in self._unmarked and row.id not in self._recent:
                batch.setdefault(row.id, row)
        self._handed[:0] = keep
        if batch:
            # Rows sent from their commits meanwhile are settled first, so that a row
            # this pass skips as sent is acknowledged (or failed and forgotten) before
            # any later row of its reservation goes out and is marked.
            await self._settle_in_flight()
            await self._publish([batch[i] for i in sorted(batch)])
        # Marked now: the next pass must not read these rows again.
        await self._flush_marks()
        if full:
            return bool(batch), min(later, default=None)
        return False, min(later, default=None)

    async def _publish_handed(self) -> None:
        if not await self._settle_in_flight():
            # A row sent from its commit failed: the handed rows wait for the pass,
            # which sends them after it, in order.
            return
        rows, self._handed = self._handed, []
        await self._publish(sorted(rows, key=lambda r: r.id))
        if self._unmarked:
            self._marks_due.set()

    async def _settle_in_flight(self) -> bool:
        """Wait for the PUBACKs of every row sent from its commit; False if one failed."""
        ok = True
        while self._in_flight:
            ok = await self._settle(self._in_flight.pop(0)) and ok
        return ok

    async def _publish(self, rows: Sequence[OutboxRow]) -> None:
        """Publish ``rows`` in this order, pipelined; note the sent ones for marking."""
        await self._settle(self._send(rows))

    def _send(self, rows: Sequence[OutboxRow]) -> list[tuple[OutboxRow, Sent | MqttError | None]]:
        """Write ``rows``' PUBLISHes now, in this order, skipping rows already sent (no
        await: nothing else can send or read between the check and the send)."""
        sent: list[tuple[OutboxRow, Sent | MqttError | None]] = []
        for row in rows:
            if row.id in self._recent or row.id in self._unmarked:
                continue
            try:
                handle = self._mqtt.send(row.topic, row.payload, qos=row.qos, retain=row.retain)
            except MqttError as exc:
                sent.append((row, exc))
                continue
            except Exception as exc:
                sent.append((row, MqttError(f"{type(exc).__name__}: {exc}")))
                continue
            self._recent[row.id] = None
            sent.append((row, handle))
        while len(self._recent) > self._max_handed:
            del self._recent[next(iter(self._recent))]
        return sent

    def _abandon(self, sent: Sequence[tuple[OutboxRow, Sent | MqttError | None]]) -> None:
        """No one will wait for these PUBACKs (stopping): the session forgets them as
        they come, instead of keeping them until their packet ids are used again."""
        for _row, handle in sent:
            if isinstance(handle, Sent):
                self._mqtt.abandon(handle)

    async def _settle(self, sent: Sequence[tuple[OutboxRow, Sent | MqttError | None]]) -> bool:
        """Wait for the PUBACKs of what ``_send`` wrote; note the rows to mark sent. A
        row that failed, and the later rows of its reservation, are forgotten as sent so
        that the next pass publishes them again, in order. False if a row failed."""

        async def acknowledged(handle: Sent | MqttError | None) -> None:
            if isinstance(handle, MqttError):
                raise handle
            if handle is not None:
                await self._mqtt.acknowledged(handle)

        try:
            results = await asyncio.gather(
                *(acknowledged(handle) for _row, handle in sent), return_exceptions=True
            )
        except asyncio.CancelledError:
            self._abandon(sent)
            raise
        failed: set[object] = set()
        ok = True
        for (row, _handle), result in zip(sent, results, strict=True):
            if row.reservation_id is not None and row.reservation_id in failed:
                self._recent.pop(row.id, None)
                continue  # after a failure of its reservation: sent again by the next pass
            if isinstance(result, PublishRefusedError):
                # A refusal will not change on retry: record it loudly and move on.
                logger.error("outbox message %d refused by the broker: %s", row.id, result)
            elif isinstance(result, MqttError):
                logger.warning("outbox message %d not published yet: %s", row.id, result)
                self._recent.pop(row.id, None)
                if row.reservation_id is not None:
                    failed.add(row.reservation_id)
                self._pass_due = True
                ok = False
                continue
            elif isinstance(result, BaseException):
                raise result
            self._unmarked[row.id] = None
        return ok

    async def _mark_sent(self) -> None:
        """Mark published rows sent, a batch every ``mark_interval_s`` at most."""
        while True:
            await self._marks_due.wait()
            await asyncio.sleep(self._mark_interval_s)
            self._marks_due.clear()
            try:
                await self._flush_marks()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox: marking rows sent failed; retrying")
                await asyncio.sleep(1.0)
                self._marks_due.set()

    async def _flush_marks(self) -> None:
        ids = list(self._unmarked)
        if not ids:
            return
        now = utcnow()
        async with self._db_lock:
            async with self._write(), self._sessions() as session, session.begin():
                async with DriverCursor(await session.connection()) as db:
                    if db.dialect.name == "postgresql":
                        await _MARK_SENT_ALL.execute(db, [{"b_ids": ids, "b_sent_at": now}])
                    else:
                        marks = [{"b_id": i, "b_sent_at": now} for i in ids]
                        await _MARK_SENT.execute(db, marks)
            for row_id in ids:
                self._unmarked.pop(row_id, None)

    async def _prune(self) -> None:
        cutoff = utcnow() - self._retention
        async with self._write(), self._sessions() as session, session.begin():
            await session.exec(
                delete(OutboxMessage).where(
                    col(OutboxMessage.sent_at).is_not(None), col(OutboxMessage.sent_at) < cutoff
                )
            )
