"""QoS 1 publish-to-receive round trip: MqttSession vs a bare paho client.

Starts the managed Mosquitto (the project's rendered config, a free port), then sends
messages one at a time from a stop-gateway login to a server login and prints the
median and p99 time from the publish call to the subscriber's handler, first through
MqttSession, then through two bare paho clients (``loop_start`` threads, TCP_NODELAY).

    .venv/bin/python bench/bench_mqtt.py [--messages 2000] [--rounds 1]

Target: the session layer adds no more than 20% to the bare figure.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.registry import DeviceRegistry
from broker_config.session import BrokerEndpoint, MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import Topics

STOP = "BENCH-1"
WARMUP = 200
PAYLOAD = b'{"v":1,"id":"00000000-0000-0000-0000-000000000000","type":"button"}'


def _summary(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) / 1000, p99 / 1000


async def bench_session(pub_ep: BrokerEndpoint, sub_ep: BrokerEndpoint, n: int) -> list[int]:
    topic = Topics().stop_events(STOP)
    received: asyncio.Queue[int] = asyncio.Queue()

    async def on_message(msg: ReceivedMessage) -> None:
        received.put_nowait(time.perf_counter_ns())

    def opts(name: str) -> SessionOptions:
        return SessionOptions(client_id=f"bench-{name}", clean_start=True, session_expiry_s=0)

    async with (
        MqttSession(sub_ep, opts("sub")) as sub,
        MqttSession(pub_ep, opts("pub")) as pub,
    ):
        await sub.subscribe(topic, on_message)
        await sub.wait_connected(10)
        await pub.wait_connected(10)
        samples = []
        for i in range(WARMUP + n):
            start = time.perf_counter_ns()
            await pub.publish(topic, PAYLOAD, qos=1)
            try:
                arrived = await asyncio.wait_for(received.get(), 5)
            except TimeoutError:
                raise SystemExit(f"lost message {i}") from None
            if i >= WARMUP:
                samples.append(arrived - start)
        return samples


def _bare_client(ep: BrokerEndpoint, connected: threading.Event) -> paho.Client:
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(ep.username, ep.password)

    def on_connect(c: paho.Client, *_: Any) -> None:
        sock = c.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connected.set()

    client.on_connect = on_connect
    client.connect(ep.host, ep.port, clean_start=True)
    client.loop_start()
    return client


def bench_bare(pub_ep: BrokerEndpoint, sub_ep: BrokerEndpoint, n: int) -> list[int]:
    topic = Topics().stop_events(STOP)
    arrived_at: list[int] = []
    arrived = threading.Event()
    subscribed = threading.Event()

    def on_message(c: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        arrived_at.append(time.perf_counter_ns())
        arrived.set()

    sub_up, pub_up = threading.Event(), threading.Event()
    sub = _bare_client(sub_ep, sub_up)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    pub = _bare_client(pub_ep, pub_up)
    try:
        if not (sub_up.wait(10) and pub_up.wait(10)):
            raise SystemExit("bare paho clients did not connect")
        sub.subscribe(topic, qos=1)
        if not subscribed.wait(10):
            raise SystemExit("bare paho subscription was not acknowledged")
        samples = []
        for i in range(WARMUP + n):
            arrived.clear()
            start = time.perf_counter_ns()
            info = pub.publish(topic, PAYLOAD, qos=1)
            if not arrived.wait(5):
                raise SystemExit(f"bare paho lost message {i}")
            info.wait_for_publish(5)  # one at a time: PUBACK before the next
            if i >= WARMUP:
                samples.append(arrived_at[-1] - start)
        return samples
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the two this often")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = BrokerSettings(state_dir=Path(tmp) / "broker", port=0)
        async with ManagedBroker(settings, DeviceRegistry(stops={STOP})) as broker:
            pub_ep, sub_ep = broker.endpoint(f"stop.{STOP}"), broker.endpoint("server.api")
            session_all: list[int] = []
            bare_all: list[int] = []
            for _ in range(args.rounds):
                session_all += await bench_session(pub_ep, sub_ep, args.messages)
                bare_all += await asyncio.to_thread(bench_bare, pub_ep, sub_ep, args.messages)
    s_med, s_p99 = _summary(session_all)
    b_med, b_p99 = _summary(bare_all)
    n = len(session_all)
    print(f"QoS 1 publish-to-receive round trip, {n} messages one at a time (microseconds)")
    print(f"{'client':<24}{'median':>10}{'p99':>10}")
    print(f"{'MqttSession':<24}{s_med:>10.0f}{s_p99:>10.0f}")
    print(f"{'bare paho (loop_start)':<24}{b_med:>10.0f}{b_p99:>10.0f}")
    overhead = (s_med / b_med - 1) * 100
    verdict = "within" if overhead <= 20 else "OVER"
    print(f"session layer overhead on the median: {overhead:+.0f}% ({verdict} the 20% target)")


if __name__ == "__main__":
    asyncio.run(main())
