"""The inbound side of a session: received messages to their handlers, then acknowledged.

``Delivery.run`` takes messages from the paho loop's inbound queue in arrival order,
parses each topic once, runs the handlers whose filter matches and only then sends the
PUBACK of a QoS 1 message, so a crash before that gets it delivered again. Around that:

- A payload over the size limit is dropped before any handler sees it, counted, logged
  once per device and minute, and acknowledged (it would be as big the next time).
- A MalformedPayloadError from a handler is counted and logged the same way; any other
  error is logged with its traceback. Either way the message is done with.
- A message no handler matches waits, unacknowledged, in a bounded hold until one is
  registered (``add``). When the hold is full, further ones are let go unacknowledged:
  the broker sends QoS 1 ones again on the next connection. When the connection ends,
  what is held is let go the same way (the broker re-sends it to a persistent session,
  and a clean session gave it up by being clean).
- A PUBACK goes only on the connection its message came on: after a reconnect the
  broker re-sends what was not acknowledged, and the handlers see it again (QoS 1 is
  at least once).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

import paho.mqtt.client as paho

from broker_config.errors import InvalidTopicError, MalformedPayloadError
from broker_config.inbound import InboundCounters, UnclaimedHold
from broker_config.logsafe import DropLog, escape
from broker_config.paho_loop import Incoming, PahoLoop
from broker_config.received import Handler, ReceivedMessage, Subscriptions
from broker_config.topics import ParsedTopic, Topics, topic_matches

__all__ = ["UNCLAIMED_WARN_AFTER_S", "Delivery"]

logger = logging.getLogger(__name__)

#: A message held this long without a handler gets a warning (once per connection).
UNCLAIMED_WARN_AFTER_S = 30.0


class Delivery:
    """Delivers what ``paho`` receives to the handlers of ``subscriptions``; see above."""

    def __init__(
        self,
        paho_loop: PahoLoop,
        topics: Topics,
        *,
        name: str,
        max_payload: int,
        max_unclaimed: int,
        counters: InboundCounters,
    ) -> None:
        self._paho = paho_loop
        self._topics = topics
        self._name = name
        self._max_payload = max_payload
        self.counters = counters
        #: Every ``subscribe`` of the session, in order.
        self.subscriptions = Subscriptions()
        #: Logs dropped messages once per device and minute; handlers report theirs here.
        self.drops = DropLog(logger)
        #: Messages no handler matched yet, with the connection they came on.
        self.unclaimed: UnclaimedHold[Incoming] = UnclaimedHold(max_unclaimed)
        # Connection numbers already warned about (a full hold, a long-unclaimed message).
        self._overflow_warned = 0
        self._stall_warned = 0

    def add(self, topic_filter: str, qos: int, handler: Handler) -> None:
        """Register ``handler``; held messages it matches go to it first, in arrival order."""
        self.subscriptions.add(topic_filter, qos, handler)
        if not self.unclaimed:
            return
        self._drop_stale()
        claimed = self.unclaimed.claim(functools.partial(topic_matches, topic_filter))
        if claimed:
            logger.debug(
                "mqtt %s: %d held messages go to the new handler of %s",
                self._name,
                len(claimed),
                escape(topic_filter),
            )
            self._paho.incoming.put_front(claimed)

    async def run(self) -> None:
        """Deliver messages until cancelled."""
        client = self._paho.require_client()
        incoming = self._paho.incoming
        subscriptions = self.subscriptions
        limit = self._max_payload
        while True:
            connection, msg = await incoming.get()
            topic = msg.topic
            handlers = subscriptions.handlers_for(topic)
            size = len(msg.payload)
            if size > limit:
                # Never decoded, and acknowledged: it would be as big the next time.
                self._drop_oversized(msg, size)
                handlers = []
            elif not handlers:
                self._hold(connection, msg)
                continue
            # paho stamps each PUBLISH with time.monotonic() as it decodes it off the socket.
            received = ReceivedMessage(
                topic,
                bytes(msg.payload),  # paho's may be a bytearray: handlers get it frozen
                msg.qos,
                bool(msg.retain),
                self._parse(topic),
                msg.timestamp,
            )
            for handler in handlers:
                try:
                    await handler(received)
                except asyncio.CancelledError:
                    raise
                except MalformedPayloadError as exc:
                    self.counters.malformed += 1
                    self.drops.malformed(received, exc)
                except Exception:
                    logger.exception("handler failed on %s; message dropped", escape(topic))
            if msg.qos > 0 and connection == self._paho.connection:
                client.ack(msg.mid, msg.qos)

    def tick(self) -> None:
        """Once a second: drop summaries, and a warning about messages nobody claims."""
        self.drops.flush()
        if not self.unclaimed:
            return
        self._drop_stale()
        oldest = self.unclaimed.oldest()
        connection = self._paho.connection
        if oldest is None or self._stall_warned == connection:
            return
        topic, at = oldest
        waited = time.monotonic() - at
        if waited >= UNCLAIMED_WARN_AFTER_S:
            self._stall_warned = connection
            logger.warning(
                "mqtt %s: %d messages (the first on %s) have waited %.0f s for a handler: "
                "no subscription of this session matches them. Unacknowledged, they hold "
                "places in the broker's in-flight window (QoS 1 delivery stops once it is "
                "full) until the connection ends",
                self._name,
                len(self.unclaimed),
                escape(topic),
                waited,
            )

    def let_go_unclaimed(self) -> None:
        """At close: what no handler claimed stays unacknowledged, for the next connection."""
        held = self.unclaimed.clear()
        if held:
            logger.info(
                "mqtt %s: %d messages no handler claimed are left unacknowledged "
                "(a persistent session gets them again on its next connection)",
                self._name,
                len(held),
            )

    def _drop_oversized(self, msg: paho.MQTTMessage, size: int) -> None:
        self.counters.oversized += 1
        head = ReceivedMessage(
            msg.topic, bytes(msg.payload[:64]), msg.qos, False, self._parse(msg.topic), 0.0
        )
        self.drops.oversized(head, size, self._max_payload)

    def _hold(self, connection: int, msg: paho.MQTTMessage) -> None:
        if connection != self._paho.connection:
            return  # its connection is gone: the broker sends it again
        if self.unclaimed.hold(msg.topic, msg.timestamp, (connection, msg)):
            logger.debug("mqtt %s: %s waits for a handler", self._name, escape(msg.topic))
            return
        self.counters.unclaimed_overflow += 1
        if self._overflow_warned != connection:
            self._overflow_warned = connection
            logger.warning(
                "mqtt %s: %d messages already wait for a handler; the one on %s and "
                "further ones are let go unacknowledged (QoS 1: the broker sends them "
                "again on the next connection; QoS 0: lost)",
                self._name,
                len(self.unclaimed),
                escape(msg.topic),
            )

    def _drop_stale(self) -> None:
        """Let go of held messages of an earlier connection: the broker re-sends them."""
        current = self._paho.connection
        self.unclaimed.discard(lambda item: item[0] != current)

    def _parse(self, topic: str) -> ParsedTopic | None:
        try:
            return self._topics.parse(topic)
        except InvalidTopicError as exc:
            # Not ours to judge: a handler that needs the parts logs the drop.
            logger.debug("mqtt %s: %s", self._name, exc)
            return None
