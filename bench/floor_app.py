"""The bare floor of a booking, for ``bench_critical_path``: the least a server can do.

A minimal FastAPI app (``async def``, a pydantic body, uvicorn as the project runs it):
``POST /v1/bookings`` inserts one row and commits (stdlib sqlite3 in WAL with
``synchronous=NORMAL`` on the event loop thread, or psycopg's asyncio connections on
PostgreSQL, as the project uses), publishes
one retained QoS 1 message to the vehicle's alert topic with a bare paho client
(``loop_start`` thread, TCP_NODELAY) and answers 201. No authentication, limits,
dispatch, history or outbox: what is left is the HTTP server, the database commit and
the broker, the chain every booking must pay for.

    .venv/bin/python -m bench.floor_app --port 8100 --database sqlite:///floor.db \
        --mqtt-port 1883 --credentials-file broker/credentials.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
import uvicorn
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from broker_config.registry import Credentials
from broker_config.topics import Topics

__all__ = ["FLOOR_LOGIN", "FloorBooking", "create_floor_app"]

#: The floor's broker login: a server instance of its own (``servers={"api", "floor"}``).
FLOOR_LOGIN = "server.floor"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS floor_booking (id TEXT PRIMARY KEY, stop_id TEXT NOT NULL, "
    "route_id TEXT NOT NULL, direction_id INTEGER NOT NULL, vehicle_id TEXT NOT NULL)"
)


class FloorBooking(BaseModel):
    stop_id: str
    route_id: str
    direction_id: int
    #: The floor does no dispatch: the caller names the bus to alert.
    vehicle_id: str


Row = tuple[str, str, str, int, str]
Writer = Callable[[Row], Awaitable[None]]


def _sqlite_writer(path: str) -> Writer:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(_SCHEMA)
    conn.commit()

    async def write(row: Row) -> None:
        # On the event loop thread: a WAL commit with synchronous=NORMAL waits on no disk.
        conn.execute("INSERT INTO floor_booking VALUES (?, ?, ?, ?, ?)", row)
        conn.commit()

    return write


async def _postgres_writer(conninfo: str, connections: int = 8) -> Writer:
    # Asynchronous, as the project's driver is: a commit waits for PostgreSQL's WAL flush,
    # and the event loop serves other requests meanwhile. A few connections, taken in
    # turn, let commits overlap.
    idle: asyncio.Queue[psycopg.AsyncConnection[tuple[object, ...]]] = asyncio.Queue()
    for _ in range(connections):
        conn = await psycopg.AsyncConnection.connect(conninfo)
        await conn.execute(_SCHEMA)
        await conn.commit()
        idle.put_nowait(conn)

    async def write(row: Row) -> None:
        conn = await idle.get()
        try:
            await conn.execute("INSERT INTO floor_booking VALUES (%s, %s, %s, %s, %s)", row)
            await conn.commit()
        finally:
            idle.put_nowait(conn)

    return write


async def _writer(database: str) -> Writer:
    url = make_url(database)
    if url.get_backend_name() == "postgresql":
        return await _postgres_writer(url.set(drivername="postgresql").render_as_string(False))
    return _sqlite_writer(url.database or ":memory:")


def _paho(host: str, port: int, username: str, password: str) -> paho.Client:
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=username,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(username, password)
    connected = threading.Event()

    def on_connect(c: paho.Client, *_: Any) -> None:
        sock = c.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connected.set()

    client.on_connect = on_connect
    client.connect(host, port, clean_start=True)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError(f"the floor could not connect to the broker at {host}:{port}")
    return client


def create_floor_app(
    *, database: str, mqtt_host: str, mqtt_port: int, mqtt_password: str
) -> FastAPI:
    """The floor app; the database and the broker link open in its lifespan."""
    topics = Topics()
    held: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        held["write"] = await _writer(database)
        client = _paho(mqtt_host, mqtt_port, FLOOR_LOGIN, mqtt_password)
        held["mqtt"] = client
        try:
            yield
        finally:
            client.disconnect()
            client.loop_stop()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/v1/bookings", status_code=201)
    async def book(body: FloorBooking) -> dict[str, str]:
        booking_id = str(uuid.uuid4())
        await held["write"](
            (booking_id, body.stop_id, body.route_id, body.direction_id, body.vehicle_id)
        )
        payload = json.dumps({"reservation_id": booking_id}).encode()
        client: paho.Client = held["mqtt"]
        client.publish(
            topics.vehicle_alert(body.vehicle_id, booking_id), payload, qos=1, retain=True
        )
        return {"id": booking_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        client: paho.Client | None = held.get("mqtt")
        return {"ready": client is not None and client.is_connected()}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="sqlite:///path or postgresql://...")
    parser.add_argument("--mqtt-host", default="127.0.0.1")
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--credentials-file", type=Path, required=True)
    args = parser.parse_args()
    password = Credentials(args.credentials_file).password(FLOOR_LOGIN)
    app = create_floor_app(
        database=args.database,
        mqtt_host=args.mqtt_host,
        mqtt_port=args.mqtt_port,
        mqtt_password=password,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
