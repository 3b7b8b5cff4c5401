"""Web Push as the application runs it: the key, the sender and the after-commit listener.

Several API instances may share one database; each change is committed by exactly one
of them, and only that one hears it in its after-commit listeners. So the instance that
committed sends the notification: never twice, and at most once if it crashes before
sending (see ``sender``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from rider_api.db.unit_of_work import ChangeSet, UnitsOfWork
from rider_api.network.view import NetworkView
from rider_api.push.notices import Before, notices_for
from rider_api.push.sender import PushSender
from rider_api.push.vapid import VapidKey
from rider_api.settings import ApiSettings

__all__ = ["WebPush"]


class WebPush:
    """``async with WebPush.start(...)``; register ``after_commit`` with the units of work.

    ``before(reservation_id)`` is the reservation as this instance knew it before the
    commit (the dispatcher's index: register ``after_commit`` before the dispatcher's
    own listener updates it); ``network()`` is the current network view.
    """

    def __init__(
        self,
        *,
        settings: ApiSettings,
        key: VapidKey,
        sender: PushSender,
        network: Callable[[], NetworkView],
        before: Callable[[uuid.UUID], Before | None],
    ) -> None:
        self.settings = settings
        self.key = key
        self.sender = sender
        self._network = network
        self._before = before

    @classmethod
    async def start(
        cls,
        *,
        settings: ApiSettings,
        sessions: async_sessionmaker[AsyncSession],
        units: UnitsOfWork,
        network: Callable[[], NetworkView],
        before: Callable[[uuid.UUID], Before | None],
    ) -> WebPush:
        """Read or make the VAPID key (in a worker thread) and build the sender."""
        key = await asyncio.to_thread(
            VapidKey.load_or_create, settings.push_key_path, subject=settings.push_vapid_subject
        )
        sender = PushSender(settings=settings, key=key, sessions=sessions, units=units)
        return cls(settings=settings, key=key, sender=sender, network=network, before=before)

    async def __aenter__(self) -> Self:
        await self.sender.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.sender.__aexit__(exc_type, exc, tb)

    @property
    def public_key(self) -> str:
        return self.key.public_key

    def after_commit(self, changes: ChangeSet) -> None:
        """Queue what the riders hear about a committed change (no I/O, never blocks)."""
        if not changes.touched:
            return
        for notice in notices_for(
            changes,
            before=self._before,
            network=self._network(),
            near_s=self.settings.push_near_s,
        ):
            self.sender.offer(notice)
