"""Waiting on events with a bound: a probe polled until it answers, a growing count."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
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


class Progress:
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
