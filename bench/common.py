"""What several benchmarks share: the demo feed in a fresh database, the API in its own
process, a light HTTP/1.1 client and percentiles.

The HTTP client is deliberately small (keep-alive connections over asyncio streams, a
pool that grows as requests overlap): a load generator that spends a millisecond of CPU
per request, as a general-purpose client does, would be the first thing to saturate on
a two-core machine and would hide the servers' own limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

from rider_api import models
from rider_api.db.engine import make_sync_engine
from rider_api.db.migrate import upgrade
from rider_api.network.importer import import_feed

__all__ = [
    "FEED",
    "ApiProcess",
    "Direction",
    "HttpPool",
    "bookable_stops",
    "ensure_postgres_database",
    "percentile",
    "prepare_db",
    "process_cpu_s",
]

FEED = Path(__file__).resolve().parent.parent / "rider_api" / "data" / "taipei_demo"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ensure_postgres_database(url: str) -> None:
    """Create the database of a PostgreSQL ``url`` if it does not exist yet."""
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise ValueError(f"no database name in {url!r}")
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')


@dataclass(frozen=True, slots=True)
class Direction:
    """One route direction of the imported feed: its stops in order and a trip of it."""

    route_id: str
    direction_id: int
    stop_ids: tuple[str, ...]
    trip_id: str | None
    #: (lat, lon) of each stop, in the same order.
    coordinates: tuple[tuple[float, float], ...]


def prepare_db(url: str, feed: Path = FEED) -> list[Direction]:
    """An empty schema with ``feed`` imported; returns its route directions."""
    if make_url(url).get_backend_name() == "postgresql":
        ensure_postgres_database(url)
    engine = make_sync_engine(url)
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    upgrade(url)
    import_feed(url, feed)
    engine = make_sync_engine(url)
    try:
        with Session(engine) as s:
            rows = s.exec(select(models.RouteStop)).all()
            stops = {st.stop_id: (st.lat, st.lon) for st in s.exec(select(models.Stop)).all()}
            trips: dict[tuple[str, int], str] = {}
            for trip in s.exec(select(models.Trip).order_by(models.Trip.trip_id)).all():
                trips.setdefault((trip.route_id, trip.direction_id), trip.trip_id)
    finally:
        engine.dispose()
    ordered: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for r in rows:
        ordered.setdefault((r.route_id, r.direction_id), []).append((r.position, r.stop_id))
    out = []
    for (route_id, direction_id), positions in sorted(ordered.items()):
        stop_ids = tuple(stop for _pos, stop in sorted(positions))
        out.append(
            Direction(
                route_id,
                direction_id,
                stop_ids,
                trips.get((route_id, direction_id)),
                tuple(stops[s] for s in stop_ids),
            )
        )
    return out


def bookable_stops(directions: Sequence[Direction], *, skip: int = 0) -> list[tuple[str, str, int]]:
    """(stop, route, direction) of every stop that can be booked: any but the last, and
    any but the first ``skip`` (a bus waiting at the first can be assigned the others)."""
    return [
        (stop_id, d.route_id, d.direction_id) for d in directions for stop_id in d.stop_ids[skip:-1]
    ]


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class ApiProcess:
    """``bushail-api serve`` in a process of its own, for ``async with``; ready once its
    broker session is up."""

    def __init__(self, port: int, env: Mapping[str, str], *, log_level: str = "warning") -> None:
        self.port = port
        self._env = dict(env)
        self._log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def __aenter__(self) -> ApiProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rider_api.cli",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                self._log_level,
            ],
            env={**os.environ, **self._env},
        )
        await wait_ready(self.port, "broker_connected", self.proc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def wait_ready(
    port: int, flag: str, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 60.0
) -> None:
    """Poll ``GET /healthz`` on ``port`` until its JSON says ``flag`` is true."""
    async with asyncio.timeout(timeout_s):
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
            with contextlib.suppress(OSError, ValueError, asyncio.IncompleteReadError):
                async with HttpPool("127.0.0.1", port, max_connections=1) as pool:
                    status, body = await pool.request("GET", "/healthz")
                    if status == 200 and json.loads(body).get(flag):
                        return
            await asyncio.sleep(0.1)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @property
    def closing(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class HttpPool:
    """Keep-alive HTTP/1.1 connections to one server; a new one opens whenever all are
    busy (up to ``max_connections``, then requests wait for one)."""

    def __init__(self, host: str, port: int, *, max_connections: int = 512) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._all: set[_Connection] = set()

    async def __aenter__(self) -> HttpPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Connection]:
        async with self._slots:
            # The server closes connections idle past its keep-alive time (uvicorn: 5 s).
            while self._idle and (self._idle[-1].reader.at_eof() or self._idle[-1].closing):
                stale = self._idle.pop()
                stale.close()
                self._all.discard(stale)
            if self._idle:
                conn = self._idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                conn = _Connection(reader, writer)
                self._all.add(conn)
            reusable = False
            try:
                yield conn
                reusable = True
            finally:
                if reusable and not conn.writer.is_closing():
                    self._idle.append(conn)
                else:
                    conn.close()
                    self._all.discard(conn)

    async def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request (``body`` as JSON); return the status and the response body.

        A kept-alive connection the server closed meanwhile is retried once on a new one.
        """
        for attempt in (1, 2):
            try:
                return await self._request(method, path, body, headers)
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                partial = getattr(exc, "partial", b"")
                if attempt == 2 or partial:
                    raise
        raise AssertionError("unreachable")

    async def _request(
        self,
        method: str,
        path: str,
        body: object | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        async with self._connection() as conn:
            conn.writer.write(head + data)
            raw = await conn.reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = raw.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ", 2)[1])
            length = 0
            close = False
            for line in header_lines:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
                elif name == "transfer-encoding":
                    raise ValueError("chunked responses are not supported by this client")
            payload = await conn.reader.readexactly(length) if length else b""
            if close:
                conn.writer.close()
            return status, payload
