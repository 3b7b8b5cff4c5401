"""One paho client driven by the asyncio event loop, its callbacks turned into futures.

There is no network thread: the client's socket is watched with ``add_reader`` and
``add_writer`` as in paho's asyncio example, and ``keepalive`` runs paho's timers from a
task. What paho reports lands on the loop: CONNACK, PUBACK and SUBACK reason codes in
futures, messages in ``incoming``, a lost link in ``disconnected``. Only the TCP connect
runs in a worker thread (DNS and connect block); the loop starts watching the socket
once that has returned, and stops before paho closes it, so the selector never holds
the number of a closed socket.

Back-pressure: paho reads a packet only when we call ``loop_read``, so while the inbound
queue is over its limit we stop watching the socket for reading and the bytes wait in
the kernel and at the broker (paho reads a packet at a time, never ahead). Nothing is
dropped by a pause shorter than half the keepalive. A longer one would look like a dead
link to paho, and Mosquitto 2.0 buffers QoS 0 messages for a connected client that does
not read without any limit (measured: +49 MB for 50,000 positions of 1 KB). So once a
pause has lasted half a keepalive, every second we read what the socket holds: QoS 1
messages join the queue (the broker's in-flight window bounds them: it sends no more
until we acknowledge), QoS 0 ones are dropped and counted
(``InboundCounters.qos0_shed``), as best-effort messages may be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from broker_config.acks import AckWaiters
from broker_config.const import PACKET_OVERHEAD_BYTES
from broker_config.endpoint import BrokerEndpoint, SessionOptions
from broker_config.errors import MqttError, SessionClosedError
from broker_config.inbound import InboundCounters, InboundQueue

__all__ = ["Incoming", "PahoLoop", "connect_blocking", "make_client", "tls_context"]

logger = logging.getLogger(__name__)

#: A received message and the number of the connection it came on (``PahoLoop.connection``).
Incoming = tuple[int, paho.MQTTMessage]

#: At most this many packets are read by one drain of a paused socket.
_DRAIN_MAX_PACKETS = 10_000


def make_client(endpoint: BrokerEndpoint, options: SessionOptions) -> paho.Client:
    """An MQTT 5 paho client for ``endpoint``: manual acks, no reconnects of its own."""
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
        reconnect_on_failure=False,
    )
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set_context(tls_context(endpoint))
    client.max_inflight_messages_set(options.max_inflight)
    client.max_queued_messages_set(options.max_pending)
    return client


def tls_context(endpoint: BrokerEndpoint) -> ssl.SSLContext:
    """How a client verifies the broker: its certificate must chain to ``ca_file`` (the
    system's CAs when None) and name the host connected to; TLS 1.2 at least.

    paho wraps the socket with ``server_hostname=host`` and, as the context checks host
    names, does not switch the check off.
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=endpoint.ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.sslsocket_class = _ClosingSSLSocket
    return ctx


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when its handshake fails: paho leaves that socket to the garbage
    collector, so every refused attempt (an untrusted broker, plain text on the port)
    would hold a file descriptor until a collection."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def connect_blocking(
    client: paho.Client, endpoint: BrokerEndpoint, options: SessionOptions, *, first: bool
) -> None:
    """Open the connection and send CONNECT; blocks on DNS and TCP (run it in a thread)."""
    if first:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = options.session_expiry_s
        # An MQTT 5 broker then never sends us a packet we would only drop unread.
        props.MaximumPacketSize = options.max_payload + PACKET_OVERHEAD_BYTES
        client.connect(
            endpoint.host,
            endpoint.port,
            keepalive=options.keepalive_s,
            clean_start=options.clean_start,
            properties=props,
        )
    else:
        client.reconnect()


class PahoLoop:
    """Drives one paho client from the running event loop; see the module docstring.

    ``on_disconnect`` is called with the reason code of every DISCONNECT (or lost link)
    paho reports, at once, from paho's callback. Reading pauses while more than
    ``max_incoming`` messages wait in ``incoming``.
    """

    def __init__(
        self,
        *,
        on_disconnect: Callable[[ReasonCode], None],
        max_incoming: int,
        counters: InboundCounters,
        name: str = "mqtt",
    ) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client: paho.Client | None = None
        #: Set when the link goes: a DISCONNECT, or a failed read, write or keepalive.
        self.disconnected = asyncio.Event()
        #: Messages in arrival order; each QoS 1 one is acknowledged by its consumer.
        self.incoming: InboundQueue[Incoming] = InboundQueue(
            max_incoming, counters, self._resume_reading
        )
        #: Increases with every new socket: an acknowledgement belongs to one connection.
        self.connection = 0
        #: QoS 1 publishes waiting for their PUBACK reason code (None: no code sent).
        self.puback: AckWaiters[ReasonCode | None] = AckWaiters()
        self.suback: AckWaiters[list[ReasonCode]] = AckWaiters()
        self._on_disconnect_reason = on_disconnect
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._sock_fd: int | None = None
        self._loop_thread: int | None = None
        self._reading = False
        #: The reader is off because ``incoming`` is over its limit.
        self._read_paused = False
        self._paused_at = 0.0
        #: QoS 0 messages read now are dropped (a drain during a long pause).
        self._shedding = False
        #: ``qos0_shed`` when the pause began.
        self._shed_before = 0
        self._counters = counters
        self._name = name

    def attach(self, client: paho.Client) -> None:
        """Drive ``client`` from the running loop; call on the loop before connecting."""
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self.client = client

    def require_client(self) -> paho.Client:
        if self.client is None:
            raise SessionClosedError("the session is not open: use 'async with'")
        return self.client

    def require_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            raise SessionClosedError("the session is not open: use 'async with'")
        return self.loop

    def expect_connack(self) -> asyncio.Future[ReasonCode]:
        """A future for the CONNACK of the connection about to be opened.

        It fails with MqttError if the link goes before the CONNACK comes.
        """
        self._connack = self.require_loop().create_future()
        return self._connack

    async def keepalive(
        self, connected: asyncio.Event, keepalive_s: float, tick: Callable[[], None]
    ) -> None:
        """Keepalive pings and their time-outs while ``connected``, and ``tick()``, every
        second; runs until cancelled."""
        # paho needs loop_misc called about once a second.
        client = self.require_client()
        loop = self.require_loop()
        while True:
            await asyncio.sleep(1.0)
            if self._read_paused and loop.time() - self._paused_at >= keepalive_s / 2:
                self._drain(client)
            if connected.is_set() and self._sock_fd is not None:
                if client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self.disconnected.set()
            try:
                tick()
            except Exception:
                logger.exception("mqtt housekeeping failed")

    def drop_socket(self) -> None:
        """Stop watching the socket (it is closed, or about to be)."""
        fd = self._sock_fd
        if fd is None or self.loop is None:
            return
        self._sock_fd = None
        self._read_paused = False
        self.loop.remove_reader(fd)
        self.loop.remove_writer(fd)

    def close_socket(self) -> None:
        """Close the socket without a DISCONNECT, as a crash would (the will fires)."""
        client = self.client
        if client is None:
            return
        sock = client.socket()
        self.drop_socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

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
        self._soon(self.disconnected.set)
        fut = self._connack
        if fut is not None and not fut.done():
            # Lost before any CONNACK: a network failure to retry, not a refused login.
            lost = MqttError(f"connection closed before CONNACK: {reason_code}")
            self._soon(_set_exception, fut, lost)
        self._on_disconnect_reason(reason_code)

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.puback.resolve(mid, reason_code)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self.suback.resolve(mid, list(reason_codes))

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if self._shedding and msg.qos == 0:
            self._counters.qos0_shed += 1
            return
        self.incoming.put((self.connection, msg))

    # -- the socket -----------------------------------------------------------------------
    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # Called in the connect worker thread: the socket is watched by ``watch_socket``
        # on the loop once the connect has returned, never from here. A socket the
        # worker opens and closes again (a refused TCP or TLS connect) is then never
        # registered, and the loop never holds a closed file descriptor.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def watch_socket(self) -> None:
        """Watch the socket a connect opened; call on the loop after it has returned.

        Its CONNECT waits in paho's queue until now (the write callback ignores the
        worker thread) and is written here.
        """
        client = self.require_client()
        loop = self.require_loop()
        sock = client.socket()
        fd = sock.fileno() if sock is not None else -1
        if fd < 0:
            return
        # A number the selector still holds is stale (this socket is new): some other
        # library closed a watched socket without unwatching it. Left there, the watch
        # below would change only asyncio's bookkeeping and never reach epoll.
        for unwatch in (loop.remove_reader, loop.remove_writer):
            with contextlib.suppress(OSError):
                unwatch(fd)
        self._sock_fd = fd
        self.connection += 1
        # Read even if the queue is full: the CONNACK must come in. _read_ready pauses
        # again after it if the queue is still over its limit.
        self._read_paused = False
        loop.add_reader(fd, self._read_ready, client)
        if client.want_write():
            self._flush(fd, client)

    def _read_ready(self, client: paho.Client) -> None:
        self._reading = True
        try:
            while True:
                rc = client.loop_read()
                sock = client.socket()
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None:
                    break
                if self.incoming.over_limit:
                    self._pause_reading()
                    break
                pending = getattr(sock, "pending", None)
                if pending is None or pending() == 0:
                    break
        except Exception as exc:  # paho raises plain socket errors
            logger.debug("mqtt read failed: %s", exc)
            self.disconnected.set()
        finally:
            self._reading = False

    def _drain(self, client: paho.Client) -> None:
        """During a long pause: read what the socket holds now, dropping QoS 0 messages."""
        fd = self._sock_fd
        if fd is None:
            return
        shed = self._counters.qos0_shed
        readable = select.poll()
        readable.register(fd, select.POLLIN)
        self._shedding = True
        self._reading = True
        try:
            for _ in range(_DRAIN_MAX_PACKETS):  # bounded, however fast the broker sends
                sock = client.socket()
                pending = getattr(sock, "pending", None)
                tls_bytes = pending is not None and pending() > 0
                if sock is None or not (tls_bytes or readable.poll(0)):
                    break
                if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
        except Exception as exc:  # paho raises plain socket errors
            logger.debug("mqtt read failed: %s", exc)
            self.disconnected.set()
        finally:
            self._shedding = False
            self._reading = False
        if shed == self._shed_before and self._counters.qos0_shed > shed:
            logger.warning(
                "mqtt %s: handlers are behind (%d messages wait): QoS 0 messages are "
                "dropped until they catch up",
                self._name,
                len(self.incoming),
            )

    def _pause_reading(self) -> None:
        fd = self._sock_fd
        if fd is None or self._read_paused:
            return
        self._read_paused = True
        self._paused_at = self.require_loop().time()
        self._shed_before = self._counters.qos0_shed
        self.require_loop().remove_reader(fd)
        logger.debug(
            "mqtt %s: %d messages wait for handlers; reading paused", self._name, len(self.incoming)
        )

    def _resume_reading(self) -> None:
        """The inbound queue has room again (called by it, on the loop)."""
        fd, client = self._sock_fd, self.client
        if not self._read_paused or fd is None or client is None:
            return
        self._read_paused = False
        shed = self._counters.qos0_shed - self._shed_before
        if shed:
            logger.warning(
                "mqtt %s: handlers caught up; %d QoS 0 messages dropped", self._name, shed
            )
        loop = self.require_loop()
        loop.add_reader(fd, self._read_ready, client)
        # TLS may hold decrypted bytes the selector cannot see: read them now.
        loop.call_soon(self._read_ready, client)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # paho closes the socket right after this returns. Its file descriptor must leave
        # the loop's selector first: a number the selector still holds after the close
        # belongs to the next socket opened (an HTTP connection, a listener), whose
        # registration then silently fails or is removed by a late drop.
        if threading.get_ident() == self._loop_thread:
            if sock.fileno() == self._sock_fd:
                self.drop_socket()
        elif self._sock_fd is not None and sock.fileno() == self._sock_fd:
            # The worker closes only sockets the session dropped before reconnecting, or
            # ones it opened itself (never watched): this would be a bug.
            logger.error("mqtt %s: a watched socket was closed off the loop", self._name)
            self._soon(self.drop_socket)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # paho has bytes to send (a PUBLISH, a PUBACK ...). On the event loop thread we
        # write them at once: going through add_writer costs two more turns of the
        # selector on the path of every publish and every acknowledgement.
        fd = sock.fileno()
        if fd < 0 or threading.get_ident() != self._loop_thread:
            return  # the connect worker's CONNECT: written by ``watch_socket``
        if self._reading:
            # Inside paho's own read loop: write once it has returned (no syscall).
            self.require_loop().call_soon(self._flush, fd, client)
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
            self.disconnected.set()

    def _add_writer(self, fd: int, client: paho.Client) -> None:
        sock = client.socket()
        if sock is not None and sock.fileno() == fd:  # not a socket closed meanwhile
            self.require_loop().add_writer(fd, self._write_ready, client)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()
        if fd >= 0 and fd == self._sock_fd and threading.get_ident() == self._loop_thread:
            self.require_loop().remove_writer(fd)

    def _soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback`` on the event loop; paho may call us from a worker thread.

        After the loop has closed (paho's ``__del__`` still closes its sockets and
        calls back) there is nothing left to tell, so the call is dropped.
        """
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(callback, *args)


def _set_result(fut: asyncio.Future[ReasonCode], value: ReasonCode) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[ReasonCode], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
