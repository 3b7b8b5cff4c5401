"""A device re-sends its pending events as soon as a server comes online, not after its
back-off: an event whose copy went to nobody (the server had lost its broker session)
reaches the new server session at once."""

from __future__ import annotations

import uuid

from broker_config.device.receipts import EventSender, MemoryPendingStore
from broker_config.device.resend import Backoff
from broker_config.messages import ButtonAction, StopEvent, utcnow
from broker_config.topics import TopicKind, Topics
from tests.conftest import ConnectFn, Inbox
from tests.support.waiting import eventually

#: Far beyond any test's wait: only the server's birth can make the second copy go.
LONG_BACKOFF = Backoff(first_s=600.0, max_s=600.0)


def _press() -> StopEvent:
    return StopEvent(id=uuid.uuid4(), action=ButtonAction.HELP, at=utcnow())


async def test_a_servers_birth_sends_pending_events_again_at_once(
    connect: ConnectFn, topics: Topics
) -> None:
    status = topics.server_status("api")
    first = await connect("server.api", clean_start=True, session_expiry_s=0, status_topic=status)
    device = await connect("stop.S1")
    sender = EventSender(
        device,
        events_topic=topics.stop_events("S1"),
        receipts_topic=topics.stop_receipts("S1"),
        server_status_filter=topics.all_of(TopicKind.SERVER_STATUS),
        store=MemoryPendingStore[StopEvent](),
        backoff=LONG_BACKOFF,
        name="stop S1",
    )
    async with sender:
        event = _press()
        await sender.send(event)
        # The first server is not subscribed to the stop's events: the copy goes to nobody.
        await eventually(lambda: sender.copies_sent, lambda n: n == 1, what="the first copy")
        await first.close()
        inbox = Inbox()
        # A new server session (clean, as after a lost broker session) with its birth.
        second = await connect(
            "server.api", wait=False, clean_start=True, session_expiry_s=0, status_topic=status
        )
        await second.subscribe(topics.stop_events("S1"), inbox)
        await second.wait_connected(10)
        got = await inbox.get(timeout=10)
        assert StopEvent.model_validate_json(got.payload).id == event.id
        assert sender.copies_sent == 2
        assert sender.is_pending(event.id)  # no receipt yet: it stays until the server answers
