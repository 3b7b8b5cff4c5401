"""The asyncio MQTT 5 session every BusHail component uses.

One paho client drives the event loop directly (no network thread): its socket is
watched with ``add_reader``/``add_writer`` as in paho's asyncio example. We keep one
paho client for the whole session so in-flight QoS 1 messages survive reconnects and
are re-sent, and we read PUBACK reason codes (aiomqtt 2.x drops them, so an ACL refusal
would look like success there). The lifetime is an ``async with`` block::

    async with MqttSession(endpoint, options) as mqtt:
        mqtt.subscribe(topics.stop_calls_filter("S1"), on_call)
        await mqtt.publish(topic, payload, qos=1)

What it does for the caller:
- MQTT 5, TCP_NODELAY, persistent session (clean start off, session expiry) unless
  asked otherwise; a retained birth/will DeviceStatus with an increasing ``session``.
- Reconnects with exponential backoff and jitter, re-subscribing every filter.
- ``publish`` at QoS 1 returns on PUBACK, raises PublishRefusedError on a failure
  reason code, waits across reconnects, and is bounded (OutgoingQueueFullError). A
  payload over ``options.max_payload`` is refused at once (PayloadTooLargeError).
- Incoming messages go to handlers in arrival order; a QoS 1 message is acknowledged
  only after its handler has run, so a crash before that gets it delivered again.
  A handler that raises is logged and the message dropped: the reader lives on.
  Malformed and oversized payloads are counted and logged through ``drops`` (one line
  per device and minute, device text escaped; see ``logsafe``).
- A message no handler matches yet (a persistent session's queue arrives right after
  CONNACK, before the application subscribed) waits unacknowledged in a bounded hold
  and goes to the first handler registered for it. What is still held when the
  connection ends is let go unacknowledged, so the broker sends it again on the next
  connection of a persistent session (a clean session gave that up by being clean).
- The inbound queue is bounded by back-pressure: while ``options.max_incoming``
  messages wait, the socket is not read, and a short pause drops nothing. Past half a
  keepalive the socket is drained each second and QoS 0 messages are dropped, so the
  link stays up and the broker does not pile them up (see ``paho_loop``).
- Each message arrives parsed once, here, by ``Topics(options.root)``, and stamped with
  the ``time.monotonic()`` of its reading off the socket (see ReceivedMessage).
- Every background task the session starts is referenced until it ends and is
  cancelled and awaited when the session closes.

Beside it: ``endpoint`` (what a session is built from), ``received`` (what handlers get),
``delivery`` (received messages to handlers), ``paho_loop`` (paho on the event loop),
``inbound`` (the inbound queue and the hold), ``logsafe`` (logging device text),
``acks`` and ``availability`` (birth and will).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from broker_config.aio import cancel_and_wait
from broker_config.availability import Availability
from broker_config.delivery import Delivery
from broker_config.endpoint import BrokerEndpoint, SessionOptions
from broker_config.errors import (
    ConnectRefusedError,
    MqttError,
    OutgoingQueueFullError,
    PublishRefusedError,
    SubscribeRefusedError,
)
from broker_config.inbound import InboundCounters
from broker_config.logsafe import DropLog
from broker_config.messages import DeviceState, Message, encode, utcnow
from broker_config.paho_loop import PahoLoop, connect_blocking, make_client
from broker_config.received import Handler, ReceivedMessage
from broker_config.topics import Topics

__all__ = [
    "BrokerEndpoint",
    "Handler",
    "MqttSession",
    "PayloadTooLargeError",
    "ReceivedMessage",
    "Sent",
    "SessionOptions",
]

logger = logging.getLogger(__name__)


class PayloadTooLargeError(PublishRefusedError):
    """A payload is over the size limit: refused here, before it reaches the broker.

    A PublishRefusedError (reason code 149, *packet too large*): like the broker's own
    refusals it will not change on retry.
    """

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(topic, f"payload of {size} bytes is over the limit of {limit}", 149)
        self.args = (f"refused to publish to {topic!r}: {self.reason} (149)",)
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Sent:
    """A QoS 1 PUBLISH written (or queued for the next connection), its PUBACK to come."""

    topic: str
    mid: int
    ack: asyncio.Future[ReasonCode | None]


class MqttSession:
    """An MQTT 5 session that outlives connections; see the module docstring."""

    def __init__(self, endpoint: BrokerEndpoint, options: SessionOptions | None = None) -> None:
        self.endpoint = endpoint
        self.options = options or SessionOptions()
        #: Parses every received topic once, for all handlers.
        self.topics = Topics(self.options.root)
        self.started_at: datetime = utcnow()
        self.last_error: str | None = None
        #: The broker's answer to the latest attempt when it refused the login, else None.
        self.last_refusal: ConnectRefusedError | None = None
        self.connect_count = 0
        #: What the inbound side has counted (queue peak, pauses, drops).
        self.counters = InboundCounters()
        #: The paho client on the event loop; in-flight QoS 1 publishes wait in its puback.
        self._paho = PahoLoop(
            on_disconnect=self._note_disconnect,
            max_incoming=self.options.max_incoming,
            counters=self.counters,
            name=self.options.client_id,
        )
        #: Received messages to handlers (and the hold for those nobody claims yet).
        self._delivery = Delivery(
            self._paho,
            self.topics,
            name=self.options.client_id,
            max_payload=self.options.max_payload,
            max_unclaimed=self.options.max_unclaimed,
            counters=self.counters,
        )
        #: Logs dropped messages once per device and minute; handlers report theirs here.
        self.drops: DropLog = self._delivery.drops
        self._connected = asyncio.Event()
        self._refused = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: Short-lived tasks (birth messages): referenced until done, cancelled on close.
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._availability = Availability(self.options.status_topic, self.options.version)
        self._connection_listeners: list[Callable[[bool], None]] = []

    # -- lifetime ---------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._paho.attach(make_client(self.endpoint, self.options))
        self._tasks = [
            asyncio.create_task(self._run(), name=f"mqtt-run-{self.options.client_id}"),
            asyncio.create_task(
                self._delivery.run(), name=f"mqtt-dispatch-{self.options.client_id}"
            ),
            asyncio.create_task(
                self._paho.keepalive(
                    self._connected, self.options.keepalive_s, self._delivery.tick
                ),
                name=f"mqtt-misc-{self.options.client_id}",
            ),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, *, graceful: bool = True) -> None:
        """Publish the offline status (if graceful) and disconnect."""
        if self._closing:
            return
        client = self._paho.client
        if graceful and client is not None and self.connected and self.options.status_topic:
            with contextlib.suppress(MqttError, TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._publish_status(DeviceState.OFFLINE)
        self._closing = True
        if client is not None and self.connected:
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._paho.disconnected.wait()
        await self._cancel_tasks()
        self._paho.drop_socket()
        self._paho.puback.fail_all("session closed")
        self._delivery.let_go_unclaimed()

    async def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would (the will fires)."""
        self._closing = True
        await self._cancel_tasks()
        self._paho.close_socket()
        self._paho.puback.fail_all("session aborted")
        self._delivery.let_go_unclaimed()

    async def _cancel_tasks(self) -> None:
        await cancel_and_wait(*self._tasks, *self._background)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` in the background, referenced until it ends (see _cancel_tasks)."""
        task = self._paho.require_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def closing(self) -> bool:
        """True once ``close``/``abort`` began: a disconnection then is expected."""
        return self._closing

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def session_number(self) -> int:
        return self._availability.session_number

    @property
    def pending_count(self) -> int:
        return len(self._paho.puback)

    @property
    def incoming_count(self) -> int:
        """Received messages waiting for their handlers."""
        return len(self._paho.incoming)

    @property
    def unclaimed_count(self) -> int:
        """Received messages waiting, unacknowledged, for a handler to be registered."""
        return len(self._delivery.unclaimed)

    async def wait_connected(
        self, timeout: float | None = None, *, raise_on_refusal: bool = True
    ) -> None:
        """Wait until connected (TimeoutError after ``timeout``).

        If the broker refuses the login (bad password, anonymous, not authorised) this
        raises that ConnectRefusedError instead of waiting on: the session keeps
        retrying with backoff, but a caller should not wait blind on a wrong password.
        """
        # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
        # arrives as the awaited thing completes.
        async with asyncio.timeout(timeout):
            await self._wait_connected(raise_on_refusal)

    async def _wait_connected(self, raise_on_refusal: bool) -> None:
        while not self._connected.is_set():
            if raise_on_refusal and self.last_refusal is not None:
                raise self.last_refusal
            waiters = [asyncio.ensure_future(self._connected.wait())]
            if raise_on_refusal:
                waiters.append(asyncio.ensure_future(self._refused.wait()))
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.wait(waiters)  # leave no cancelled waiter pending

    def on_connection_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(connected)`` whenever the connection comes or goes."""
        self._connection_listeners.append(listener)

    # -- subscribe ----------------------------------------------------------------------
    async def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Route messages matching ``topic_filter`` to ``handler`` (kept across reconnects).

        While connected this returns once the broker has acknowledged the subscription;
        before the first connection it only registers (``wait_connected`` then covers it).
        Held messages the filter matches go to the handler first, in arrival order.
        """
        self._delivery.add(topic_filter, qos, handler)
        if self.connected and self._paho.client is not None:
            try:
                await self._send_subscribe(self._paho.client, [(topic_filter, qos)])
            except SubscribeRefusedError:
                # Not kept: sent again after each reconnect it would be refused each time.
                self._delivery.subscriptions.remove(topic_filter, handler)
                raise

    async def _send_subscribe(self, client: paho.Client, filters: list[tuple[str, int]]) -> None:
        if not filters:
            return
        rc, mid = client.subscribe(filters)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"subscribe failed: {paho.error_string(rc)}")
        fut = self._paho.suback.expect(self._paho.require_loop(), mid)
        try:
            async with asyncio.timeout(self.options.connect_timeout_s):
                codes = await fut
        finally:
            self._paho.suback.forget(mid)
        refused = [f for (f, _q), c in zip(filters, codes, strict=False) if c.is_failure]
        if refused:
            raise SubscribeRefusedError(refused)

    # -- publish ------------------------------------------------------------------------
    async def publish(
        self,
        topic: str,
        payload: bytes | Message | None,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Publish; at QoS 1 return on PUBACK and raise PublishRefusedError on refusal.

        A QoS 1 publish made while disconnected waits for the next connection. A QoS 0
        publish while disconnected is dropped (it is a best-effort message by contract).
        """
        sent = self.send(topic, payload, qos=qos, retain=retain)
        if sent is not None:
            await self.acknowledged(sent, timeout)

    def send(
        self, topic: str, payload: bytes | Message | None, *, qos: int = 1, retain: bool = False
    ) -> Sent | None:
        """Publish without waiting: the PUBLISH is written before this returns (when
        connected). At QoS 1, ``await acknowledged(sent)`` for its PUBACK; at QoS 0, None.

        For a caller that must not yield between deciding and sending (the outbox relay
        publishes a booking's messages from the commit itself, so they never wait behind
        the request's answer or other work on the event loop).
        """
        client = self._paho.require_client()
        if isinstance(payload, Message):
            data: bytes = encode(payload)
        else:
            data = payload or b""
        if len(data) > self.options.max_payload:
            raise PayloadTooLargeError(topic, len(data), self.options.max_payload)
        if qos == 0:
            if self.connected:
                client.publish(topic, data, qos=0, retain=retain)
            return None
        pending = self._paho.puback
        if len(pending) >= self.options.max_pending:
            raise OutgoingQueueFullError(f"{len(pending)} messages already wait for the broker")
        info = client.publish(topic, data, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            raise OutgoingQueueFullError("paho's outgoing queue is full")
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(f"publish to {topic!r} failed: {paho.error_string(info.rc)}")
        return Sent(topic, info.mid, pending.expect(self._paho.require_loop(), info.mid))

    def abandon(self, sent: Sent) -> None:
        """Nobody will await ``sent``'s PUBACK: forget it once it has come (until then it
        counts as in flight and is re-sent after a reconnect, as paho does)."""
        puback = self._paho.puback
        if sent.ack.done():
            puback.forget(sent.mid, sent.ack)
        else:
            sent.ack.add_done_callback(lambda ack: puback.forget(sent.mid, ack))

    async def acknowledged(self, sent: Sent, timeout: float | None = None) -> None:
        """Wait for ``sent``'s PUBACK; PublishRefusedError if the broker refused it.

        A timeout leaves it in flight (re-sent after a reconnect), as paho does."""
        try:
            async with asyncio.timeout(timeout):
                reason = await asyncio.shield(sent.ack)
        finally:
            if sent.ack.done():
                self._paho.puback.forget(sent.mid, sent.ack)
        if reason is not None and reason.is_failure:
            raise PublishRefusedError(sent.topic, str(reason), reason.value)

    # -- internals: the connection loop ---------------------------------------------------
    async def _run(self) -> None:
        client = self._paho.require_client()
        attempt = 0
        first = True
        while not self._closing:
            self._availability.next_session()
            self._availability.set_will(client, self.started_at)
            connack = self._paho.expect_connack()
            self._paho.disconnected.clear()
            try:
                await asyncio.to_thread(
                    connect_blocking, client, self.endpoint, self.options, first=first
                )
                self._paho.watch_socket()
                first = False
                async with asyncio.timeout(self.options.connect_timeout_s):
                    reason = await asyncio.shield(connack)
                if reason.is_failure:
                    raise ConnectRefusedError(str(reason), reason.value)
                self.last_refusal = None
                self._refused.clear()
                attempt = 0
                self.connect_count += 1
                await self._on_connected(client)
                await self._paho.disconnected.wait()
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, MqttError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, ConnectRefusedError):
                    self.last_refusal = exc
                    self._refused.set()
                logger.warning(
                    "mqtt %s: connection to %s:%s failed: %s",
                    self.options.client_id,
                    self.endpoint.host,
                    self.endpoint.port,
                    exc,
                )
            self._set_connected(False)
            self._paho.drop_socket()
            if self._closing:
                break
            delay = min(self.options.reconnect_max_s, self.options.reconnect_min_s * 2**attempt)
            attempt = min(attempt + 1, 16)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter

    async def _on_connected(self, client: paho.Client) -> None:
        """Re-subscribe, then report connected: never connected but deaf.

        A SUBSCRIBE that fails, goes unanswered or is refused (an ACL changed since the
        filter was first granted) ends this connection; the loop tries again with
        back-off, and ``connected`` stays false until every filter is back.
        """
        try:
            await self._send_subscribe(client, self._delivery.subscriptions.filters())
        except (MqttError, TimeoutError) as exc:
            logger.error(
                "mqtt %s: re-subscribing failed, reconnecting: %s", self.options.client_id, exc
            )
            raise MqttError(f"re-subscribing failed: {exc}") from exc
        self._set_connected(True)
        logger.info(
            "mqtt %s: connected to %s:%s as %s (session %d)",
            self.options.client_id,
            self.endpoint.host,
            self.endpoint.port,
            self.endpoint.username,
            self._availability.session_number,
        )
        if self.options.status_topic:
            self._spawn(self._publish_birth(), f"mqtt-birth-{self.options.client_id}")

    async def _publish_birth(self) -> None:
        try:
            await self._publish_status(DeviceState.ONLINE)
        except MqttError as exc:
            logger.warning("mqtt %s: birth message failed: %s", self.options.client_id, exc)

    async def _publish_status(self, state: DeviceState) -> None:
        assert self.options.status_topic is not None  # noqa: S101 - checked by callers
        status = self._availability.status(state, self.started_at)
        await self.publish(self.options.status_topic, status, qos=1, retain=True)

    def _set_connected(self, value: bool) -> None:
        if value == self._connected.is_set():
            return
        if value:
            self._connected.set()
        else:
            self._connected.clear()
        for listener in self._connection_listeners:
            try:
                listener(value)
            except Exception:
                logger.exception("connection listener failed")

    def _note_disconnect(self, reason_code: ReasonCode) -> None:
        # From paho's on_disconnect: a failure, or the end of a working connection.
        if reason_code.is_failure or self._connected.is_set():
            self.last_error = f"disconnected: {reason_code}"
