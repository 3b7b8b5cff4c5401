"""Sending notices to push services, off the commit path and off the event loop.

``offer`` is called by the after-commit listener: it only puts the notice in a bounded
queue and returns. Tasks drain the queues: each notice's rider's subscriptions are read,
its text made in the rider's language, encrypted to each browser's keys (aes128gcm,
RFC 8291, with pywebpush's ``WebPusher.encode``) and signed (VAPID) in a worker thread,
and POSTed with httpx within ``push_timeout_s``.

Bounds: riders are split among ``push_senders`` queues of ``push_queue_size`` notices in
all; when a queue is full the new notice is dropped and counted, so a slow or dead push
service costs a bounded queue, never growing memory. One rider's notices go through one
queue, in order, so an older one never overtakes a newer one on the phone. A response's
body is never read.

Delivery is at most once: nothing is retried (a retry after a lost answer would notify
twice), and notices still queued when the instance stops or crashes are lost. The push
service keeps a notification for an offline phone ``push_ttl_s`` seconds, and replaces
an undelivered one by the next of the same reservation (its ``Topic``).
404 and 410 mean the browser unsubscribed: the subscription is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from types import TracebackType
from typing import Self

import httpx
from pywebpush import WebPusher
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.aio import cancel_and_wait
from broker_config.i18n import pick_lang
from rider_api.core.cache import LruCache
from rider_api.db.unit_of_work import UnitsOfWork
from rider_api.models import PushSubscription
from rider_api.push.notices import Notice
from rider_api.push.subscriptions import (
    endpoint_problem,
    prune,
    subscribed_riders,
    subscriptions_of,
)
from rider_api.push.texts import URGENCY, notification
from rider_api.push.vapid import VapidKey, audience
from rider_api.settings import ApiSettings

__all__ = ["PushSender"]

logger = logging.getLogger(__name__)

#: Push services answer these when the browser has unsubscribed.
GONE = frozenset({404, 410})
#: How often the riders who have a subscription are read again: one stored through
#: another instance is heard within this time at most.
SUBSCRIBERS_REFRESH_S = 10.0


class PushSender:
    """``async with PushSender(...) as sender``: ``offer(notice)`` from anywhere on the loop."""

    def __init__(
        self,
        *,
        settings: ApiSettings,
        key: VapidKey,
        sessions: async_sessionmaker[AsyncSession],
        units: UnitsOfWork,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.key = key
        self.sessions = sessions
        self.units = units
        self._transport = transport
        n = settings.push_senders
        per_queue = max(1, settings.push_queue_size // n)
        self._queues: list[asyncio.Queue[Notice]] = [asyncio.Queue(per_queue) for _ in range(n)]
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        #: Reservations whose final notice is queued or sent: nothing more for them.
        self._ended: LruCache[object, bool] = LruCache(10_000)
        #: Riders who may have a subscription (None until first read: anyone may). Most
        #: riders never turn notifications on, and a lookup for each of their changes
        #: would cost every booking a query: their notices are not even queued. Read
        #: again every ``SUBSCRIBERS_REFRESH_S``; a subscription stored here counts at once.
        self._subscribers: set[uuid.UUID] | None = None
        #: Riders who subscribed here while a read was under way (it may miss them).
        self._subscribed_meanwhile: set[uuid.UUID] = set()
        #: Counters since start (requests answered 2xx, failed, gone and pruned; notices
        #: dropped on a full queue).
        self.sent = 0
        self.failed = 0
        self.pruned = 0
        self.dropped = 0

    async def __aenter__(self) -> Self:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.push_timeout_s),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(
                max_connections=4 * self.settings.push_senders, max_keepalive_connections=8
            ),
            transport=self._transport,
        )
        self._tasks = [
            asyncio.create_task(self._drain(queue), name=f"web-push-{i}")
            for i, queue in enumerate(self._queues)
        ]
        self._tasks.append(
            asyncio.create_task(self._read_subscribers_every(), name="web-push-subscribers")
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):  # a failed drain was logged already
            await cancel_and_wait(*self._tasks)
        self._tasks = []
        lost = sum(q.qsize() for q in self._queues)
        if lost:
            logger.warning("web push: %d notices not sent at shutdown (at most once)", lost)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def offer(self, notice: Notice) -> bool:
        """Queue ``notice`` (never blocks); False if it was dropped."""
        if self._ended.get(notice.reservation_id):
            return False  # the trip has ended: its final notice was the last
        if notice.final:
            self._ended.put(notice.reservation_id, True)
        if self._known_without(notice.rider_id):
            return False  # nobody to tell: not even queued
        queue = self._queues[notice.rider_id.int % len(self._queues)]
        try:
            queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                logger.warning(
                    "web push: queue full (push services slow or down); %d notices dropped",
                    self.dropped,
                )
            return False
        return True

    def backlog(self) -> int:
        """Notices waiting to be sent."""
        return sum(q.qsize() for q in self._queues)

    async def idle(self) -> None:
        """Wait until every notice offered so far has been handled (tests, shutdown)."""
        for queue in self._queues:
            await queue.join()

    async def _drain(self, queue: asyncio.Queue[Notice]) -> None:
        while True:
            notice = await queue.get()
            try:
                await self._deliver(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception(
                    "web push: notice %s of reservation %s failed",
                    notice.kind.value,
                    notice.reservation_id,
                    extra={"reservation_id": str(notice.reservation_id)},
                )
            finally:
                queue.task_done()

    def subscribed(self, rider_id: uuid.UUID) -> None:
        """``rider_id`` stored a subscription: their next notice is looked up."""
        self._subscribed_meanwhile.add(rider_id)
        if self._subscribers is not None:
            self._subscribers.add(rider_id)

    def _known_without(self, rider_id: uuid.UUID) -> bool:
        return self._subscribers is not None and rider_id not in self._subscribers

    async def _read_subscribers_every(self) -> None:
        while True:
            try:
                await self.read_subscribers()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: every notice is looked up
                logger.warning("web push: cannot read the subscribed riders: %s", exc)
                self._subscribers = None
            await asyncio.sleep(SUBSCRIBERS_REFRESH_S)

    async def read_subscribers(self) -> None:
        """Read which riders have a subscription now (every few seconds; tests)."""
        self._subscribed_meanwhile = set()
        async with self.sessions() as session:
            riders = await subscribed_riders(session)
        self._subscribers = riders | self._subscribed_meanwhile

    async def _deliver(self, notice: Notice) -> None:
        if self._known_without(notice.rider_id):
            return
        async with self.sessions() as session:
            rows = await subscriptions_of(session, notice.rider_id)
        if not rows:
            if self._subscribers is not None:
                self._subscribers.discard(notice.rider_id)
        else:
            await asyncio.gather(*(self._send(sub, language, notice) for sub, language in rows))

    def _seal(self, sub: PushSubscription, payload: bytes) -> tuple[bytes, str]:
        """Encrypt ``payload`` to the browser and sign for its push service (CPU: a thread)."""
        pusher = WebPusher(
            {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        )
        body: bytes = pusher.encode(payload, content_encoding="aes128gcm")["body"]
        return body, self.key.authorization(sub.endpoint)

    async def _send(self, sub: PushSubscription, language: str, notice: Notice) -> None:
        assert self._client is not None, "PushSender used outside its async with block"  # noqa: S101
        where = audience(sub.endpoint)
        extra = {"reservation_id": str(notice.reservation_id)}
        reason = endpoint_problem(sub.endpoint, self.settings)
        if reason is not None:  # allowed when stored, not by the settings now
            logger.warning("web push: not sending to %s: %s", where, reason, extra=extra)
            self.failed += 1
            return
        shown = notification(notice, pick_lang(language))
        body, authorization = await asyncio.to_thread(self._seal, sub, shown.payload())
        headers = {
            "Authorization": authorization,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self.settings.push_ttl_s),
            "Urgency": URGENCY[notice.kind],
            # 32 base64url characters: an undelivered notice of this reservation is
            # replaced by this one at the push service.
            "Topic": notice.reservation_id.hex,
        }
        try:
            async with self._client.stream(
                "POST", sub.endpoint, content=body, headers=headers
            ) as r:
                status = r.status_code
        except httpx.HTTPError as exc:
            self.failed += 1
            logger.warning(
                "web push: %s to %s failed: %s",
                notice.kind.value,
                where,
                type(exc).__name__,
                extra=extra,
            )
            return
        if 200 <= status < 300:
            self.sent += 1
            logger.debug("web push: %s sent to %s", notice.kind.value, where, extra=extra)
        elif status in GONE:
            if sub.id is not None:
                await prune(self.units, sub.id)
            self.pruned += 1
            logger.info("web push: subscription at %s is gone (%d): removed", where, status)
        else:
            self.failed += 1
            logger.warning(
                "web push: %s to %s answered %d", notice.kind.value, where, status, extra=extra
            )
