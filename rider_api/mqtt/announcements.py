"""Operator announcements: spoken at one stop, a route's stops or every stop."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Literal

from broker_config.messages import Announcement, Localized
from broker_config.topics import Topics
from rider_api.db.unit_of_work import UnitOfWork
from rider_api.network.view import NetworkView
from rider_api.state import AppState

__all__ = ["UnknownTargetError", "announce", "enqueue_announcements", "stops_of"]

logger = logging.getLogger(__name__)

Target = Literal["stop", "route", "all"]


class UnknownTargetError(LookupError):
    """The stop or route named as the audience does not exist."""

    def __init__(self, kind: Literal["stop", "route"], ident: str) -> None:
        super().__init__(f"there is no {kind} '{ident}'")
        self.kind = kind
        self.ident = ident


def stops_of(
    network: NetworkView, target: Target, *, stop_id: str = "", route_id: str = ""
) -> list[str]:
    """The stops an announcement goes to (``UnknownTargetError`` for an unknown one)."""
    if target == "stop":
        if stop_id not in network.stops:
            raise UnknownTargetError("stop", stop_id)
        return [stop_id]
    if target == "route":
        if route_id not in network.routes:
            raise UnknownTargetError("route", route_id)
        found = {
            s for (r, _d), d in network.directions.items() if r == route_id for s in d.stop_ids
        }
        return sorted(found)
    return sorted(network.stops)


def enqueue_announcements(
    uow: UnitOfWork,
    topics: Topics,
    *,
    stop_ids: Sequence[str],
    text: Localized,
    priority: Literal["info", "urgent"] = "info",
) -> list[Announcement]:
    """Queue one announcement per stop in the caller's unit of work (an operator's
    audit row commits with them); sent after the commit."""
    sent: list[Announcement] = []
    for stop_id in stop_ids:
        message = Announcement(id=uuid.uuid4(), text=text, priority=priority)
        uow.enqueue(topics.stop_announce(stop_id), message, reservation_id=None)
        sent.append(message)
    logger.info("announcement to %d stop(s), priority %s", len(sent), priority)
    return sent


async def announce(
    state: AppState,
    *,
    stop_ids: Sequence[str],
    text: Localized,
    priority: Literal["info", "urgent"] = "info",
) -> list[Announcement]:
    """Queue one announcement per stop in one transaction; sent after the commit."""
    async with state.unit_of_work() as uow:
        return enqueue_announcements(
            uow, state.topics, stop_ids=stop_ids, text=text, priority=priority
        )
