"""The relay in isolation (a fake broker session): ordering and wake-ups."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from broker_config.session import MqttSession
from rider_api.db.engine import WriteGate, make_async_engine, session_factory
from rider_api.db.migrate import upgrade
from rider_api.models import OutboxMessage
from rider_api.mqtt.outbox import OutboxRelay


class SlowBroker:
    """Records publishes; the first one is held until released."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.first_started = asyncio.Event()
        self.release = asyncio.Event()
        self.arrived: asyncio.Queue[str] = asyncio.Queue()

    async def publish(self, topic: str, payload: bytes, **_: Any) -> None:
        if not self.published:
            self.first_started.set()
            await self.release.wait()
        self.published.append(topic)
        await self.arrived.put(topic)


async def test_a_wake_up_during_a_relay_pass_is_not_lost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    broker = SlowBroker()
    broker.release.set()
    gate = WriteGate(engine)

    async def add(topic: str) -> None:
        async with gate(), sessions() as s, s.begin():
            s.add(OutboxMessage(reservation_id=uuid.uuid4(), topic=topic, payload=b"{}"))

    class LateCommit(OutboxRelay):
        """A commit (and its wake-up) lands at the very end of the first pass."""

        passes = 0

        async def relay_once(self) -> tuple[bool, datetime | None]:
            result = await super().relay_once()
            self.passes += 1
            if self.passes == 1:
                await add("t/2")
                self.wake()
            return result

    relay = LateCommit(sessions, cast(MqttSession, broker), write_gate=gate)
    try:
        await add("t/1")
        async with relay:
            assert await asyncio.wait_for(broker.arrived.get(), 5) == "t/1"
            # No further commit: t/2 must still go out, at once.
            assert await asyncio.wait_for(broker.arrived.get(), 2) == "t/2"
    finally:
        await engine.dispose()


async def test_rows_of_one_reservation_go_out_in_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'order.db'}"
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    broker = SlowBroker()
    broker.release.set()
    rid = uuid.uuid4()
    async with sessions() as s, s.begin():
        for i in range(20):
            s.add(OutboxMessage(reservation_id=rid, topic=f"t/{i}", payload=b"{}"))
    try:
        async with OutboxRelay(sessions, cast(MqttSession, broker), batch_size=7):
            got = [await asyncio.wait_for(broker.arrived.get(), 5) for _ in range(20)]
        assert got == [f"t/{i}" for i in range(20)]
    finally:
        await engine.dispose()
