"""Futures for the packets that wait for the broker's acknowledgement, by packet id."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

from broker_config.errors import SessionClosedError

__all__ = ["AckWaiters"]

T = TypeVar("T")


class AckWaiters(Generic[T]):
    """One future per packet id (``mid``), resolved with what the acknowledgement says.

    A waiter stays until its caller forgets it, so a QoS 1 publish that timed out for its
    caller still counts as in flight and is re-sent after a reconnect.
    """

    def __init__(self) -> None:
        self._futures: dict[int, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        return len(self._futures)

    def expect(self, loop: asyncio.AbstractEventLoop, mid: int) -> asyncio.Future[T]:
        """A new future for the acknowledgement of packet ``mid``."""
        fut: asyncio.Future[T] = loop.create_future()
        self._futures[mid] = fut
        return fut

    def resolve(self, mid: int, value: T) -> None:
        """The acknowledgement of ``mid`` came (on the event loop thread)."""
        fut = self._futures.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(value)

    def forget(self, mid: int, fut: asyncio.Future[T] | None = None) -> None:
        """Stop tracking ``mid`` (only if it is still ``fut``'s, when given: a later
        packet may have been given the same id)."""
        if fut is None or self._futures.get(mid) is fut:
            self._futures.pop(mid, None)

    def fail_all(self, reason: str) -> None:
        """End every wait with SessionClosedError(``reason``) and forget them all."""
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(SessionClosedError(reason))
                fut.exception()  # a caller may have gone: do not log it as lost
        self._futures.clear()
