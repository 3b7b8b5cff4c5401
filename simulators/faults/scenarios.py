"""One script per fault: the booking burst, the fault injected and healed, device events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from simulators.faults.const import Fault
from simulators.faults.harness import Harness

FaultScript = Callable[[Harness], Awaitable[None]]


async def _broker_kill(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.broker.stop(kill=True)
        await progress.reached(h.at(2 / 3))
        await h.broker.start()


async def _broker_restart(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 2))
        await h.broker.restart()


async def _api_kill(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 2))
        await h.api.kill()
        await h.api.start()


async def _api_restart(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 2))
        await h.api.stop()
        await h.api.start()


async def _gateway_kill(h: Harness) -> None:
    gateway = h.gateway_process
    assert gateway is not None  # noqa: S101 - started for this fault
    presses = max(3, h.n // 20)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await gateway.press_help(presses)
        await progress.reached(h.at(1 / 2))
        # Between presses: the ones it took are answered by now.
        await gateway.wait_taken()
        await gateway.wait_answered()
        await gateway.kill()
        await gateway.start()
        await gateway.press_help(presses)
    await gateway.press_help(presses)
    await gateway.wait_taken()


async def _gateway_kill_pending(h: Harness) -> None:
    gateway = h.gateway_process
    assert gateway is not None  # noqa: S101 - started for this fault
    presses = max(3, h.n // 20)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await gateway.press_help(presses)
        await gateway.wait_taken()
        await gateway.wait_answered()
        # The broker away (the stop's link down): these presses stay in the gateway only.
        await h.broker.stop()
        await gateway.press_help(presses)
        await gateway.wait_taken()
        await gateway.kill()
        await h.broker.start()
        await gateway.start()
        await gateway.press_help(presses)
    await gateway.press_help(presses)
    await gateway.wait_taken()


async def _tap_broker_down(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.wait_alerts()
        await h.broker.stop()
        await h.tap_assigned()
        await progress.reached(h.at(2 / 3))
        await h.broker.start()
    await h.wait_alerts()
    await h.tap_assigned()


async def _tap_api_down(h: Harness) -> None:
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.wait_alerts()
        await h.api.stop()
        await h.tap_assigned()
        await h.api.start()
    await h.wait_alerts()
    await h.tap_assigned()


async def _press_both_down(h: Harness) -> None:
    presses = max(3, h.n // 10)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.press(presses)
        await h.api.stop()
        await h.broker.stop()
        await h.press(presses)
        await h.broker.start()
        await h.api.start()
    await h.press(presses)


async def _rogue_share(h: Harness) -> None:
    await h.rogue_share()
    async with h.burst() as progress:
        presser = asyncio.create_task(h.press_along(5, lambda: h.press(1)))
        await progress.reached(h.at(1 / 2))
        await h.wait_alerts()
        await h.tap_assigned()
    await presser
    await h.wait_alerts()
    await h.tap_assigned()


async def _rogue_client_id(h: Harness) -> None:
    presses = max(3, h.n // 10)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.wait_alerts()
        async with h.rogue_with_server_client_id() as rogue:
            await rogue.took_over(3, at_most_s=5.0)
            await h.tap_assigned()
            await h.press(presses)
            # Long enough for the devices' second copies (2 s on) to meet the war too.
            await rogue.took_over(12, at_most_s=5.0)
            await progress.reached(h.at(2 / 3))
    await h.wait_alerts()
    await h.tap_assigned()
    await h.press(presses)


FAULTS: dict[Fault, FaultScript] = {
    Fault.BROKER_KILL: _broker_kill,
    Fault.BROKER_RESTART: _broker_restart,
    Fault.API_KILL: _api_kill,
    Fault.API_RESTART: _api_restart,
    Fault.GATEWAY_KILL: _gateway_kill,
    Fault.GATEWAY_KILL_PENDING: _gateway_kill_pending,
    Fault.TAP_BROKER_DOWN: _tap_broker_down,
    Fault.TAP_API_DOWN: _tap_api_down,
    Fault.PRESS_BOTH_DOWN: _press_both_down,
    Fault.ROGUE_SHARE: _rogue_share,
    Fault.ROGUE_CLIENT_ID: _rogue_client_id,
}
