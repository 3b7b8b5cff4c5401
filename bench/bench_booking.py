"""Booking latency: POST /v1/reservations -> the retained StopCall arriving at a subscriber.

Runs the real API (``bushail-api serve`` in its own process) against the managed
Mosquitto and the synthetic Taipei feed, books at a steady rate from many riders, and
prints median / p99 latency and throughput, for SQLite and (when
BUSHAIL_TEST_POSTGRES_URL is set) PostgreSQL.

    .venv/bin/python -m bench.bench_booking --rate 50 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlmodel import SQLModel

from bench.common import percentile
from broker_config.broker import BrokerSettings, ManagedBroker, free_port
from broker_config.registry import DeviceRegistry, read_gtfs_stop_ids
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import TopicKind, Topics
from rider_api import models
from rider_api.db.engine import make_sync_engine
from rider_api.db.migrate import upgrade
from rider_api.network.importer import import_feed

FEED = Path(__file__).resolve().parent.parent / "rider_api" / "data" / "taipei_demo"


def _prepare_db(url: str) -> list[tuple[str, str, int]]:
    engine = make_sync_engine(url)
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    upgrade(url)
    import_feed(url, FEED)
    engine = make_sync_engine(url)
    from sqlmodel import Session, select

    with Session(engine) as s:
        rows = s.exec(select(models.RouteStop)).all()
        last: dict[tuple[str, int], int] = {}
        for r in rows:
            key = (r.route_id, r.direction_id)
            last[key] = max(last.get(key, 0), r.position)
        # Any stop but the last of its direction can be booked.
        choices = [
            (r.stop_id, r.route_id, r.direction_id)
            for r in rows
            if r.position < last[(r.route_id, r.direction_id)]
        ]
    engine.dispose()
    return choices


async def run(label: str, url: str, rate: float, duration: float, workdir: Path) -> None:
    choices = _prepare_db(url)
    # The subscriber reads as a monitor: the server's own login would take the API's
    # session over (the broker binds client ids to logins).
    registry = DeviceRegistry(stops=read_gtfs_stop_ids(FEED), monitors={"bench"})
    settings = BrokerSettings(state_dir=workdir / f"broker-{label}", port=0)
    async with ManagedBroker(settings, registry) as broker:
        port = free_port()
        env = {
            **os.environ,
            "BUSHAIL_API_DATABASE_URL": url,
            "BUSHAIL_API_STATE_DIR": str(workdir / f"api-{label}"),
            "BUSHAIL_API_MQTT_PORT": str(broker.port),
            "BUSHAIL_API_MQTT_CREDENTIALS_FILE": str(broker.state_dir / "credentials.json"),
            "BUSHAIL_API_MAX_BOOKINGS_PER_MINUTE_PER_RIDER": "1000",
            # Every bench rider signs up from 127.0.0.1.
            "BUSHAIL_API_SIGN_UP_LIMIT": "100000",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rider_api.cli",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        try:
            await _measure(label, broker, port, choices, rate, duration)
        finally:
            proc.terminate()
            proc.wait(10)


async def _measure(
    label: str,
    broker: ManagedBroker,
    port: int,
    choices: list[tuple[str, str, int]],
    rate: float,
    duration: float,
) -> None:
    topics = Topics()
    arrived: dict[str, float] = {}

    async def on_call(msg: ReceivedMessage) -> None:
        if msg.payload:
            rid = json.loads(msg.payload)["reservation_id"]
            arrived.setdefault(rid, time.perf_counter())

    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for _ in range(200):
            try:
                if (await client.get("/healthz")).json().get("broker_connected"):
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        total = int(rate * duration)
        riders = []
        for i in range(max(1, total // 3 + 1)):
            r = await client.post("/v1/riders", json={"display_name": f"bench {i}"})
            riders.append({"Authorization": f"Bearer {r.json()['token']}"})
        options = SessionOptions(client_id="monitor.bench", clean_start=True)
        async with MqttSession(broker.endpoint("monitor.bench"), options) as sub:
            await sub.wait_connected(10)
            await sub.subscribe(topics.all_of(TopicKind.STOP_CALL), on_call)
            sent: dict[str, float] = {}
            errors: collections.Counter[int] = collections.Counter()
            order = list(range(len(choices)))
            random.Random(7).shuffle(order)

            async def one(i: int) -> None:
                # Consecutive bookings (the same rider's three) take different stops.
                stop_id, route_id, direction_id = choices[order[i % len(order)]]
                t0 = time.perf_counter()
                r = await client.post(
                    "/v1/reservations",
                    json={"stop_id": stop_id, "route_id": route_id, "direction_id": direction_id},
                    headers=riders[i // 3],
                )
                if r.status_code != 201:
                    errors[r.status_code] += 1
                    return
                sent[r.json()["id"]] = t0

            start = time.perf_counter()
            tasks = []
            for i in range(total):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - start
            deadline = time.perf_counter() + 10
            while (
                len([k for k in sent if k in arrived]) < len(sent)
                and time.perf_counter() < deadline
            ):
                await asyncio.sleep(0.05)
    lat = [(arrived[k] - t0) * 1000 for k, t0 in sent.items() if k in arrived]
    lost = len(sent) - len(lat)
    print(
        f"{label:10s} bookings={len(sent)} errors={dict(errors)} lost={lost} "
        f"rate={len(sent) / elapsed:.1f}/s  POST->StopCall median={statistics.median(lat):.1f} ms "
        f"p99={percentile(lat, 0.99):.1f} ms max={max(lat):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        asyncio.run(run("sqlite", f"sqlite:///{work / 'bench.db'}", args.rate, args.duration, work))
        pg = os.environ.get("BUSHAIL_TEST_POSTGRES_URL")
        if pg:
            asyncio.run(run("postgresql", pg, args.rate, args.duration, work))
        else:
            print("postgresql skipped: set BUSHAIL_TEST_POSTGRES_URL")


if __name__ == "__main__":
    main()
