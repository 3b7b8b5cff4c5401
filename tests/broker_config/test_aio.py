"""Ending background tasks: the caller's own cancellation is never swallowed.

The idiom this replaces (``task.cancel(); with suppress(CancelledError): await task``)
fails the first test: a reconcile pass cancelled while it closed its scan session carried
on and waited for the next pass, and the server's shutdown hung on it (seen in CI).
"""

from __future__ import annotations

import asyncio

import pytest

from broker_config.aio import cancel_and_wait, wait_ended, wait_event


async def _slow_to_stop(stopping: asyncio.Event, may_end: asyncio.Event) -> None:
    """Ends only when allowed to, after being cancelled (as a session closing its socket)."""
    try:
        await asyncio.Event().wait()
    finally:
        stopping.set()
        await may_end.wait()


async def test_a_caller_cancelled_while_it_waits_stays_cancelled() -> None:
    stopping, may_end = asyncio.Event(), asyncio.Event()
    child = asyncio.create_task(_slow_to_stop(stopping, may_end))
    await asyncio.sleep(0)  # the child is inside its wait
    after: list[str] = []

    async def caller() -> None:
        await cancel_and_wait(child)
        after.append("carried on")  # must not run: the caller was cancelled

    outer = asyncio.create_task(caller())
    await stopping.wait()  # the caller now waits for the child to end
    outer.cancel()
    await asyncio.sleep(0)
    assert not child.done(), "the child is still ending: the caller waits for it"
    may_end.set()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert child.cancelled()
    assert after == []


async def test_a_task_that_failed_reraises_and_none_is_skipped() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    failed = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(None, failed)


async def test_every_task_is_cancelled_and_ended() -> None:
    tasks = [asyncio.create_task(asyncio.Event().wait()) for _ in range(3)]
    await asyncio.sleep(0)
    await cancel_and_wait(*tasks)
    assert all(t.cancelled() for t in tasks)
    await cancel_and_wait()  # nothing to end


async def test_waiting_for_an_event_keeps_a_cancellation_that_comes_as_it_is_set() -> None:
    """``wait_for(event.wait(), t)`` on Python 3.11 returns normally here: the loop of
    the task that was cancelled would carry on, and its stop would wait forever."""
    event = asyncio.Event()
    waiter = asyncio.create_task(wait_event(event, 10))
    await asyncio.sleep(0)  # waiting
    event.set()
    await asyncio.sleep(0)  # the event's waiter has run; the task has yet to resume
    if waiter.cancel():
        with pytest.raises(asyncio.CancelledError):
            await waiter
    else:
        assert waiter.result() is True  # it had already ended: nothing to drop


async def test_waiting_for_an_event_says_whether_it_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, None) is True


async def test_waiting_for_a_task_to_end_neither_cancels_it_nor_swallows_a_cancellation() -> None:
    may_end = asyncio.Event()
    child = asyncio.create_task(may_end.wait())
    assert await wait_ended(child, 0.01) is False
    assert not child.done(), "a timeout does not cancel the task"
    after: list[str] = []

    async def caller() -> None:
        await wait_ended(child)
        after.append("carried on")  # must not run: the caller was cancelled

    outer = asyncio.create_task(caller())
    await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert after == []
    assert not child.done()
    may_end.set()
    assert await wait_ended(child) is True
