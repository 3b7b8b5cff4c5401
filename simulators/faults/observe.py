"""What the harness reads at the end: the database's rows and the broker's retained messages."""

from __future__ import annotations

import asyncio
import collections
import uuid

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from broker_config.broker import ManagedBroker
from broker_config.messages import ReservationStatus
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import TopicKind, monitor_login
from rider_api.models import Incident, OutboxMessage, ProcessedEvent, Reservation, ReservationEvent
from simulators.faults.audit import Row
from simulators.faults.const import AUDIT_MONITOR


def read_database(
    engine: Engine,
) -> tuple[
    dict[uuid.UUID, Row],
    collections.Counter[tuple[uuid.UUID, ReservationStatus]],
    tuple[str, ...],
    frozenset[uuid.UUID],
    collections.Counter[str],
]:
    with Session(engine) as s:
        rows = {
            r.id: Row(r.id, r.rider_id, r.stop_id, r.direction_id, r.status, r.vehicle_id, r.source)
            for r in s.exec(select(Reservation)).all()
        }
        history = collections.Counter(
            (rid, ReservationStatus(status))
            for rid, status in s.exec(
                select(ReservationEvent.reservation_id, ReservationEvent.status)
            ).all()
        )
        unsent = tuple(
            f"outbox row {row_id} to {topic} (created {created:%H:%M:%S})"
            for row_id, topic, created in s.exec(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.created_at).where(
                    col(OutboxMessage.sent_at).is_(None)
                )
            ).all()
        )
        processed = frozenset(s.exec(select(ProcessedEvent.id)).all())
        helps = collections.Counter(
            stop_id or "?"
            for stop_id in s.exec(
                select(Incident.stop_id).where(col(Incident.kind) == "help")
            ).all()
        )
    return rows, history, unsent, processed, helps


async def read_retained(broker: ManagedBroker, timeout: float = 10.0) -> dict[str, bytes]:
    """Every non-empty retained StopCall and DriverAlert, as a fresh subscriber sees them."""
    topics = broker.topics
    found: dict[str, bytes] = {}
    marker = topics.monitor(AUDIT_MONITOR, "audit-marker")
    done = asyncio.Event()

    async def collect(msg: ReceivedMessage) -> None:
        if msg.topic == marker:
            done.set()
        elif msg.retain and msg.payload:
            found[msg.topic] = msg.payload

    options = SessionOptions(clean_start=True, session_expiry_s=0)
    async with MqttSession(broker.endpoint(monitor_login(AUDIT_MONITOR)), options) as scan:
        await scan.wait_connected(timeout)
        for kind in (TopicKind.STOP_CALL, TopicKind.VEHICLE_ALERT):
            await scan.subscribe(topics.all_of(kind), collect)
        await scan.subscribe(marker, collect)
        # Retained messages come on subscribing, before anything published after.
        await scan.publish(marker, b"", qos=1, retain=False)
        await asyncio.wait_for(done.wait(), timeout)
    return found
