"""Fault injection: nothing lost, whatever fails.

One scenario per fault, each against its own fresh Mosquitto (the managed broker), a
fresh database (a SQLite file, or a scratch PostgreSQL database created and dropped
here) and the real API as a process of its own (``bushail-api serve``, ended by its PID,
with SIGKILL where the fault says ``kill -9``). Beside them run the real driver display
of bus V1 and the real stop gateway of S2 in this process, and for the gateway faults
the real ``bushail-gateway`` of S3 as a process whose keypad is its stdin. Every run
leaves its logs in its work directory: ``api.log``, ``broker.log``, ``gateway-*.log``
and ``harness.log`` (this process: the devices and the harness).

The network is one route, R1, over stops S1..S5 in both directions. Bus V1 stands at
S1 in direction 0 (its GPS says so every second). Each rider books four times: at S3
and S4 in direction 0 (assigned to V1: a DriverAlert the driver acknowledges with one
tap), at S2 ("arriving") and at S5 in direction 1 (no bus: pending). The S5 bookings and
every other S2 one are cancelled by their rider right after the answer, so calls and
alerts also end. Every request is retried (the booking with its ``Idempotency-Key``)
until it is answered, whatever fails.

Each fault script (see ``FAULTS``) runs the booking burst and injects its fault when a
given number of bookings have been answered (events, not timers), heals it, and makes
its device events (driver taps, help presses) before, during and after. Then the
harness waits, polling with a bound (``settle_s``), until everything agrees, and counts:

- **bookings** answered to the client; each must be in the database exactly once
  (``lost``: no answer, or not stored; ``duplicated``: stored twice);
- **effects**: for every reservation, its retained StopCall (and DriverAlert, when a bus
  has it) as a fresh subscriber sees it on the broker, with the database's status
  (``lost`` when missing or wrong), and none for ended ones (``stuck``); the same for
  what the S2 gateway and V1's display hold; a cancel that was answered must have
  cancelled;
- **events** made (taps the display took, presses the gateway took): each applied
  exactly once (its id processed, one "acknowledged" history row, one help incident);
- **stuck**: outbox rows the relay never sent, stale retained messages or device state,
  events the devices still hold at the end, an API not connected to the broker.

``run_fault`` runs one scenario and returns a :class:`FaultReport`; ``format_table``
prints reports as the benchmark's table (``bench/bench_faults.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import math
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from broker_config.broker import BrokerSettings, ManagedBroker, free_port
from broker_config.const import SERVER_SHARE_GROUP
from broker_config.device.audio import TextSink
from broker_config.device.speech import make_speaker
from broker_config.errors import MalformedPayloadError, MqttError
from broker_config.messages import (
    ButtonAction,
    DeviceState,
    DeviceStatus,
    DriverAlert,
    DriverEventType,
    EventReceipt,
    ReservationStatus,
    StopCall,
    VehiclePosition,
    VehicleStopStatus,
    decode,
)
from broker_config.registry import DeviceRegistry
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import Owner, TopicKind, Topics, login_for
from driver_display.display import AnswerError, DriverDisplay
from driver_display.outbox import SqliteOutbox
from driver_display.settings import DisplaySettings
from rider_api.db.engine import make_sync_engine
from rider_api.db.migrate import upgrade
from rider_api.models import Incident, OutboxMessage, ProcessedEvent, Reservation, ReservationEvent
from rider_api.network.importer import import_feed
from rider_api.reservations.changes import ALERT_STATUSES, STOP_CALL_STATUSES
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings

__all__ = [
    "FAULTS",
    "FAULT_TEXT",
    "DatabaseKind",
    "Fault",
    "FaultReport",
    "Harness",
    "format_table",
    "iter_faults",
    "run_fault",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = ReservationStatus
DatabaseKind = Literal["sqlite", "postgresql"]

STOPS = ("S1", "S2", "S3", "S4", "S5")
VEHICLE = "V1"
#: The stop whose gateway runs in this process (help presses, and its calls are checked).
PRESS_STOP = "S2"
#: The stop whose gateway runs as a process (the gateway faults).
PROCESS_STOP = "S3"
#: Each rider books these (stop, direction), one active booking per stop and route being
#: the rule; V1 stands at S1 in direction 0, direction 1 has no bus.
COMBOS: tuple[tuple[str, int], ...] = (("S2", 0), ("S3", 0), ("S4", 0), ("S5", 1))
#: Combos V1 is assigned for, still ``assigned``: the driver acknowledges these.
TAP_COMBOS = frozenset({("S3", 0), ("S4", 0)})
#: The API's client id on the broker (rider_api.app: ``bushail-server-{instance}``).
SERVER_CLIENT_ID = "bushail-server-api"
#: A stop id no gateway has: the audit's end-of-retained marker goes there.
_AUDIT_STOP = "bushail-audit"


class Fault(enum.StrEnum):
    BROKER_KILL = "broker-kill"
    BROKER_RESTART = "broker-restart"
    API_KILL = "api-kill"
    API_RESTART = "api-restart"
    GATEWAY_KILL = "gateway-kill"
    GATEWAY_KILL_PENDING = "gateway-kill-pending"
    TAP_BROKER_DOWN = "tap-broker-down"
    TAP_API_DOWN = "tap-api-down"
    PRESS_BOTH_DOWN = "press-both-down"
    ROGUE_SHARE = "rogue-share"
    ROGUE_CLIENT_ID = "rogue-client-id"


#: What each fault does, in one line (the benchmark's --help).
FAULT_TEXT: dict[Fault, str] = {
    Fault.BROKER_KILL: "kill -9 of Mosquitto a third into the bookings, back at two thirds",
    Fault.BROKER_RESTART: "Mosquitto restarted (SIGTERM, start) halfway through the bookings",
    Fault.API_KILL: "kill -9 of the API halfway through the bookings, then started again",
    Fault.API_RESTART: "the API restarted (SIGTERM, start) halfway through the bookings",
    Fault.GATEWAY_KILL: "kill -9 of the S3 gateway process between help presses, restarted",
    Fault.GATEWAY_KILL_PENDING: "kill -9 of the S3 gateway (--state-dir) holding help presses "
    "it took while its link was down (Mosquitto stopped), then both back",
    Fault.TAP_BROKER_DOWN: "driver taps while Mosquitto is down (SIGTERM)",
    Fault.TAP_API_DOWN: "driver taps while the API is down (SIGTERM)",
    Fault.PRESS_BOTH_DOWN: "help presses at S2 while both the API and Mosquitto are down",
    Fault.ROGUE_SHARE: "a stop login joins $share groups on, and subscribes to, the "
    "server's filters",
    Fault.ROGUE_CLIENT_ID: "a stop login connects with the server's client id (clean start), "
    "again each time it is thrown out, while taps and presses are made",
}


# -- what a run reports ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FaultReport:
    """One scenario's counts; ``problems`` says what each lost/duplicated/stuck item is."""

    fault: Fault
    database: DatabaseKind
    bookings: int
    events: int
    lost: int
    duplicated: int
    stuck: int
    seconds: float
    settle_seconds: float
    problems: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.stuck == 0

    def describe(self, limit: int = 40) -> str:
        """A line of counts, then the problems (the first ``limit`` of them)."""
        head = (
            f"{self.fault} on {self.database}: {self.bookings} bookings, {self.events} events, "
            f"lost {self.lost}, duplicated {self.duplicated}, stuck {self.stuck}"
        )
        lines = [head, *(f"  - {p}" for p in self.problems[:limit])]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


def format_table(reports: Sequence[FaultReport]) -> str:
    """The benchmark's table: one row per fault and database."""
    header = ("fault", "database", "bookings", "events", "lost", "duplicated", "stuck", "time")
    rows = [
        (
            str(r.fault),
            r.database,
            str(r.bookings),
            str(r.events),
            str(r.lost),
            str(r.duplicated),
            str(r.stuck),
            f"{r.seconds:.1f} s",
        )
        for r in reports
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i >= 2 else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


_Kind = Literal["lost", "duplicated", "stuck"]


@dataclass
class _Tally:
    """What went wrong, one line per problem; a line may stand for several items."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    #: Items beyond one that a line stands for ("15 of 71 presses ..."), by kind.
    more: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.stuck)

    def _lines(self, kind: _Kind) -> list[str]:
        return {"lost": self.lost, "duplicated": self.duplicated, "stuck": self.stuck}[kind]

    def add(self, kind: _Kind, items: int, line: str) -> None:
        self._lines(kind).append(line)
        self.more[kind] += items - 1

    def count(self, kind: _Kind) -> int:
        return len(self._lines(kind)) + self.more[kind]


# -- small helpers ----------------------------------------------------------------------------
async def _until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> T:
    """Call ``probe`` until it gives a value (not None); TimeoutError naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if loop.time() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(interval)


class _Progress:
    """A count that grows; ``await reached(n)`` returns once it is ``n`` or more."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self.count += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def reached(self, n: int, timeout: float = 120.0) -> None:
        async with asyncio.timeout(timeout):
            while self.count < n:
                await self._changed.wait()


def _die_with_parent() -> list[str]:
    """A prefix that ends the child when this process dies (util-linux ``setpriv``)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Also log this process's INFO lines (devices, harness) to ``path`` meanwhile."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(min(previous, logging.INFO) if previous else logging.NOTSET)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_feed(folder: Path) -> Path:
    """Route R1 over S1..S5 both ways, a trip every 4 minutes all day, 2 minutes a stop."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
        "A,Fault Bus,https://example.org,Asia/Taipei,zh-TW\n"
    )
    (folder / "stops.txt").write_text(
        "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"{s},站{s},25.04,{121.50 + 0.005 * i:.3f}\n" for i, s in enumerate(STOPS))
    )
    (folder / "routes.txt").write_text(
        "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,A,307,故障線,3\n"
    )
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "ALL,1,1,1,1,1,1,1,20200101,20351231\n"
    )
    trips = ["route_id,service_id,trip_id,trip_headsign,direction_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    for direction, order in ((0, STOPS), (1, STOPS[::-1])):
        for start in range(0, 26 * 3600, 4 * 60):
            trip_id = f"T{direction}-{start // 60:04d}"
            trips.append(f"R1,ALL,{trip_id},站{order[-1]},{direction}")
            for i, stop_id in enumerate(order):
                t = _hms(start + i * 120)
                times.append(f"{trip_id},{t},{t},{stop_id},{i + 1}")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    return folder


def _position() -> VehiclePosition:
    """V1 standing at S1, direction 0 (the first stop of its trip)."""
    return VehiclePosition(
        route_id="R1",
        direction_id=0,
        lat=25.04,
        lon=121.50,
        stop_id="S1",
        current_stop_sequence=1,
        current_status=VehicleStopStatus.STOPPED_AT,
        timestamp=time.time(),
    )


# -- databases --------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def _scratch_database(
    kind: DatabaseKind, workdir: Path, postgres_url: str | None
) -> AsyncIterator[str]:
    """A fresh, empty database for one scenario (a PostgreSQL one is dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{(workdir / 'api.db').resolve()}"
        return
    if not postgres_url:
        raise ValueError("a PostgreSQL run needs a server URL (--postgres-url)")
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"bushail_faults_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_url).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)

    def execute(statement: sql.Composed) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement)

    await asyncio.to_thread(execute, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        await asyncio.to_thread(execute, drop)


def _prepare_database(url: str, feed_dir: Path) -> None:
    """The tables and the network, in a worker thread (files and a blocking driver)."""
    upgrade(url)
    import_feed(url, write_feed(feed_dir))


# -- processes --------------------------------------------------------------------------------
class ApiProcess:
    """``bushail-api serve`` as a child process, so that it can be killed with SIGKILL."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, *, timeout: float = 60.0) -> None:
        """Start it and return once it answers and its broker session is up."""
        with self._log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *_die_with_parent(),
                sys.executable,
                "-m",
                "rider_api.cli",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "info",
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.starts += 1
        proc = self._proc
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:

            async def ready() -> bool | None:
                if proc.returncode is not None:
                    raise RuntimeError(
                        f"the API exited at start ({proc.returncode}): see {self._log_path}"
                    )
                try:
                    health = (await client.get("/healthz")).json()
                except (httpx.HTTPError, ValueError):
                    return None
                return True if health.get("broker_connected") else None

            await _until(ready, timeout=timeout, what="the API to answer with its broker connected")

    async def kill(self) -> None:
        """``kill -9``: no shutdown, no goodbye to the broker."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM: uvicorn's graceful shutdown."""
        await self._end(signal.SIGTERM)

    async def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), 20.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class GatewayProcess:
    """``bushail-gateway --keyboard`` of one stop as a child process; its keypad is stdin.

    ``async with`` opens a watch on the stop's status and receipts (to know when a run is
    online and which presses the server has answered) and starts the gateway; leaving
    stops it.
    """

    def __init__(self, *, stop_id: str, broker: ManagedBroker, log_dir: Path) -> None:
        self.stop_id = stop_id
        self._broker = broker
        self._log_dir = log_dir
        self._proc: asyncio.subprocess.Process | None = None
        self._logs: list[Path] = []
        #: Keys written to each run's stdin (the rider pressed; the device may not have read).
        self._typed: list[int] = []
        #: Ids of the presses the server has answered (a receipt on the stop's topic).
        self.receipted: set[uuid.UUID] = set()
        self._online_since: datetime | None = None
        self._online = asyncio.Event()
        self._watch: MqttSession | None = None

    async def __aenter__(self) -> GatewayProcess:
        topics = self._broker.topics
        options = SessionOptions(clean_start=True, session_expiry_s=0)
        self._watch = MqttSession(self._broker.endpoint(login_for(Owner.SERVER, "api")), options)
        await self._watch.__aenter__()
        await self._watch.wait_connected(10)
        await self._watch.subscribe(topics.stop_status(self.stop_id), self._on_status)
        await self._watch.subscribe(topics.stop_receipts(self.stop_id), self._on_receipt)
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._watch is not None:
            await self._watch.close()

    async def _on_status(self, msg: ReceivedMessage) -> None:
        with contextlib.suppress(MalformedPayloadError):
            status = decode(DeviceStatus, msg.payload)
            since = self._online_since
            if status.state is DeviceState.ONLINE and since and status.started_at >= since:
                self._online.set()

    async def _on_receipt(self, msg: ReceivedMessage) -> None:
        with contextlib.suppress(MalformedPayloadError):
            self.receipted.add(decode(EventReceipt, msg.payload).event_id)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, *, timeout: float = 30.0) -> None:
        """Start a run and return once its session is up (its retained status: online)."""
        log_path = self._log_dir / f"gateway-{self.stop_id}-{len(self._logs) + 1}.log"
        self._logs.append(log_path)
        self._typed.append(0)
        self._online_since = datetime.now(UTC)
        self._online.clear()
        with log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *_die_with_parent(),
                sys.executable,
                "-m",
                "stop_gateway.cli",
                "--stop",
                self.stop_id,
                "--keyboard",
                "--audio-sink",
                "text",
                "--no-self-test",
                "--broker-port",
                str(self._broker.port),
                "--credentials-file",
                str(self._broker.state_dir / "credentials.json"),
                # Presses not yet answered are kept on disk, across a kill -9.
                "--state-dir",
                str(self._log_dir / "gateway-state"),
                "--log-level",
                "INFO",
                stdin=asyncio.subprocess.PIPE,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        await asyncio.wait_for(self._online.wait(), timeout)

    async def press_help(self, times: int = 1) -> None:
        """Type ``h`` on its keypad (nothing happens while the process is not running)."""
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            return
        try:
            proc.stdin.write(b"h" * times)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return
        self._typed[-1] += times

    def _taken(self, path: Path) -> int:
        marker = f"stop {self.stop_id}: button help"
        with contextlib.suppress(FileNotFoundError):
            return path.read_text(errors="replace").count(marker)
        return 0

    def presses_taken(self) -> int:
        """Presses the gateway took (it logs each button), over all its runs."""
        return sum(self._taken(p) for p in self._logs)

    async def wait_taken(self, timeout: float = 10.0) -> None:
        """Until the running gateway has read every key typed to it."""
        if not self._logs or not self.alive:
            return

        async def all_read() -> bool | None:
            return True if self._taken(self._logs[-1]) >= self._typed[-1] else None

        await _until(all_read, timeout=timeout, what=f"gateway {self.stop_id} to read its keys")

    async def wait_answered(self, timeout: float = 30.0) -> None:
        """Until the server has answered as many presses as the gateway has taken now."""
        taken = self.presses_taken()

        async def answered() -> bool | None:
            return True if len(self.receipted) >= taken else None

        await _until(answered, timeout=timeout, what=f"receipts for gateway {self.stop_id}")

    async def kill(self) -> None:
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        await self._end(signal.SIGTERM)

    async def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), 10.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()


# -- the riders ---------------------------------------------------------------------------------
@dataclass
class _Booking:
    index: int
    rider_id: uuid.UUID
    headers: dict[str, str]
    stop_id: str
    direction_id: int
    cancel: bool
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    reservation_id: uuid.UUID | None = None
    cancelled: bool = False
    error: str | None = None

    @property
    def tap_target(self) -> bool:
        return (self.stop_id, self.direction_id) in TAP_COMBOS and not self.cancel


class _Riders:
    """Riders booking (and some cancelling) through the HTTP API, retrying until answered."""

    def __init__(self, api: ApiProcess, *, answer_within_s: float) -> None:
        self.api = api
        self.answer_within_s = answer_within_s
        self.bookings: list[_Booking] = []
        self.progress = _Progress()
        self.client = httpx.AsyncClient(base_url=api.url, timeout=10.0)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _retrying(
        self,
        what: str,
        request: Callable[[], Awaitable[httpx.Response]],
        done: Callable[[httpx.Response], bool],
    ) -> httpx.Response:
        """Send ``request`` until ``done`` says the answer is final (errors and 5xx retry)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.answer_within_s
        delay = 0.05
        last = "no attempt"
        while loop.time() < deadline:
            try:
                response = await request()
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500 and done(response):
                    return response
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            await asyncio.sleep(delay)
            delay = min(0.5, delay * 2)
        raise TimeoutError(f"{what}: no answer within {self.answer_within_s:g} s ({last})")

    async def sign_up(self, count: int) -> list[tuple[uuid.UUID, dict[str, str]]]:
        riders = []
        for i in range(count):
            body = {"display_name": f"rider {i}"}

            async def post(body: dict[str, str] = body) -> httpx.Response:
                return await self.client.post("/v1/riders", json=body)

            response = await self._retrying("sign-up", post, lambda r: r.status_code == 201)
            data = response.json()
            riders.append(
                (uuid.UUID(data["rider_id"]), {"Authorization": f"Bearer {data['token']}"})
            )
        return riders

    def plan(self, n: int, riders: list[tuple[uuid.UUID, dict[str, str]]]) -> None:
        per_rider = len(COMBOS)
        for i in range(n):
            stop_id, direction_id = COMBOS[i % per_rider]
            rider_id, headers = riders[i // per_rider]
            # Calls end too: waiting ones, and "arriving" ones (their alert ends with them).
            cancel = direction_id == 1 or (stop_id == "S2" and (i // per_rider) % 2 == 1)
            self.bookings.append(_Booking(i, rider_id, headers, stop_id, direction_id, cancel))

    async def run(self, concurrency: int) -> None:
        queue: asyncio.Queue[_Booking] = asyncio.Queue()
        for booking in self.bookings:
            queue.put_nowait(booking)

        async def worker() -> None:
            while not queue.empty():
                booking = queue.get_nowait()
                try:
                    await self._book(booking)
                    if booking.cancel and booking.reservation_id is not None:
                        await self._cancel(booking)
                except TimeoutError as exc:
                    booking.error = str(exc)
                self.progress.bump()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def _book(self, booking: _Booking) -> None:
        body = {"stop_id": booking.stop_id, "route_id": "R1", "direction_id": booking.direction_id}
        headers = {**booking.headers, "Idempotency-Key": booking.key}
        response = await self._retrying(
            f"booking {booking.index}",
            lambda: self.client.post("/v1/reservations", json=body, headers=headers),
            lambda r: True,
        )
        if response.status_code not in (200, 201):
            booking.error = f"refused: HTTP {response.status_code}: {response.text[:200]}"
            return
        booking.reservation_id = uuid.UUID(response.json()["id"])

    async def _cancel(self, booking: _Booking) -> None:
        path = f"/v1/reservations/{booking.reservation_id}"

        def final(r: httpx.Response) -> bool:
            # A retry after a cancel whose answer was lost finds it final already.
            return r.status_code == 200 or (
                r.status_code == 409 and r.json().get("current_status") == "cancelled"
            )

        response = await self._retrying(
            f"cancel {booking.index}",
            lambda: self.client.delete(path, headers=booking.headers),
            lambda r: r.status_code in (200, 409),
        )
        booking.cancelled = final(response)
        if not booking.cancelled:
            booking.error = f"cancel refused: HTTP {response.status_code}: {response.text[:200]}"


# -- what the harness observes ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Row:
    id: uuid.UUID
    rider_id: uuid.UUID
    stop_id: str
    direction_id: int
    status: ReservationStatus
    vehicle_id: str | None
    source: str


@dataclass(frozen=True, slots=True)
class _Observed:
    reservations: dict[uuid.UUID, _Row]
    history: collections.Counter[tuple[uuid.UUID, ReservationStatus]]
    unsent: tuple[str, ...]
    processed: frozenset[uuid.UUID]
    help_incidents: collections.Counter[str]
    retained: dict[str, bytes]
    device_pending: dict[str, int]
    #: What the in-process devices hold: the S2 gateway's calls, V1's alerts.
    gateway_calls: dict[uuid.UUID, ReservationStatus]
    display_alerts: dict[uuid.UUID, ReservationStatus]


def _read_database(
    engine: Engine,
) -> tuple[
    dict[uuid.UUID, _Row],
    collections.Counter[tuple[uuid.UUID, ReservationStatus]],
    tuple[str, ...],
    frozenset[uuid.UUID],
    collections.Counter[str],
]:
    with Session(engine) as s:
        rows = {
            r.id: _Row(
                r.id, r.rider_id, r.stop_id, r.direction_id, r.status, r.vehicle_id, r.source
            )
            for r in s.exec(select(Reservation)).all()
        }
        history = collections.Counter(
            (rid, ReservationStatus(status))
            for rid, status in s.exec(
                select(ReservationEvent.reservation_id, ReservationEvent.status)
            ).all()
        )
        unsent = tuple(
            f"outbox row {row_id} to {topic} (created {created:%H:%M:%S})"
            for row_id, topic, created in s.exec(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.created_at).where(
                    col(OutboxMessage.sent_at).is_(None)
                )
            ).all()
        )
        processed = frozenset(s.exec(select(ProcessedEvent.id)).all())
        helps = collections.Counter(
            stop_id or "?"
            for stop_id in s.exec(
                select(Incident.stop_id).where(col(Incident.kind) == "help")
            ).all()
        )
    return rows, history, unsent, processed, helps


async def _read_retained(broker: ManagedBroker, timeout: float = 10.0) -> dict[str, bytes]:
    """Every non-empty retained StopCall and DriverAlert, as a fresh subscriber sees them."""
    topics = broker.topics
    found: dict[str, bytes] = {}
    marker = topics.stop_call(_AUDIT_STOP, uuid.uuid4())
    done = asyncio.Event()

    async def collect(msg: ReceivedMessage) -> None:
        if msg.topic == marker:
            done.set()
        elif msg.retain and msg.payload:
            found[msg.topic] = msg.payload

    options = SessionOptions(clean_start=True, session_expiry_s=0)
    async with MqttSession(broker.endpoint(login_for(Owner.SERVER, "api")), options) as scan:
        await scan.wait_connected(timeout)
        for kind in (TopicKind.STOP_CALL, TopicKind.VEHICLE_ALERT):
            await scan.subscribe(topics.all_of(kind), collect)
        # Retained messages come on subscribing, before anything published after.
        await scan.publish(marker, b"", qos=1, retain=False)
        await asyncio.wait_for(done.wait(), timeout)
    return found


# -- the audit (pure) ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Made:
    """What the clients and devices did, as they saw it."""

    bookings: tuple[_Booking, ...]
    #: (event id, reservation id) of every tap the display took.
    taps: tuple[tuple[uuid.UUID, uuid.UUID], ...]
    #: Help presses each gateway took, by stop.
    presses: dict[str, int]
    #: Problems the run itself met (an alert that never came ...).
    notes: tuple[str, ...] = ()


def _audit_device(
    tally: _Tally,
    device: str,
    what: str,
    held: dict[uuid.UUID, ReservationStatus],
    live: dict[uuid.UUID, _Row],
) -> None:
    for rid, row in live.items():
        status = held.get(rid)
        if status is None:
            tally.lost.append(f"{device} has no {what} for {rid} ({row.status})")
        elif status is not row.status:
            tally.lost.append(f"{device} shows {status} for {rid} (database: {row.status})")
    for rid in held.keys() - live.keys():
        tally.stuck.append(f"{device} still shows a {what} for {rid} ({held[rid]}), ended")


def _audit(made: _Made, seen: _Observed, topics: Topics) -> _Tally:
    tally = _Tally(lost=list(made.notes))
    # Bookings: answered, stored once, cancelled when the cancel was answered.
    stored: collections.Counter[tuple[uuid.UUID, str, int]] = collections.Counter(
        (r.rider_id, r.stop_id, r.direction_id)
        for r in seen.reservations.values()
        if r.source == "app"
    )
    for b in made.bookings:
        where = f"booking {b.index} ({b.stop_id} dir {b.direction_id})"
        if b.reservation_id is None:
            if b.error is not None:  # None: never tried (a script that stopped early)
                tally.lost.append(f"{where}: {b.error}")
            continue
        row = seen.reservations.get(b.reservation_id)
        copies = stored[(b.rider_id, b.stop_id, b.direction_id)]
        if row is None:
            tally.lost.append(f"{where}: answered {b.reservation_id}, not in the database")
        if copies > 1:
            tally.add("duplicated", copies - 1, f"{where}: stored {copies} times")
        if b.error is not None:
            tally.lost.append(f"{where} {b.reservation_id}: {b.error}")
        elif b.cancel and row is not None and row.status is not S.CANCELLED:
            tally.lost.append(
                f"{where} {b.reservation_id}: cancel answered, status is {row.status}"
            )
    # Effects: every reservation's retained call and alert agree with the database.
    expected: set[str] = set()
    for r in seen.reservations.values():
        checks: list[tuple[str, type[StopCall] | type[DriverAlert]]] = []
        if r.status in STOP_CALL_STATUSES:
            checks.append((topics.stop_call(r.stop_id, r.id), StopCall))
        if r.vehicle_id is not None and r.status in ALERT_STATUSES:
            checks.append((topics.vehicle_alert(r.vehicle_id, r.id), DriverAlert))
        for topic, model in checks:
            expected.add(topic)
            payload = seen.retained.get(topic)
            what = f"{model.__name__} of {r.id} ({r.status}, {r.stop_id} dir {r.direction_id})"
            if payload is None:
                tally.lost.append(f"{what}: not retained on the broker")
                continue
            try:
                message = decode(model, payload)
            except MalformedPayloadError as exc:
                tally.lost.append(f"{what}: retained copy malformed: {exc}")
                continue
            if message.status is not r.status:
                tally.lost.append(f"{what}: the broker keeps status {message.status}")
    for topic in sorted(set(seen.retained) - expected):
        parsed = topics.parse(topic)
        rid = uuid.UUID(parsed.reservation_id) if parsed.reservation_id else None
        row = seen.reservations.get(rid) if rid else None
        state = f"{row.status}, vehicle {row.vehicle_id}" if row else "no such reservation"
        tally.stuck.append(f"stale retained {parsed.kind} on {topic} ({state})")
    # Devices: the S2 gateway and V1's display hold what the database says, nothing more.
    _audit_device(
        tally,
        f"gateway {PRESS_STOP}",
        "call",
        seen.gateway_calls,
        {
            r.id: r
            for r in seen.reservations.values()
            if r.stop_id == PRESS_STOP and r.status in STOP_CALL_STATUSES
        },
    )
    _audit_device(
        tally,
        f"display {VEHICLE}",
        "alert",
        seen.display_alerts,
        {
            r.id: r
            for r in seen.reservations.values()
            if r.vehicle_id == VEHICLE and r.status in ALERT_STATUSES
        },
    )
    # Events: each tap applied once, each press one help incident.
    for event_id, rid in made.taps:
        acks = seen.history[(rid, S.ACKNOWLEDGED)]
        if event_id not in seen.processed:
            tally.lost.append(f"tap {event_id} (acknowledge {rid}): never applied")
        elif acks == 0:
            tally.lost.append(f"tap {event_id} (acknowledge {rid}): processed, no acknowledgement")
        if acks > 1:
            tally.add("duplicated", acks - 1, f"tap {event_id}: {rid} acknowledged {acks} times")
    for stop_id, pressed in sorted(made.presses.items()):
        opened = seen.help_incidents[stop_id]
        if opened < pressed:
            line = f"{pressed - opened} of {pressed} help presses at {stop_id} never applied"
            tally.add("lost", pressed - opened, line)
        elif opened > pressed:
            line = f"{opened} help incidents at {stop_id} for {pressed} presses"
            tally.add("duplicated", opened - pressed, line)
    # Stuck: unsent outbox rows and events the devices still hold.
    tally.stuck.extend(seen.unsent)
    for device, pending in sorted(seen.device_pending.items()):
        if pending:
            tally.add("stuck", pending, f"{device} still holds {pending} event(s)")
    return tally


# -- one scenario -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Options:
    bookings: int
    settle_s: float
    concurrency: int


class _Rogue:
    """A session fighting the server for its client id."""

    def __init__(self, session: MqttSession) -> None:
        self.session = session

    async def took_over(self, times: int, *, at_most_s: float) -> None:
        """Until the rogue has connected (throwing the server out) ``times`` times in all,
        or ``at_most_s`` has passed (the war's length is the fault's timing)."""

        async def enough() -> bool | None:
            return True if self.session.connect_count >= times else None

        with contextlib.suppress(TimeoutError):
            await _until(enough, timeout=at_most_s, what="takeovers")


class Harness:
    """Broker, database, API process and devices of one scenario, as one ``async with``."""

    def __init__(
        self,
        fault: Fault,
        *,
        database: DatabaseKind,
        workdir: Path,
        options: _Options,
        postgres_url: str | None,
    ) -> None:
        self.fault = fault
        self.database = database
        self.workdir = workdir
        self.options = options
        self.postgres_url = postgres_url
        self.n = options.bookings
        self.taps: list[tuple[uuid.UUID, uuid.UUID]] = []
        self.presses: collections.Counter[str] = collections.Counter()
        self.notes: list[str] = []
        self._stack = contextlib.AsyncExitStack()
        self._engine: Engine | None = None
        self._gps: asyncio.Task[None] | None = None
        # Set in __aenter__:
        self.broker: ManagedBroker
        self.api: ApiProcess
        self.riders: _Riders
        self.display: DriverDisplay
        self.gateway: StopGateway
        self.gateway_process: GatewayProcess | None = None

    async def __aenter__(self) -> Harness:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        work = self.workdir
        url = await self._stack.enter_async_context(
            _scratch_database(self.database, work, self.postgres_url)
        )
        await asyncio.to_thread(_prepare_database, url, work / "feed")
        self._engine = make_sync_engine(url)
        self._stack.callback(self._engine.dispose)
        registry = DeviceRegistry(stops=set(STOPS), vehicles={VEHICLE})
        settings = BrokerSettings(state_dir=work / "broker", port=0)
        broker = ManagedBroker(settings, registry)
        # Runs after the broker has stopped: its last lines, for whoever reads the run.
        self._stack.callback(
            lambda: (work / "broker.log").write_text("\n".join(broker.log_lines) + "\n")
        )
        self.broker = await self._stack.enter_async_context(broker)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUSHAIL_")}
        env.update(
            {
                "BUSHAIL_API_DATABASE_URL": url,
                "BUSHAIL_API_STATE_DIR": str(work / "api"),
                "BUSHAIL_API_MQTT_PORT": str(self.broker.port),
                "BUSHAIL_API_MQTT_CREDENTIALS_FILE": str(
                    self.broker.state_dir / "credentials.json"
                ),
                "BUSHAIL_API_OPERATOR_TOKENS": '["fault-operator"]',
                "BUSHAIL_API_MAX_ACTIVE_RESERVATIONS_PER_RIDER": str(len(COMBOS)),
                "BUSHAIL_API_MAX_BOOKINGS_PER_MINUTE_PER_RIDER": "1000",
                # Every press is its own incident, so presses can be counted one by one.
                "BUSHAIL_API_STOP_HELP_WINDOW_S": "0",
                # The driver answers when the script says: keep the server's timers out.
                "BUSHAIL_API_ACK_TIMEOUT_S": "3600",
            }
        )
        self.api = ApiProcess(env=env, log_path=work / "api.log")
        self._stack.push_async_callback(self.api.stop)
        await self.api.start()
        self.riders = _Riders(self.api, answer_within_s=max(60.0, self.options.settle_s * 2))
        self._stack.push_async_callback(self.riders.aclose)
        riders = await self.riders.sign_up(math.ceil(self.n / len(COMBOS)))
        self.riders.plan(self.n, riders)
        await self._start_devices()

    async def _start_devices(self) -> None:
        work = self.workdir
        broker = self.broker
        display_settings = DisplaySettings(
            vehicle_id=VEHICLE,
            serve_screen=False,
            audio="text",
            broker_port=broker.port,
            state_dir=work / "display",
        )
        outbox = await self._stack.enter_async_context(
            SqliteOutbox(display_settings.outbox_path(VEHICLE))
        )
        endpoint = broker.endpoint(login_for(Owner.VEHICLE, VEHICLE))
        self.display = await self._stack.enter_async_context(
            DriverDisplay(display_settings, outbox=outbox, endpoint=endpoint)
        )
        gateway_settings = GatewaySettings(
            stop_id=PRESS_STOP, broker_port=broker.port, audio_sink="text", self_test=False
        )
        self.gateway = await self._stack.enter_async_context(
            StopGateway(
                gateway_settings,
                speaker=make_speaker(TextSink(name=PRESS_STOP)),
                endpoint=broker.endpoint(login_for(Owner.STOP, PRESS_STOP)),
            )
        )
        await self.display.runtime.mqtt.wait_connected(10)
        await self.gateway.wait_connected(10)
        self._gps = asyncio.create_task(self._drive(), name="fault-gps")
        self._stack.push_async_callback(self._stop_gps)
        if self.fault in (Fault.GATEWAY_KILL, Fault.GATEWAY_KILL_PENDING):
            self.gateway_process = await self._stack.enter_async_context(
                GatewayProcess(stop_id=PROCESS_STOP, broker=broker, log_dir=work)
            )

    async def _drive(self) -> None:
        """V1's GPS: its position every second (QoS 0: lost while the broker is away)."""
        while True:
            with contextlib.suppress(MqttError):
                await self.display.publish_position(_position())
            await asyncio.sleep(1.0)

    async def _stop_gps(self) -> None:
        if self._gps is not None:
            self._gps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gps

    # -- what fault scripts use --------------------------------------------------------------
    @property
    def progress(self) -> _Progress:
        return self.riders.progress

    @contextlib.asynccontextmanager
    async def burst(self) -> AsyncIterator[_Progress]:
        """The booking burst runs while the block does; leaving waits for its end."""
        task = asyncio.create_task(self.riders.run(self.options.concurrency), name="fault-bookings")
        try:
            yield self.riders.progress
        except BaseException:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise
        await task

    def at(self, fraction: float) -> int:
        """The number of answered bookings at which a step of the script happens."""
        return max(1, min(self.n, round(self.n * fraction)))

    async def wait_alerts(self, timeout: float = 30.0) -> None:
        """Until every answered booking the driver is to acknowledge shows on the display."""
        wanted = {
            b.reservation_id for b in self.riders.bookings if b.tap_target and b.reservation_id
        }
        display = self.display
        seen = -1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            missing = {rid for rid in wanted if display.store.view(rid) is None}
            if not missing:
                return
            left = deadline - loop.time()
            if left <= 0:
                some = ", ".join(sorted(map(str, missing))[:3])
                self.notes.append(f"{len(missing)} alert(s) never reached the display ({some} ...)")
                return
            with contextlib.suppress(TimeoutError):
                seen = await asyncio.wait_for(display.changes.wait(seen), left)

    async def tap_assigned(self) -> int:
        """The driver acknowledges every card still waiting for it; returns the taps."""
        ours = {b.reservation_id for b in self.riders.bookings if b.tap_target}
        tapped = {rid for _e, rid in self.taps}
        made = 0
        for view in self.display.state().views:
            rid = view.reservation_id
            if (
                rid in ours
                and rid not in tapped
                and view.alert.status is S.ASSIGNED
                and DriverEventType.ACKNOWLEDGED in view.answers
            ):
                try:
                    event = await self.display.answer(rid, DriverEventType.ACKNOWLEDGED)
                except AnswerError:
                    continue  # the card changed under the driver's finger
                self.taps.append((event.id, rid))
                made += 1
        return made

    async def press(self, count: int) -> None:
        """A rider presses help at S2 ``count`` times."""
        for _ in range(count):
            await self.gateway.press(ButtonAction.HELP)
            self.presses[PRESS_STOP] += 1

    async def press_along(self, every: int, press: Callable[[], Awaitable[None]]) -> None:
        """Press once each time ``every`` more bookings have been answered."""
        for k in range(every, self.n + 1, every):
            await self.progress.reached(k)
            await press()

    @contextlib.asynccontextmanager
    async def rogue_with_server_client_id(self) -> AsyncIterator[_Rogue]:
        """A stop's login connecting as the server's client id, with a clean start, again
        each time the server takes it back, while the block runs."""
        options = SessionOptions(
            client_id=SERVER_CLIENT_ID,
            clean_start=True,
            session_expiry_s=0,
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
        )
        rogue = MqttSession(self.broker.endpoint(login_for(Owner.STOP, "S5")), options)
        async with rogue:
            yield _Rogue(rogue)
        logger.info("the rogue took the server's client id %d time(s)", rogue.connect_count)

    async def rogue_share(self) -> MqttSession:
        """A stop's login joining shared groups on the server's filters, and the filters."""
        rogue = await self._stack.enter_async_context(
            MqttSession(self.broker.endpoint(login_for(Owner.STOP, "S5")), SessionOptions())
        )
        await rogue.wait_connected(10)
        topics = self.broker.topics

        async def swallow(msg: ReceivedMessage) -> None:
            logger.warning("the rogue received %s", msg.topic)

        filters = [topics.all_of(TopicKind.STOP_EVENTS), topics.all_of(TopicKind.VEHICLE_EVENTS)]
        for group in (SERVER_SHARE_GROUP, "api", "bushail"):
            filters += [f"$share/{group}/{f}" for f in filters[:2]]
        for topic_filter in filters:
            try:
                await rogue.subscribe(topic_filter, swallow)
            except MqttError as exc:
                logger.info("the broker refused the rogue %s: %s", topic_filter, exc)
        return rogue

    # -- the end ----------------------------------------------------------------------------
    def made(self) -> _Made:
        presses = dict(self.presses)
        if self.gateway_process is not None:
            presses[PROCESS_STOP] = self.gateway_process.presses_taken()
        return _Made(tuple(self.riders.bookings), tuple(self.taps), presses, tuple(self.notes))

    async def observe(self) -> _Observed:
        assert self._engine is not None  # noqa: S101 - set at start
        rows, history, unsent, processed, helps = await asyncio.to_thread(
            _read_database, self._engine
        )
        retained = await _read_retained(self.broker)
        pending = {
            f"display {VEHICLE}": self.display.unsent,
            f"gateway {PRESS_STOP}": self.gateway.sender.pending_count,
        }
        calls = {c.reservation_id: c.status for c in self.gateway.tracker.active()}
        alerts = {v.reservation_id: v.alert.status for v in self.display.state().views}
        return _Observed(rows, history, unsent, processed, helps, retained, pending, calls, alerts)

    async def _api_connected(self) -> bool:
        try:
            health = (await self.riders.client.get("/healthz")).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(health.get("broker_connected"))

    async def settle(self) -> _Tally:
        """Audit until everything agrees, or ``settle_s`` has passed: the last audit."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.settle_s
        while True:
            try:
                tally = _audit(self.made(), await self.observe(), self.broker.topics)
                if not await self._api_connected():
                    tally.stuck.append("the API says it is not connected to the broker")
            except (MqttError, TimeoutError, OSError) as exc:
                tally = _Tally(stuck=[f"could not observe: {exc}"])
            if tally.clean or loop.time() >= deadline:
                return tally
            await asyncio.sleep(0.25)


# -- the fault scripts ----------------------------------------------------------------------------
FaultScript = Callable[[Harness], Awaitable[None]]


async def _broker_kill(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.broker.stop(kill=True)
        await progress.reached(h.at(2 / 3))
        await h.broker.start()


async def _broker_restart(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 2))
        await h.broker.restart()


async def _api_kill(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 2))
        await h.api.kill()
        await h.api.start()


async def _api_restart(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 2))
        await h.api.stop()
        await h.api.start()


async def _gateway_kill(h: Harness) -> None:
    gateway = h.gateway_process
    assert gateway is not None  # noqa: S101 - started for this fault
    presses = max(3, h.n // 20)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await gateway.press_help(presses)
        await progress.reached(h.at(1 / 2))
        # Between presses: the ones it took are answered by now.
        await gateway.wait_taken()
        await gateway.wait_answered()
        await gateway.kill()
        await gateway.start()
        await gateway.press_help(presses)
    await gateway.press_help(presses)
    await gateway.wait_taken()


async def _gateway_kill_pending(h: Harness) -> None:
    gateway = h.gateway_process
    assert gateway is not None  # noqa: S101 - started for this fault
    presses = max(3, h.n // 20)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await gateway.press_help(presses)
        await gateway.wait_taken()
        await gateway.wait_answered()
        # The broker away (the stop's link down): these presses stay in the gateway only.
        await h.broker.stop()
        await gateway.press_help(presses)
        await gateway.wait_taken()
        await gateway.kill()
        await h.broker.start()
        await gateway.start()
        await gateway.press_help(presses)
    await gateway.press_help(presses)
    await gateway.wait_taken()


async def _tap_broker_down(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.wait_alerts()
        await h.broker.stop()
        await h.tap_assigned()
        await progress.reached(h.at(2 / 3))
        await h.broker.start()
    await h.wait_alerts()
    await h.tap_assigned()


async def _tap_api_down(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.wait_alerts()
        await h.api.stop()
        await h.tap_assigned()
        await h.api.start()
    await h.wait_alerts()
    await h.tap_assigned()


async def _press_both_down(h: Harness) -> None:
    presses = max(3, h.n // 10)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.press(presses)
        await h.api.stop()
        await h.broker.stop()
        await h.press(presses)
        await h.broker.start()
        await h.api.start()
    await h.press(presses)


async def _rogue_share(h: Harness) -> None:
    await h.rogue_share()
    async with h.burst() as progress:
        presser = asyncio.create_task(h.press_along(5, lambda: h.press(1)))
        await progress.reached(h.at(1 / 2))
        await h.wait_alerts()
        await h.tap_assigned()
    await presser
    await h.wait_alerts()
    await h.tap_assigned()


async def _rogue_client_id(h: Harness) -> None:
    presses = max(3, h.n // 10)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.wait_alerts()
        async with h.rogue_with_server_client_id() as rogue:
            await rogue.took_over(3, at_most_s=5.0)
            await h.tap_assigned()
            await h.press(presses)
            # Long enough for the devices' second copies (2 s on) to meet the war too.
            await rogue.took_over(12, at_most_s=5.0)
            await progress.reached(h.at(2 / 3))
    await h.wait_alerts()
    await h.tap_assigned()
    await h.press(presses)


FAULTS: dict[Fault, FaultScript] = {
    Fault.BROKER_KILL: _broker_kill,
    Fault.BROKER_RESTART: _broker_restart,
    Fault.API_KILL: _api_kill,
    Fault.API_RESTART: _api_restart,
    Fault.GATEWAY_KILL: _gateway_kill,
    Fault.GATEWAY_KILL_PENDING: _gateway_kill_pending,
    Fault.TAP_BROKER_DOWN: _tap_broker_down,
    Fault.TAP_API_DOWN: _tap_api_down,
    Fault.PRESS_BOTH_DOWN: _press_both_down,
    Fault.ROGUE_SHARE: _rogue_share,
    Fault.ROGUE_CLIENT_ID: _rogue_client_id,
}


async def run_fault(
    fault: Fault,
    *,
    database: DatabaseKind = "sqlite",
    bookings: int = 300,
    workdir: Path,
    postgres_url: str | None = None,
    settle_s: float = 30.0,
    concurrency: int = 4,
) -> FaultReport:
    """Run ``fault``'s scenario in ``workdir`` (logs stay there) and count what it lost."""
    workdir.mkdir(parents=True, exist_ok=True)
    options = _Options(bookings=bookings, settle_s=settle_s, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with _log_to(workdir / "harness.log"):
        async with Harness(
            fault, database=database, workdir=workdir, options=options, postgres_url=postgres_url
        ) as harness:
            try:
                await FAULTS[fault](harness)
            except (TimeoutError, MqttError, OSError, RuntimeError) as exc:
                # Something the script waited for never happened: a finding, not a crash.
                logger.exception("%s: the script stopped", fault)
                harness.notes.append(f"the {fault} script stopped: {type(exc).__name__}: {exc}")
            healed = loop.time()
            tally = await harness.settle()
            settled = loop.time()
            made = harness.made()
    answered = sum(1 for b in made.bookings if b.reservation_id is not None)
    events = len(made.taps) + sum(made.presses.values())
    return FaultReport(
        fault=fault,
        database=database,
        bookings=answered,
        events=events,
        lost=tally.count("lost"),
        duplicated=tally.count("duplicated"),
        stuck=tally.count("stuck"),
        seconds=loop.time() - started,
        settle_seconds=settled - healed,
        problems=tuple(
            [f"lost: {p}" for p in tally.lost]
            + [f"duplicated: {p}" for p in tally.duplicated]
            + [f"stuck: {p}" for p in tally.stuck]
        ),
    )


def iter_faults(names: Sequence[str] | None) -> Iterator[Fault]:
    """The faults named (all of them for None), in the table's order."""
    wanted = set(names) if names else {f.value for f in Fault}
    unknown = wanted - {f.value for f in Fault}
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
    return (f for f in Fault if f.value in wanted)
