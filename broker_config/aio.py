"""Ending background tasks without losing the caller's own cancellation.

The common idiom ``task.cancel(); with suppress(CancelledError): await task`` has a trap:
if the task that awaits is itself cancelled while it waits, that CancelledError is
swallowed too, and the caller carries on as if nothing had asked it to stop. A
reconcile pass closing its scan session when the server shut down did exactly that: it
went back to waiting for the next pass, and the server's shutdown waited for it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel ``tasks`` (``None`` skipped) and wait until every one has ended.

    A task that ended by an exception other than its cancellation re-raises it here, as
    awaiting it would have. If the caller is cancelled while it waits, it still waits for
    the tasks to end (they were cancelled already), then re-raises that cancellation.
    """
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    if not live:
        return
    interrupted: asyncio.CancelledError | None = None
    pending = set(live)
    while pending:
        try:
            _done, pending = await asyncio.wait(pending)
        except asyncio.CancelledError as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted
    errors = [task.exception() for task in live if not task.cancelled()]
    for error in errors:
        if error is not None:
            raise error


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds have passed; True if it is set.

    For the loops of long-lived tasks: ``asyncio.wait_for(event.wait(), timeout)`` on
    Python 3.11 drops a cancellation that arrives just as the event is set, and the
    task then runs on while whoever cancelled it waits for it to end.
    """
    if event.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


async def wait_ended(task: asyncio.Future[Any], timeout: float | None = None) -> bool:
    """Wait until ``task`` has ended, without cancelling it, or until ``timeout`` seconds
    have passed; True if it has ended.

    For a task asked to stop some other way (a server's ``should_exit``): unlike
    ``with suppress(CancelledError): await task``, a cancellation of the caller is not
    taken for the task's own and swallowed; it reaches the caller (the task runs on).
    """
    if not task.done():
        await asyncio.wait({task}, timeout=timeout)
    return task.done()
