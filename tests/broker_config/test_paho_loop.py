"""The paho client's socket and the event loop's selector: no closed number left behind.

paho closes its socket when the link drops. If the loop still watched that file
descriptor number, the next socket opened gets the same number and its watch silently
fails (asyncio thinks the number is registered already): an HTTP connection made in
that moment never connects, a listener never accepts. Seen as a rare refused first
request in the suite.
"""

from __future__ import annotations

import asyncio
import socket

from paho.mqtt.reasoncodes import ReasonCode

from broker_config.broker import ManagedBroker
from broker_config.endpoint import SessionOptions
from broker_config.inbound import InboundCounters
from broker_config.paho_loop import PahoLoop, connect_blocking, make_client


async def test_a_socket_opened_as_the_link_drops_is_watched(broker: ManagedBroker) -> None:
    loop = asyncio.get_running_loop()
    endpoint = broker.endpoint("stop.S1")
    options = SessionOptions(client_id="stop.S1", clean_start=True)
    opened: list[socket.socket] = []
    heard = asyncio.Event()

    def on_disconnect(reason: ReasonCode) -> None:
        # paho has just closed the link's socket: a new one gets its number.
        a, b = socket.socketpair()
        opened.extend((a, b))
        loop.add_reader(a.fileno(), heard.set)
        b.send(b"x")

    driver = PahoLoop(on_disconnect=on_disconnect, max_incoming=100, counters=InboundCounters())
    client = make_client(endpoint, options)
    driver.attach(client)
    connack = driver.expect_connack()
    await asyncio.to_thread(connect_blocking, client, endpoint, options, first=True)
    driver.watch_socket()
    assert not (await asyncio.wait_for(connack, 10)).is_failure
    link_fd = client.socket().fileno()  # type: ignore[union-attr]

    # The same login again: the broker takes the session over and drops the first link.
    other = make_client(endpoint, options)
    await asyncio.to_thread(other.connect, endpoint.host, endpoint.port)
    other.loop_start()
    try:
        await asyncio.wait_for(driver.disconnected.wait(), 10)
        assert opened, "the link did not drop"
        assert opened[0].fileno() == link_fd  # the case that matters: the number reused
        await asyncio.wait_for(heard.wait(), 10)
    finally:
        other.loop_stop()
        other.disconnect()
        for s in opened:
            loop.remove_reader(s.fileno())
            s.close()
        driver.drop_socket()


async def test_a_number_another_library_left_watched_does_not_deafen_the_session(
    broker: ManagedBroker,
) -> None:
    loop = asyncio.get_running_loop()
    endpoint = broker.endpoint("stop.S1")
    options = SessionOptions(client_id="stop.S1", clean_start=True)
    driver = PahoLoop(on_disconnect=lambda _r: None, max_incoming=100, counters=InboundCounters())
    client = make_client(endpoint, options)
    driver.attach(client)
    # A socket closed while still watched, as a careless library might leave it.
    a, b = socket.socketpair()
    b.close()
    stale = a.fileno()
    loop.add_reader(stale, lambda: None)
    a.close()
    connack = driver.expect_connack()
    try:
        await asyncio.to_thread(connect_blocking, client, endpoint, options, first=True)
        assert client.socket().fileno() == stale  # type: ignore[union-attr]  # the case
        driver.watch_socket()
        assert not (await asyncio.wait_for(connack, 10)).is_failure
    finally:
        driver.close_socket()
