"""Transactional outbox relay: messages are written with the change that implies them
(``UnitOfWork.enqueue``), and the relay publishes them at QoS 1, in order per
reservation, marking each sent on PUBACK.

The relay is woken on commit (no polling on the hot path); delayed rows (the clearing
of a final call, ``not_before`` in the future) are picked up by a timer. After a crash
or a broker outage the relay resumes from the unsent rows: nothing is lost, and a
message published twice is dropped by its reader through ``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.errors import MqttError, PublishRefusedError
from broker_config.messages import utcnow
from broker_config.session import MqttSession
from rider_api.db.engine import WriteGate
from rider_api.models import OutboxMessage

__all__ = ["OutboxRelay"]

logger = logging.getLogger(__name__)


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
    ) -> None:
        self._sessions = sessions
        self._mqtt = mqtt
        self._batch_size = batch_size
        self._retention = retention
        self._gate = write_gate
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def __aenter__(self) -> OutboxRelay:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        self._wake.set()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _write(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._gate() if self._gate is not None else contextlib.nullcontext()

    async def backlog(self) -> int:
        async with self._sessions() as session:
            result = await session.exec(
                select(func.count()).where(col(OutboxMessage.sent_at).is_(None))
            )
            return int(result.one())

    async def _run(self) -> None:
        last_prune = utcnow()
        while True:
            # Clear before reading: a commit that wakes us while we publish must
            # not be lost, or its messages would wait for the next commit.
            self._wake.clear()
            try:
                more, next_due = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox relay failed; retrying")
                more, next_due = False, utcnow() + timedelta(seconds=1)
            if more:
                continue
            timeout = None
            if next_due is not None:
                timeout = max(0.0, (next_due - utcnow()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if utcnow() - last_prune > timedelta(hours=1):
                last_prune = utcnow()
                await self._prune()

    async def relay_once(self) -> tuple[bool, datetime | None]:
        """Publish one batch of due rows; return (more are due now, when the next is due)."""
        now = utcnow()
        async with self._sessions() as session:
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
        rows = [r for r in unsent if r.not_before <= now]
        later = [r.not_before for r in unsent if r.not_before > now]
        if rows:
            groups: dict[uuid.UUID | None, list[OutboxMessage]] = defaultdict(list)
            for row in rows:
                # Rows without a reservation (announcements) are independent of each other.
                key = row.reservation_id if row.reservation_id is not None else uuid.uuid4()
                groups[key].append(row)
            sent_ids: list[int] = []
            await asyncio.gather(*(self._publish_group(g, sent_ids) for g in groups.values()))
            async with self._write(), self._sessions() as session, session.begin():
                await session.exec(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(sent_ids))
                    .values(sent_at=utcnow())
                )
        if len(unsent) >= self._batch_size:
            return bool(rows), min(later, default=None)
        return False, min(later, default=None)

    async def _publish_group(self, rows: list[OutboxMessage], sent_ids: list[int]) -> None:
        for row in rows:
            assert row.id is not None  # noqa: S101 - rows come from the database
            try:
                await self._mqtt.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            except PublishRefusedError as exc:
                # A refusal will not change on retry: record it loudly and move on.
                logger.error("outbox message %d refused by the broker: %s", row.id, exc)
            except MqttError as exc:
                logger.warning("outbox message %d not published yet: %s", row.id, exc)
                return
            sent_ids.append(row.id)

    async def _prune(self) -> None:
        cutoff = utcnow() - self._retention
        async with self._write(), self._sessions() as session, session.begin():
            await session.exec(
                delete(OutboxMessage).where(
                    col(OutboxMessage.sent_at).is_not(None), col(OutboxMessage.sent_at) < cutoff
                )
            )
