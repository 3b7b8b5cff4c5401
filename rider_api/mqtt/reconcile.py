"""The database is the truth: put the broker's retained calls and alerts back in step.

The broker may lose retained messages (a ``kill -9`` loses what changed since its last
save) or bring back old ones (it restores the last saved state, which can hold the call
of a booking that has ended since). Each time the server's session connects, a
reconcile pass:

1. reads every retained StopCall and DriverAlert on the broker (a short-lived, clean
   session of the instance's read-only ``monitor.{instance}`` login, so nothing is
   queued for it afterwards) up to a marker message that it publishes in its own space
   after subscribing (retained messages come first), and
   clears each one whose reservation is not active or whose topic is no longer the
   reservation's stop or vehicle;
2. re-publishes the call and alert of every active reservation with a fresh ``seq``
   (a device that already has the same state hears nothing new: readers act on a
   change of status or ETA, not on a new ``seq``).
Both go through the outbox like every other message. A pass requested while one runs
makes one more pass after it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from sqlmodel import col, select

from broker_config.aio import cancel_and_wait
from broker_config.const import MONITOR_LOGIN_PREFIX
from broker_config.endpoint import BrokerEndpoint, SessionOptions
from broker_config.errors import MqttError
from broker_config.session import MqttSession, ReceivedMessage
from broker_config.topics import TopicKind, Topics
from rider_api.db.unit_of_work import UnitsOfWork
from rider_api.models import Reservation
from rider_api.reservations.changes import ALERT_STATUSES, STOP_CALL_STATUSES, Changes
from rider_api.reservations.lifecycle import ACTIVE_STATUSES

__all__ = ["ReconcileReport", "Reconciler"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    retained_seen: int
    cleared: int
    reasserted: int


def _reservation_of(topics: Topics, topic: str) -> uuid.UUID | None:
    parsed = topics.parse(topic)
    return uuid.UUID(parsed.reservation_id) if parsed.reservation_id else None


class Reconciler:
    """Runs a reconcile pass on request (after every connection of the server's session)."""

    def __init__(
        self,
        *,
        topics: Topics,
        units: UnitsOfWork,
        changes: Changes,
        endpoint: BrokerEndpoint,
        scan_timeout_s: float = 10.0,
    ) -> None:
        self._topics = topics
        self._units = units
        self._changes = changes
        self._endpoint = endpoint
        self._scan_timeout_s = scan_timeout_s
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: The last pass's figures (tests and the operator's metrics read it).
        self.last: ReconcileReport | None = None
        self.passes = 0

    async def __aenter__(self) -> Reconciler:
        self._task = asyncio.create_task(self._run(), name="mqtt-reconcile")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)

    def request(self) -> None:
        """Ask for a pass (called when the server's session connects)."""
        self._wanted.set()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                self.last = await self.reconcile()
                self.passes += 1
                logger.info(
                    "reconciled the broker: %d retained seen, %d cleared, %d re-asserted",
                    self.last.retained_seen,
                    self.last.cleared,
                    self.last.reasserted,
                )
            except asyncio.CancelledError:
                raise
            except (MqttError, TimeoutError) as exc:
                logger.warning("reconcile pass failed (retried on the next connection): %s", exc)
            except Exception:
                logger.exception("reconcile pass failed")

    async def reconcile(self) -> ReconcileReport:
        """One pass: read the retained calls and alerts, then fix them from the database."""
        retained = await self._read_retained()
        t = self._topics
        async with self._units() as uow:
            active = (
                await uow.session.exec(
                    select(Reservation)
                    .where(col(Reservation.status).in_([s.value for s in ACTIVE_STATUSES]))
                    .with_for_update()
                )
            ).all()
            live: set[str] = set()
            for res in active:
                if res.status in STOP_CALL_STATUSES:
                    live.add(t.stop_call(res.stop_id, res.id))
                if res.vehicle_id is not None and res.status in ALERT_STATUSES:
                    live.add(t.vehicle_alert(res.vehicle_id, res.id))
            stale = sorted(retained - live)
            for topic in stale:
                # Under its reservation, so it keeps its place among that one's messages;
                # a new clear also supersedes a delayed clear still waiting for the topic.
                uow.enqueue(topic, None, reservation_id=_reservation_of(t, topic), retain=True)
            for res in active:
                self._changes.refresh(uow, res)
        return ReconcileReport(len(retained), len(stale), len(active))

    async def _read_retained(self) -> set[str]:
        """Topics of the non-empty retained calls and alerts on the broker now."""
        t = self._topics
        found: set[str] = set()
        login = self._endpoint.username or "api"
        name = login.removeprefix(MONITOR_LOGIN_PREFIX)
        # In the monitor's own space: outside every device's and the server's filters.
        marker = t.monitor(name, "reconcile-marker")
        done = asyncio.Event()

        async def collect(msg: ReceivedMessage) -> None:
            if msg.topic == marker:
                done.set()
            elif msg.retain and msg.payload:
                found.add(msg.topic)

        options = SessionOptions(
            client_id=login,
            clean_start=True,
            session_expiry_s=0,
            root=t.root,
        )
        async with MqttSession(self._endpoint, options) as scan:
            await scan.wait_connected(self._scan_timeout_s)
            for kind in (TopicKind.STOP_CALL, TopicKind.VEHICLE_ALERT):
                await scan.subscribe(t.all_of(kind), collect)
            await scan.subscribe(marker, collect)
            # Retained messages are sent on subscribing, before anything published after.
            await scan.publish(marker, b"x", qos=1, retain=False)
            async with asyncio.timeout(self._scan_timeout_s):
                await done.wait()
        return found
