"""``eventually``: the one way a test waits for a condition it cannot await directly.

Prefer awaiting the event itself (a queue, an ``asyncio.Event``, a Playwright ``expect``);
where there is none (another process, state read over HTTP), poll with ``eventually``: it
is bounded, and its failure says what was awaited and what was last seen.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], object] = ...,
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    until: Callable[[T], object] = ...,
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    until: Callable[[Any], object] = bool,
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "the condition",
) -> Any:
    """Call ``probe`` (sync or async) until ``until(value)`` holds; return that value.

    By default the value itself must be truthy. Fails with an AssertionError naming
    ``what`` and the last value seen once ``timeout`` seconds have passed (an async probe
    still running then is cancelled).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        limit = asyncio.timeout_at(deadline)
        try:
            async with limit:
                value = probe()
                if inspect.isawaitable(value):
                    value = await value
        except TimeoutError:
            if not limit.expired():
                raise
            raise AssertionError(f"{what}: no answer within {timeout:g} s") from None
        if until(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"{what}: not so within {timeout:g} s; last seen: {value!r}")
        await asyncio.sleep(interval)
