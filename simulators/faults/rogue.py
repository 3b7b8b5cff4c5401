"""Hostile devices: a stop's login joining the server's subscriptions (``$share`` groups
on its filters), or connecting again and again with a server instance's client id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from broker_config.aio import cancel_and_wait
from broker_config.broker import ManagedBroker
from broker_config.errors import MqttError
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import Owner, TopicKind, login_for, monitor_login
from simulators.faults.const import ROGUE_WATCH
from simulators.faults.waiting import until

__all__ = ["RogueClientId", "rogue_share", "rogue_with_server_client_id"]

logger = logging.getLogger(__name__)
#: The stop whose login the rogue uses.
ROGUE_STOP = "S5"


class RogueClientId:
    """A stop's login connecting again and again with the server's client id, and a
    monitor counting the server's births (each reconnection of the server publishes one)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.server_births = 0

    async def on_server_status(self, msg: ReceivedMessage) -> None:
        if not msg.retain and msg.payload:  # a birth or a will published while we watch
            self.server_births += 1

    async def tried(self, times: int, *, at_most_s: float) -> None:
        """Until the rogue has connected ``times`` times in all, or ``at_most_s`` passed."""

        async def enough() -> bool | None:
            return True if self.attempts >= times else None

        with contextlib.suppress(TimeoutError):
            await until(enough, timeout=at_most_s, what="rogue connections")


@contextlib.asynccontextmanager
async def rogue_with_server_client_id(
    broker: ManagedBroker, server_names: list[str], notes: list[str]
) -> AsyncIterator[RogueClientId]:
    """A stop's login connecting with a server instance's client id (each instance's in
    turn) and a clean start, again and again while the block runs. The broker binds client
    ids to logins, so no server session is ever taken: no instance may reconnect
    meanwhile (else a line in ``notes``, counted with what is lost)."""
    rogue = RogueClientId()
    topics = broker.topics
    watch_options = SessionOptions(clean_start=True, session_expiry_s=0)
    watch = MqttSession(broker.endpoint(monitor_login(ROGUE_WATCH)), watch_options)
    endpoint = broker.endpoint(login_for(Owner.STOP, ROGUE_STOP))
    client_ids = [login_for(Owner.SERVER, name) for name in server_names]

    async def connect_again_and_again() -> None:
        while True:
            client_id = client_ids[rogue.attempts % len(client_ids)]
            options = SessionOptions(client_id=client_id, clean_start=True, session_expiry_s=0)
            async with MqttSession(endpoint, options) as session:
                await session.wait_connected(10)
                rogue.attempts += 1
                await asyncio.sleep(0.2)  # the rogue's pace, not a wait for an event

    async with watch:
        await watch.wait_connected(10)
        for name in server_names:
            await watch.subscribe(topics.server_status(name), rogue.on_server_status)
        task = asyncio.create_task(connect_again_and_again(), name="rogue-client-id")
        try:
            yield rogue
        finally:
            await cancel_and_wait(task)
    note = (
        f"a stop's login connected {rogue.attempts} time(s) with the server's client id "
        f"({', '.join(client_ids)}); the server's status changed {rogue.server_births} "
        "time(s) meanwhile"
    )
    logger.info("%s", note)
    if rogue.server_births:
        notes.append("the rogue took over the server's session: " + note)


@contextlib.asynccontextmanager
async def rogue_share(broker: ManagedBroker, server_names: list[str]) -> AsyncIterator[None]:
    """A stop's login joining shared groups on the server's filters (groups named as a
    server's could be, each instance's name among them), and the filters themselves,
    while the block runs; whatever it receives is logged as a warning."""
    topics = broker.topics
    endpoint = broker.endpoint(login_for(Owner.STOP, ROGUE_STOP))
    async with MqttSession(endpoint, SessionOptions()) as rogue:
        await rogue.wait_connected(10)

        async def swallow(msg: ReceivedMessage) -> None:
            logger.warning("the rogue received %s", msg.topic)

        own = [topics.all_of(TopicKind.STOP_EVENTS), topics.all_of(TopicKind.VEHICLE_EVENTS)]
        groups = dict.fromkeys(["bushail-api", "api", "bushail", "server", *server_names])
        filters = own + [f"$share/{group}/{f}" for group in groups for f in own]
        for topic_filter in filters:
            try:
                await rogue.subscribe(topic_filter, swallow)
            except MqttError as exc:
                logger.info("the broker refused the rogue %s: %s", topic_filter, exc)
        yield
