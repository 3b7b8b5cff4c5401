"""In-process fan-out of reservation changes to live listeners (SSE streams, pages)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["ReservationNotifier"]


class ReservationNotifier:
    """``publish(reservation_id, data)`` after commit; ``listen(id)`` yields a queue."""

    def __init__(self, max_queue: int = 100) -> None:
        self._listeners: dict[uuid.UUID | None, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(
            set
        )
        self._max_queue = max_queue

    def publish(self, reservation_id: uuid.UUID, data: dict[str, Any]) -> None:
        for key in (reservation_id, None):
            for queue in list(self._listeners.get(key, ())):
                if queue.full():
                    # A slow listener only needs the newest state: drop the oldest.
                    queue.get_nowait()
                queue.put_nowait(data)

    @asynccontextmanager
    async def listen(
        self, reservation_id: uuid.UUID | None
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """Listen to one reservation, or to all of them with None (operator views)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._max_queue)
        self._listeners[reservation_id].add(queue)
        try:
            yield queue
        finally:
            self._listeners[reservation_id].discard(queue)
            if not self._listeners[reservation_id]:
                del self._listeners[reservation_id]

    def listener_count(self) -> int:
        return sum(len(s) for s in self._listeners.values())
