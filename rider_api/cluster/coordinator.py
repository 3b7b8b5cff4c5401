"""Several API instances, one city: who leads, and who hears whose commits.

Every instance serves any HTTP request and applies any device event (once, by its id:
``ProcessedEvent``). What must happen once for the whole city runs on the *leader*
only: the position-driven dispatch and its timers (acknowledgement reminders, missed
pickups, expiry, ETA refreshes), the outbox relay (one publisher keeps each
reservation's messages in order, so a retained call is never overwritten by an older
one) and the reconcile pass.

- **SQLite** (:class:`SoleInstance`): one process only. It holds an exclusive lock on
  ``{database}.instance.lock`` for its lifetime; a second instance on the same file
  refuses to start and says that several instances need PostgreSQL. It always leads.
- **PostgreSQL** (:class:`PostgresCoordinator`): a connection of its own (outside the
  pool) holds two session advisory locks: one for the instance's name (a second
  process with the same name refuses to start: the broker binds client ids to logins,
  so two would throw each other out), and, on the leader, the leadership lock. Every
  ``poll_s`` a follower tries to take the leadership; when the leader dies its
  connection closes and the lock is free at once (a vanished machine: when TCP
  keepalives give up, ~10 s). A leader that cannot reach PostgreSQL steps down.
  Each commit sends ``NOTIFY bushail`` (in its transaction, so only if it commits) with
  the instance, whether outbox rows were written and which reservations changed; every
  other instance hears it on that connection (``LISTEN``) and refreshes what it keeps
  in memory: the dispatcher's index, riders' live streams, the relay (on the leader).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
from sqlalchemy.engine import make_url

from broker_config.aio import cancel_and_wait
from rider_api.db.engine import libpq_conninfo
from rider_api.db.unit_of_work import UnitOfWork

__all__ = [
    "CHANNEL",
    "Coordinator",
    "PostgresCoordinator",
    "RemoteChange",
    "SecondInstanceError",
    "SoleInstance",
    "coordinator_for",
]

logger = logging.getLogger(__name__)

#: The NOTIFY channel of committed changes.
CHANNEL = "bushail"
#: Reservation ids a notification names before it says "everything" instead (a NOTIFY
#: payload holds at most 8000 bytes).
MAX_IDS = 150
_LEADER_KEY = "bushail:leader"
_MIGRATE_KEY = "bushail:migrate"


def _lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class SecondInstanceError(RuntimeError):
    """Another instance already runs where only one may (SQLite, or the same name)."""


@dataclass(frozen=True, slots=True)
class RemoteChange:
    """What another instance committed: ``reservations`` None means "reload everything"."""

    instance: str
    outbox: bool
    reservations: frozenset[uuid.UUID] | None


LeadershipListener = Callable[[bool], Awaitable[None]]
ChangeListener = Callable[[RemoteChange], Awaitable[None]]


def encode_change(instance: str, uow: UnitOfWork) -> str:
    """The NOTIFY payload of a unit of work: ``instance|o|id,id`` (``*`` for too many)."""
    ids = uow.changes.reservations
    listed = "*" if len(ids) > MAX_IDS else ",".join(sorted(str(i) for i in ids))
    return f"{instance}|{'o' if uow.changes.outbox else ''}|{listed}"


def decode_change(payload: str) -> RemoteChange | None:
    """The change a payload names; None if it is not one of ours."""
    parts = payload.split("|")
    if len(parts) != 3:
        return None
    instance, outbox, listed = parts
    if listed == "*":
        return RemoteChange(instance, outbox == "o", None)
    try:
        ids = frozenset(uuid.UUID(i) for i in listed.split(",") if i)
    except ValueError:
        return None
    return RemoteChange(instance, outbox == "o", ids)


class Coordinator:
    """The single-process coordinator; see the module docstring. Subclassed for PostgreSQL."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.leader = False
        self._on_leadership: list[LeadershipListener] = []
        self._on_change: list[ChangeListener] = []

    def on_leadership(self, listener: LeadershipListener) -> None:
        """``await listener(True)`` when this instance takes the lead, ``(False)`` when it
        loses it. Registered before ``__aenter__``."""
        self._on_leadership.append(listener)

    def on_remote_change(self, listener: ChangeListener) -> None:
        """``await listener(change)`` for each commit of another instance."""
        self._on_change.append(listener)

    async def before_commit(self, uow: UnitOfWork) -> None:
        """Called inside every unit of work's transaction, last (nothing to tell here)."""

    async def __aenter__(self) -> Self:
        """Claim this instance's place (a second one fails here, before any work)."""
        return self

    async def migrate(self, upgrade: Callable[[], None]) -> None:
        """Run ``upgrade`` (the schema migrations, blocking) while no other instance does."""
        await asyncio.to_thread(upgrade)

    async def join(self) -> None:
        """Take part in the election, once the listeners are registered."""
        await self._set_leader(True)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._set_leader(False)

    async def _set_leader(self, leader: bool) -> None:
        if leader == self.leader:
            return
        self.leader = leader
        logger.info("instance %s %s", self.instance, "leads" if leader else "follows")
        for listener in self._on_leadership:
            try:
                await listener(leader)
            except Exception:
                logger.exception("leadership listener %r failed", listener)

    async def _tell(self, change: RemoteChange) -> None:
        for listener in self._on_change:
            try:
                await listener(change)
            except Exception:
                logger.exception("change listener %r failed", listener)


class SoleInstance(Coordinator):
    """SQLite: the only instance, and so the leader; a second one refuses to start."""

    def __init__(self, instance: str, database: Path | None) -> None:
        super().__init__(instance)
        self._database = database
        self._lock_path = database.with_name(database.name + ".instance.lock") if database else None
        self._fd: int | None = None

    async def __aenter__(self) -> Self:
        if self._lock_path is not None:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)  # one left readable before is narrowed too
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                os.close(fd)
                raise SecondInstanceError(
                    f"another bushail-api ({holder or 'pid unknown'}) already serves the SQLite "
                    f"database {self._database}: SQLite "
                    "allows one instance. Several instances need PostgreSQL: set "
                    "BUSHAIL_API_DATABASE_URL=postgresql://... (docs/deploy.md)."
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, instance {self.instance}\n".encode(), 0)
            self._fd = fd
        return await super().__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None


class PostgresCoordinator(Coordinator):
    """PostgreSQL: leadership by a session advisory lock, changes by LISTEN/NOTIFY."""

    def __init__(self, instance: str, url: str, *, poll_s: float = 1.0) -> None:
        super().__init__(instance)
        self._conninfo = libpq_conninfo(url)
        self.poll_s = poll_s
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def before_commit(self, uow: UnitOfWork) -> None:
        if not uow.changes.reservations and not uow.changes.outbox:
            return
        # On the transaction's own driver cursor (see core.driver_sql: SQLAlchemy's
        # execution of a statement costs more than the statement).
        cursor = await (await uow.driver()).get()
        await cursor.execute(
            "SELECT pg_notify(%s, %s)", (CHANNEL, encode_change(self.instance, uow))
        )

    async def __aenter__(self) -> Self:
        conn = await self._connect()
        name_held = await self._try_lock(conn, f"bushail:instance:{self.instance}")
        if not name_held:
            await conn.close()
            raise SecondInstanceError(
                f"another bushail-api instance named {self.instance!r} already runs on this "
                "database: give each instance its own BUSHAIL_API_INSTANCE (and broker logins "
                f"server.{{instance}}, monitor.{{instance}}: bushail-broker --servers ...)"
            )
        self._conn = conn
        return self

    async def migrate(self, upgrade: Callable[[], None]) -> None:
        assert self._conn is not None  # noqa: S101 - connected in __aenter__
        # Instances started together would otherwise run the same migration twice.
        await self._conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key(_MIGRATE_KEY),))
        try:
            await asyncio.to_thread(upgrade)
        finally:
            await self._conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(_MIGRATE_KEY),))

    async def join(self) -> None:
        await self._try_lead()
        self._task = asyncio.create_task(self._run(), name=f"cluster-{self.instance}")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._set_leader(False)
        if self._conn is not None:
            await self._conn.close()  # releases both locks
            self._conn = None

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            # Both sides notice a vanished peer in ~10 s: the client steps down, the
            # server frees the leader's lock for another instance.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            options="-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
            "-c tcp_keepalives_count=2",
            application_name=f"bushail-api {self.instance} (cluster)",
        )
        await conn.execute(f"LISTEN {CHANNEL}")
        return conn

    @staticmethod
    async def _try_lock(conn: psycopg.AsyncConnection[tuple[object, ...]], name: str) -> bool:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_lock_key(name),))
        row = await cur.fetchone()
        return bool(row and row[0])

    async def _try_lead(self) -> None:
        assert self._conn is not None  # noqa: S101 - connected in __aenter__
        if not self.leader and await self._try_lock(self._conn, _LEADER_KEY):
            await self._set_leader(True)

    async def _run(self) -> None:
        while True:
            try:
                conn = self._conn
                if conn is None or conn.closed:
                    await self._reconnect()
                    continue
                async for notify in conn.notifies(timeout=self.poll_s):
                    await self._on_notify(notify.payload)
                # A round trip each poll: a leader cut off from PostgreSQL finds out here.
                async with asyncio.timeout(self.poll_s * 2):
                    await conn.execute("SELECT 1")
                await self._try_lead()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as exc:
                logger.warning("instance %s lost its cluster connection: %s", self.instance, exc)
                await self._step_down()
                await asyncio.sleep(self.poll_s)

    async def _step_down(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()
        # Without our connection we may have lost the lock to another instance already.
        await self._set_leader(False)

    async def _reconnect(self) -> None:
        conn = await self._connect()
        if not await self._try_lock(conn, f"bushail:instance:{self.instance}"):
            await conn.close()
            raise OSError(f"instance name {self.instance!r} is held by another process")
        self._conn = conn
        # Whatever happened while we were away: everything may have changed.
        await self._tell(RemoteChange("?", True, None))

    async def _on_notify(self, payload: str) -> None:
        change = decode_change(payload)
        if change is None or change.instance == self.instance:
            return
        await self._tell(change)


def coordinator_for(url: str, instance: str, *, poll_s: float = 1.0) -> Coordinator:
    """The coordinator of a database URL (SQLite: sole instance; PostgreSQL: cluster)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PostgresCoordinator(instance, url, poll_s=poll_s)
    database = parsed.database
    path = Path(database).resolve() if database and database != ":memory:" else None
    return SoleInstance(instance, path)
