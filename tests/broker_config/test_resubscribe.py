"""A session is never connected but deaf: its subscriptions are back before it says so.

Mosquitto 2.0 grants every well-formed filter (its ACL acts on delivery), so a refusing
broker is played by a minimal MQTT 5 server speaking the real wire protocol over TCP:
CONNACK to every CONNECT, a SUBACK with "not authorized" (0x87) for every filter while
it refuses, "granted QoS 1" once it stops refusing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from broker_config.errors import SubscribeRefusedError
from broker_config.session import BrokerEndpoint, MqttSession, SessionOptions
from tests.conftest import ConnectFn, Inbox
from tests.support.waiting import eventually

NOT_AUTHORIZED = 0x87
GRANTED_QOS1 = 0x01


async def _read_varint(reader: asyncio.StreamReader) -> int:
    value, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7


def _varint_at(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _suback(body: bytes, code: int) -> bytes:
    """A SUBACK for SUBSCRIBE ``body``: one reason ``code`` per filter."""
    packet_id = body[:2]
    props_len, i = _varint_at(body, 2)
    i += props_len
    filters = 0
    while i < len(body):
        length = int.from_bytes(body[i : i + 2], "big")
        i += 2 + length + 1  # the filter and its options byte
        filters += 1
    rest = packet_id + b"\x00" + bytes([code]) * filters
    return bytes([0x90, len(rest)]) + rest


class RefusingBroker:
    """Answers CONNECT, SUBSCRIBE and PINGREQ; refuses subscriptions while ``refusing``."""

    def __init__(self) -> None:
        self.refusing = True
        self.connects = 0
        self.refusals = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                kind = (await reader.readexactly(1))[0] >> 4
                body = await reader.readexactly(await _read_varint(reader))
                if kind == 1:  # CONNECT
                    self.connects += 1
                    writer.write(b"\x20\x03\x00\x00\x00")
                elif kind == 8:  # SUBSCRIBE
                    self.refusals += self.refusing
                    writer.write(_suback(body, NOT_AUTHORIZED if self.refusing else GRANTED_QOS1))
                elif kind == 12:  # PINGREQ
                    writer.write(b"\xd0\x00")
                elif kind == 14:  # DISCONNECT
                    break
                await writer.drain()
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RefusingBroker]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self


async def test_a_refused_resubscription_is_not_a_connection(inbox: Inbox) -> None:
    """A filter refused on (re)connect ends that connection: ``connected`` stays false and
    the session tries again with back-off, until the broker grants it."""
    broker = RefusingBroker()
    async with broker.running():
        endpoint = BrokerEndpoint("127.0.0.1", broker.port, "server.api", "x")
        options = SessionOptions(reconnect_min_s=0.05, reconnect_max_s=0.2)
        async with MqttSession(endpoint, options) as session:
            await session.subscribe("bushail/v1/stops/+/events", inbox)
            await eventually(lambda: broker.refusals, lambda n: n >= 3, what="retries")
            assert broker.connects >= 3
            assert not session.connected
            assert "re-subscribing failed" in (session.last_error or "")
            broker.refusing = False
            await session.wait_connected(10)
            assert session.connected


async def test_a_refused_subscribe_is_raised_and_not_kept(inbox: Inbox) -> None:
    """``subscribe`` while connected raises SubscribeRefusedError and forgets the filter, so
    reconnecting does not ask for it again (and fail forever)."""
    broker = RefusingBroker()
    broker.refusing = False
    async with broker.running():
        endpoint = BrokerEndpoint("127.0.0.1", broker.port, "server.api", "x")
        options = SessionOptions(reconnect_min_s=0.05, reconnect_max_s=0.2)
        async with MqttSession(endpoint, options) as session:
            await session.wait_connected(10)
            broker.refusing = True
            with pytest.raises(SubscribeRefusedError) as refused:
                await session.subscribe("bushail/v1/stops/+/events", inbox)
            assert refused.value.filters == ["bushail/v1/stops/+/events"]
            assert session.connected


async def test_resubscribing_on_a_real_broker_keeps_the_session_connected(
    connect: ConnectFn, inbox: Inbox
) -> None:
    """The ordinary case on Mosquitto: subscriptions made before the first connection are
    granted on connect and the session reports connected."""
    session = await connect("server.api", wait=False)
    await session.subscribe("bushail/v1/stops/+/events", inbox)
    await session.wait_connected(10)
    assert session.connected
