"""One script per fault: the booking burst, the fault injected and healed, device events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from simulators.faults.const import Fault
from simulators.faults.harness import Harness, Role
from simulators.faults.rogue import rogue_share, rogue_with_server_client_id

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


async def _one_api_down(h: Harness, *, kill: bool, role: Role) -> None:
    """One instance stopped (or killed) at the fault's moment, then started again. With
    several, the driver taps and a rider presses on the way and while it is down: the
    others hear every device event (each instance subscribes on its own) and apply it."""
    several = h.instances > 1
    async with h.burst() as progress:
        if several:
            await progress.reached(h.at(0.2))
            await h.wait_alerts()
            await h.tap_assigned()
            await h.press(2)
        await h.moment(progress)
        if several:
            await h.tap_assigned()  # these taps meet the fault on their way
        await h.stop_api(kill=kill, role=role)
        if several:
            await h.press(2)
            await h.wait_alerts()
            await h.tap_assigned()
        await h.start_apis()
    if several:
        await h.wait_alerts()
        await h.tap_assigned()
        await h.press(2)


async def _api_kill(h: Harness) -> None:
    await _one_api_down(h, kill=True, role="leader")


async def _api_restart(h: Harness) -> None:
    await _one_api_down(h, kill=False, role="leader")


async def _api_kill_follower(h: Harness) -> None:
    await _one_api_down(h, kill=True, role="follower")


async def _api_restart_follower(h: Harness) -> None:
    await _one_api_down(h, kill=False, role="follower")


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
        # Every instance: with one down the others apply the taps at once; with none up
        # each instance's persistent session holds them, and all race to apply them.
        await h.stop_all_apis()
        await h.tap_assigned()
        await h.start_apis()
    await h.wait_alerts()
    await h.tap_assigned()


async def _press_both_down(h: Harness) -> None:
    presses = max(3, h.n // 10)
    async with h.burst() as progress:
        await progress.reached(h.at(1 / 3))
        await h.press(presses)
        await h.stop_all_apis()
        await h.broker.stop()
        await h.press(presses)
        await h.broker.start()
        await h.start_apis()
    await h.press(presses)


async def _rogue_share(h: Harness) -> None:
    # Joined for the whole run, the settling audit included.
    await h.hold(rogue_share(h.broker, h.server_names()))
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
        async with rogue_with_server_client_id(h.broker, h.server_names(), h.notes) as rogue:
            await rogue.tried(3, at_most_s=5.0)
            await h.tap_assigned()
            await h.press(presses)
            # Long enough for the devices' second copies (2 s on) to meet the rogue too.
            await rogue.tried(12, at_most_s=5.0)
            await progress.reached(h.at(2 / 3))
    await h.wait_alerts()
    await h.tap_assigned()
    await h.press(presses)


FAULTS: dict[Fault, FaultScript] = {
    Fault.BROKER_KILL: _broker_kill,
    Fault.BROKER_RESTART: _broker_restart,
    Fault.API_KILL: _api_kill,
    Fault.API_RESTART: _api_restart,
    Fault.API_KILL_FOLLOWER: _api_kill_follower,
    Fault.API_RESTART_FOLLOWER: _api_restart_follower,
    Fault.GATEWAY_KILL: _gateway_kill,
    Fault.GATEWAY_KILL_PENDING: _gateway_kill_pending,
    Fault.TAP_BROKER_DOWN: _tap_broker_down,
    Fault.TAP_API_DOWN: _tap_api_down,
    Fault.PRESS_BOTH_DOWN: _press_both_down,
    Fault.ROGUE_SHARE: _rogue_share,
    Fault.ROGUE_CLIENT_ID: _rogue_client_id,
}
