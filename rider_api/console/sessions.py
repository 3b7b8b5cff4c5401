"""Operator sign-ins to the console: random ids stored only hashed, idle and absolute expiry.

Signing in with an operator token opens a session; the browser's cookie carries the
session's random id (32 bytes), never the token, and the database keeps only the id's
SHA-256. A session ends ``session_idle_s`` after its last request, ``session_absolute_s``
after it began, when signed out (revoked here, so a copied cookie stops working at once)
or when its operator token is removed from the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col

from broker_config.messages import utcnow
from rider_api.core.security import hash_token, new_secret_token
from rider_api.db.unit_of_work import UnitOfWork, UnitsOfWork
from rider_api.models import OperatorSession
from rider_api.settings import ConsoleSettings

__all__ = ["Clock", "Operator", "OperatorSessions", "operator_label"]

Clock = Callable[[], datetime]
#: ``last_seen_at`` is written at most this often (a write per request is not needed).
TOUCH_EVERY_S = 60.0


def operator_label(digest: str) -> str:
    """How an operator is named in the audit log: the start of their token's hash."""
    return f"op-{digest[:12]}"


@dataclass(frozen=True, slots=True)
class Operator:
    """Who is calling: an operator token's hash, the console session if signed in through
    it (its hash; None for ``Authorization: Bearer``), and the client's address."""

    digest: str
    session: str | None
    client: str | None

    @property
    def label(self) -> str:
        return operator_label(self.digest)


class OperatorSessions:
    """The console's sessions, in the database (so every API instance shares them)."""

    def __init__(
        self, units: UnitsOfWork, settings: ConsoleSettings, *, clock: Clock = utcnow
    ) -> None:
        self.units = units
        self.settings = settings
        #: The time; tests put a clock of their own here.
        self.clock = clock

    @property
    def idle(self) -> timedelta:
        return timedelta(seconds=self.settings.session_idle_s)

    async def open(self, uow: UnitOfWork, *, operator_digest: str) -> str:
        """Start a session in ``uow`` and return its id (the cookie's value, kept nowhere
        else). Sessions past their absolute end are deleted on the way."""
        now = self.clock()
        await uow.session.exec(delete(OperatorSession).where(col(OperatorSession.expires_at) < now))
        session_id = new_secret_token()
        uow.session.add(
            OperatorSession(
                session_hash=hash_token(session_id),
                operator_digest=operator_digest,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=self.settings.session_absolute_s),
            )
        )
        return session_id

    async def resolve(
        self, session_id: str, *, operators: frozenset[str], client: str | None
    ) -> Operator | None:
        """The operator of a live session, its use recorded; None if there is no such
        session or it has ended."""
        return await self.check(hash_token(session_id), operators=operators, client=client)

    async def check(
        self, session_hash: str, *, operators: frozenset[str], client: str | None
    ) -> Operator | None:
        """``resolve`` by the session's hash (a live stream checks its session again)."""
        now = self.clock()
        async with self.units.sessions() as session:
            row = await session.get(OperatorSession, session_hash)
        if row is None or not self._live(row, now) or row.operator_digest not in operators:
            return None
        if now - row.last_seen_at >= min(timedelta(seconds=TOUCH_EVERY_S), self.idle / 10):
            async with self.units() as uow:
                await uow.session.exec(
                    update(OperatorSession)
                    .where(
                        col(OperatorSession.session_hash) == session_hash,
                        col(OperatorSession.revoked_at).is_(None),
                    )
                    .values(last_seen_at=now)
                )
        return Operator(digest=row.operator_digest, session=session_hash, client=client)

    async def revoke(self, uow: UnitOfWork, session_id: str) -> OperatorSession | None:
        """End the session of ``session_id`` in ``uow``; the session if it was live."""
        now = self.clock()
        row = await uow.session.get(OperatorSession, hash_token(session_id))
        if row is None or not self._live(row, now):
            return None
        row.revoked_at = now
        uow.session.add(row)
        return row

    def _live(self, row: OperatorSession, now: datetime) -> bool:
        return (
            row.revoked_at is None and now < row.expires_at and now - row.last_seen_at < self.idle
        )
