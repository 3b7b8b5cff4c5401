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
  reason code, waits across reconnects, and is bounded (OutgoingQueueFullError).
- Incoming messages go to handlers in arrival order; a QoS 1 message is acknowledged
  only after its handler has run, so a crash before that gets it delivered again.
  A handler that raises is logged and the message dropped: the reader lives on.
- Each message arrives parsed once, here, by ``Topics(options.root)``, and stamped with
  the ``time.monotonic()`` of its reading off the socket (see ReceivedMessage).
- Every background task the session starts is referenced until it ends and is
  cancelled and awaited when the session closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from broker_config.const import DEFAULT_KEEPALIVE_S, DEFAULT_ROOT, DEVICE_SESSION_EXPIRY_S
from broker_config.errors import (
    ConnectRefusedError,
    InvalidTopicError,
    MalformedPayloadError,
    MqttError,
    OutgoingQueueFullError,
    PublishRefusedError,
    SessionClosedError,
)
from broker_config.messages import DeviceState, DeviceStatus, Message, encode, utcnow
from broker_config.topics import ParsedTopic, Topics, topic_matches

__all__ = [
    "BrokerEndpoint",
    "Handler",
    "MqttSession",
    "ReceivedMessage",
    "SessionOptions",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where the broker is and who we are."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """How the session behaves; the defaults suit a device."""

    client_id: str = field(default_factory=lambda: f"bushail-{uuid.uuid4().hex[:12]}")
    clean_start: bool = False
    session_expiry_s: int = DEVICE_SESSION_EXPIRY_S
    keepalive_s: int = DEFAULT_KEEPALIVE_S
    #: Retained birth/will topic; None for a client without availability (tools, tests).
    status_topic: str | None = None
    #: Topic root received topics are parsed under (``Topics(root)``).
    root: str = DEFAULT_ROOT
    version: str = "0"
    #: QoS 1 messages that may wait for the broker at once (in flight or offline).
    max_pending: int = 10_000
    max_inflight: int = 100
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 15.0
    connect_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as delivered to a handler.

    ``parsed`` is the topic as ``Topics.parse`` splits it (kind, device id, reservation
    id), or None when the topic is not a v1 topic under the session's root (a test or
    tool topic, a malformed id): such a message is still delivered, and a handler that
    needs the parts logs and drops it. ``received_at`` is the ``time.monotonic()`` at
    which the session read the message off the socket (before any queueing).
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool
    parsed: ParsedTopic | None
    received_at: float


Handler = Callable[[ReceivedMessage], Awaitable[None]]


class _SessionCounter:
    """``session`` numbers that increase across connects and process restarts."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1_000_000)
        return self._last


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._handlers: list[tuple[str, int, Handler]] = []
        self._pending: dict[int, asyncio.Future[ReasonCode | None]] = {}
        self._suback: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._connected = asyncio.Event()
        self._refused = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._incoming: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        #: Short-lived tasks (birth messages): referenced until done, cancelled on close.
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._counter = _SessionCounter()
        self._session_no = 0
        self._connection_listeners: list[Callable[[bool], None]] = []
        self._sock_fd: int | None = None
        self._loop_thread: int | None = None
        self._reading = False

    # -- lifetime ---------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._client = self._make_client()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"mqtt-run-{self.options.client_id}"),
            asyncio.create_task(self._dispatch(), name=f"mqtt-dispatch-{self.options.client_id}"),
            asyncio.create_task(self._misc_loop(), name=f"mqtt-misc-{self.options.client_id}"),
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
        client = self._client
        if graceful and client is not None and self.connected and self.options.status_topic:
            with contextlib.suppress(MqttError, TimeoutError):
                await asyncio.wait_for(self._publish_status(DeviceState.OFFLINE), 2.0)
        self._closing = True
        if client is not None and self.connected:
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), 2.0)
        await self._cancel_tasks()
        self._drop_socket()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(SessionClosedError("session closed"))
                fut.exception()  # a caller may have gone: do not log it as lost
        self._pending.clear()

    async def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would (the will fires)."""
        self._closing = True
        await self._cancel_tasks()
        client = self._client
        if client is not None:
            sock = client.socket()
            self._drop_socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(SessionClosedError("session aborted"))
                fut.exception()  # a caller may have gone: do not log it as lost
        self._pending.clear()

    async def _cancel_tasks(self) -> None:
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` in the background, referenced until it ends (see _cancel_tasks)."""
        task = self._require_loop().create_task(coro, name=name)
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
        return self._session_no

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    async def wait_connected(
        self, timeout: float | None = None, *, raise_on_refusal: bool = True
    ) -> None:
        """Wait until connected (TimeoutError after ``timeout``).

        If the broker refuses the login (bad password, anonymous, not authorised) this
        raises that ConnectRefusedError instead of waiting on: the session keeps
        retrying with backoff, but a caller should not wait blind on a wrong password.
        """
        await asyncio.wait_for(self._wait_connected(raise_on_refusal), timeout)

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
        """
        self._handlers.append((topic_filter, qos, handler))
        if self.connected and self._client is not None:
            await self._send_subscribe(self._client, [(topic_filter, qos)])

    async def _send_subscribe(self, client: paho.Client, filters: list[tuple[str, int]]) -> None:
        if not filters:
            return
        rc, mid = client.subscribe(filters)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"subscribe failed: {paho.error_string(rc)}")
        fut: asyncio.Future[list[ReasonCode]] = self._require_loop().create_future()
        self._suback[mid] = fut
        try:
            codes = await asyncio.wait_for(fut, self.options.connect_timeout_s)
        finally:
            self._suback.pop(mid, None)
        refused = [f for (f, _q), c in zip(filters, codes, strict=False) if c.is_failure]
        if refused:
            raise MqttError(f"broker refused subscriptions: {refused}")

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
        client = self._require_client()
        if isinstance(payload, Message):
            data: bytes = encode(payload)
        else:
            data = payload or b""
        if qos == 0:
            if self.connected:
                client.publish(topic, data, qos=0, retain=retain)
            return
        if len(self._pending) >= self.options.max_pending:
            raise OutgoingQueueFullError(
                f"{len(self._pending)} messages already wait for the broker"
            )
        info = client.publish(topic, data, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            raise OutgoingQueueFullError("paho's outgoing queue is full")
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(f"publish to {topic!r} failed: {paho.error_string(info.rc)}")
        loop = self._require_loop()
        fut: asyncio.Future[ReasonCode | None] = loop.create_future()
        self._pending[info.mid] = fut
        try:
            reason = await asyncio.wait_for(asyncio.shield(fut), timeout)
        finally:
            if fut.done():
                self._pending.pop(info.mid, None)
        if reason is not None and reason.is_failure:
            raise PublishRefusedError(topic, str(reason), reason.value)

    # -- internals: the connection loop ---------------------------------------------------
    def _make_client(self) -> paho.Client:
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if self.endpoint.username is not None:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        if self.endpoint.tls:
            ctx = ssl.create_default_context(cafile=self.endpoint.ca_file)
            client.tls_set_context(ctx)
        client.max_inflight_messages_set(self.options.max_inflight)
        client.max_queued_messages_set(self.options.max_pending)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.options.session_expiry_s
        return props

    def _set_will(self, client: paho.Client) -> None:
        if not self.options.status_topic:
            return
        will = DeviceStatus(
            state=DeviceState.OFFLINE,
            session=self._session_no,
            version=self.options.version,
            started_at=self.started_at,
        )
        client.will_set(self.options.status_topic, encode(will), qos=1, retain=True)

    def _blocking_connect(self, client: paho.Client, first: bool) -> None:
        # Runs in a worker thread: DNS and TCP connect block.
        if first:
            client.connect(
                self.endpoint.host,
                self.endpoint.port,
                keepalive=self.options.keepalive_s,
                clean_start=self.options.clean_start,
                properties=self._connect_properties(),
            )
        else:
            client.reconnect()

    async def _run(self) -> None:
        client = self._require_client()
        loop = self._require_loop()
        attempt = 0
        first = True
        while not self._closing:
            self._session_no = self._counter.next()
            self._set_will(client)
            self._connack = loop.create_future()
            self._disconnected.clear()
            try:
                await asyncio.to_thread(self._blocking_connect, client, first)
                first = False
                reason = await asyncio.wait_for(
                    asyncio.shield(self._connack), self.options.connect_timeout_s
                )
                if reason.is_failure:
                    raise ConnectRefusedError(str(reason), reason.value)
                self.last_refusal = None
                self._refused.clear()
                attempt = 0
                self.connect_count += 1
                await self._on_connected(client)
                await self._disconnected.wait()
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
            self._drop_socket()
            if self._closing:
                break
            delay = min(self.options.reconnect_max_s, self.options.reconnect_min_s * 2**attempt)
            attempt = min(attempt + 1, 16)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter

    async def _on_connected(self, client: paho.Client) -> None:
        wanted = {f: q for f, q, _h in self._handlers}
        try:
            await self._send_subscribe(client, list(wanted.items()))
        except MqttError as exc:
            self.last_error = str(exc)
            logger.error("mqtt %s: %s", self.options.client_id, exc)
        self._set_connected(True)
        logger.info(
            "mqtt %s: connected to %s:%s as %s (session %d)",
            self.options.client_id,
            self.endpoint.host,
            self.endpoint.port,
            self.endpoint.username,
            self._session_no,
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
        status = DeviceStatus(
            state=state,
            session=self._session_no,
            version=self.options.version,
            started_at=self.started_at,
        )
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

    # -- internals: incoming ---------------------------------------------------------------
    async def _dispatch(self) -> None:
        client = self._require_client()
        while True:
            msg = await self._incoming.get()
            topic = msg.topic
            # paho stamps each PUBLISH with time.monotonic() as it decodes it off the socket.
            received = ReceivedMessage(
                topic,
                bytes(msg.payload),
                msg.qos,
                bool(msg.retain),
                self._parse(topic),
                msg.timestamp,
            )
            for topic_filter, _qos, handler in list(self._handlers):
                if not topic_matches(topic_filter, received.topic):
                    continue
                try:
                    await handler(received)
                except asyncio.CancelledError:
                    raise
                except MalformedPayloadError as exc:
                    logger.warning("dropped malformed message on %s: %s", received.topic, exc)
                except Exception:
                    logger.exception("handler failed on %s; message dropped", received.topic)
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)

    def _parse(self, topic: str) -> ParsedTopic | None:
        try:
            return self.topics.parse(topic)
        except InvalidTopicError as exc:
            # Not ours to judge: a handler that needs the parts logs the drop.
            logger.debug("mqtt %s: %s", self.options.client_id, exc)
            return None

    # -- paho callbacks (all on the event loop thread, except socket open/write) ----------
    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        fut = self._connack
        if fut is not None and not fut.done():
            self._soon(_set_result, fut, reason_code)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._soon(self._disconnected.set)
        fut = self._connack
        if fut is not None and not fut.done():
            # Lost before any CONNACK: a network failure to retry, not a refused login.
            lost = MqttError(f"connection closed before CONNACK: {reason_code}")
            self._soon(_set_exception, fut, lost)
        if reason_code.is_failure or self._connected.is_set():
            self.last_error = f"disconnected: {reason_code}"

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        fut = self._pending.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(reason_code)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        fut = self._suback.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(list(reason_codes))

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._incoming.put_nowait(msg)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._soon(self._watch_socket, client, sock.fileno())

    def _watch_socket(self, client: paho.Client, fd: int) -> None:
        loop = self._require_loop()
        self._sock_fd = fd
        loop.add_reader(fd, self._read_ready, client)

    def _read_ready(self, client: paho.Client) -> None:
        self._reading = True
        try:
            while True:
                rc = client.loop_read()
                sock = client.socket()
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None:
                    break
                pending = getattr(sock, "pending", None)
                if pending is None or pending() == 0:
                    break
        except Exception as exc:  # paho raises plain socket errors
            logger.debug("mqtt read failed: %s", exc)
            self._disconnected.set()
        finally:
            self._reading = False

    async def _misc_loop(self) -> None:
        # Keepalive pings and their time-outs; paho needs this called about once a second.
        client = self._require_client()
        while True:
            await asyncio.sleep(1.0)
            if self._connected.is_set() and self._sock_fd is not None:
                if client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._disconnected.set()

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._soon(self._drop_socket)

    def _drop_socket(self) -> None:
        fd = self._sock_fd
        if fd is None or self._loop is None:
            return
        self._sock_fd = None
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # paho has bytes to send (a PUBLISH, a PUBACK ...). On the event loop thread we
        # write them at once: going through add_writer costs two more turns of the
        # selector on the path of every publish and every acknowledgement.
        fd = sock.fileno()
        if fd < 0:
            return
        if threading.get_ident() != self._loop_thread:
            self._soon(self._add_writer, fd, client)  # from the connect worker thread
        elif self._reading:
            # Inside paho's own read loop: write once it has returned (no syscall).
            self._require_loop().call_soon(self._flush, fd, client)
        else:
            self._flush(fd, client)

    def _flush(self, fd: int, client: paho.Client) -> None:
        """Write what paho has queued; wait for the socket to drain if it is full."""
        self._write_ready(client)
        if client.want_write() and client.socket() is not None:
            self._add_writer(fd, client)

    def _write_ready(self, client: paho.Client) -> None:
        try:
            client.loop_write()
        except Exception as exc:
            logger.debug("mqtt write failed: %s", exc)
            self._disconnected.set()

    def _add_writer(self, fd: int, client: paho.Client) -> None:
        sock = client.socket()
        if sock is not None and sock.fileno() == fd:  # not a socket closed meanwhile
            self._require_loop().add_writer(fd, self._write_ready, client)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()
        if fd >= 0:
            self._require_loop().remove_writer(fd)

    def _soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback`` on the event loop; paho may call us from a worker thread.

        After the loop has closed (paho's ``__del__`` still closes its sockets and
        calls back) there is nothing left to tell, so the call is dropped.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(callback, *args)

    def _require_client(self) -> paho.Client:
        if self._client is None:
            raise SessionClosedError("the session is not open: use 'async with'")
        return self._client

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise SessionClosedError("the session is not open: use 'async with'")
        return self._loop


def _set_result(fut: asyncio.Future[ReasonCode], value: ReasonCode) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[ReasonCode], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
