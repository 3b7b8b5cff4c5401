"""Help and cancel presses: StopEvents sent until the server's receipt, and what the stop
says as the answers come (the book button's part is :mod:`stop_gateway.booking`).

Book, cancel and help are StopEvents the server answers with an ``EventReceipt``; each
is kept and sent again (same id, at every reconnection and then with a back-off) until
its receipt arrives (``broker_config.device.receipts``), so a press made while the
broker or the server is away is applied once they are back. What the stop says follows
what the server did:

- help: "staff have been notified" only once the press is applied; when no receipt has
  come after ``receipt_wait_s`` (offline: at once) the stop first says that staff will
  be notified as soon as the connection is back;
- cancel: "cancelling ..." at once (it is under way); the call's own "cancelled" is the
  confirmation, and a cancel the server refuses ("no active booking to cancel") says
  there is no booking;
- a press the broker itself refuses (a configuration fault: it will never go through)
  says there is no connection.

Pending presses are kept in ``{state_dir}/{stop_id}/presses.sqlite3`` when the gateway
has a ``state_dir`` (else in memory only, lost with the process). After a restart they
are sent again, except a booking older than ``book_confirm_timeout_s`` (its rider was
told, or has given up, that it failed); a help press from before the restart that the
server then applies is announced as it would have been ("staff have been notified").
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from broker_config.device.receipts import EventSender, Settlement, Ticket
from broker_config.messages import ButtonAction, StopCall, StopEvent, utcnow
from stop_gateway.announcements import Prompt, RouteText
from stop_gateway.buttons import RouteChoice
from stop_gateway.settings import GatewaySettings

__all__ = ["ButtonEvents"]

logger = logging.getLogger(__name__)


class ButtonEvents:
    """The StopEvents of one stop's buttons; the gateway supplies speech and tasks.

    ``prompt`` says a prompt, ``online`` tells whether the broker is connected,
    ``record_error`` keeps a fault for the device's health, and ``spawn`` starts a task
    the gateway keeps and cancels.
    """

    def __init__(
        self,
        *,
        stop_id: str,
        settings: GatewaySettings,
        sender: EventSender[StopEvent],
        prompt: Callable[[Prompt, RouteText | None], None],
        online: Callable[[], bool],
        record_error: Callable[[str], None],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        self.stop_id = stop_id
        self.settings = settings
        self.sender = sender
        self._prompt = prompt
        self._online = online
        self._record_error = record_error
        self._spawn = spawn
        #: Presses whose answer a task of this run waits for (the others: from before).
        self._followed: set[uuid.UUID] = set()

    def event(
        self,
        action: ButtonAction,
        *,
        reservation_id: uuid.UUID | None = None,
        route: RouteChoice | None = None,
    ) -> StopEvent:
        """A new StopEvent of this stop (a new id: a new press)."""
        return StopEvent(
            id=uuid.uuid4(),
            action=action,
            route_id=route.route_id if route is not None else None,
            direction_id=route.direction_id if route is not None else None,
            reservation_id=reservation_id,
            lang=self.settings.first_language,
            at=utcnow(),
        )

    async def book(self, route: RouteChoice) -> Ticket:
        """Send a ``book`` press for ``route``; what follows is the booking menu's."""
        return await self.sender.send(self.event(ButtonAction.BOOK, route=route))

    async def help(self) -> None:
        """Send a help press; say what became of it as the server answers."""
        ticket = await self.sender.send(self.event(ButtonAction.HELP))
        self._followed.add(ticket.event_id)
        self._spawn(self._follow_help(ticket))

    async def cancel(self, call: StopCall) -> None:
        """Cancel the booking of ``call``; say that it is under way, or that there is none."""
        event = self.event(ButtonAction.CANCEL, reservation_id=call.reservation_id)
        ticket = await self.sender.send(event)
        self._followed.add(ticket.event_id)
        self._prompt(Prompt.CANCELLING, RouteText.from_call(call))
        self._spawn(self._follow_cancel(ticket))

    async def restored(self) -> None:
        """Presses kept from before a restart: give up the bookings past their deadline."""
        deadline = timedelta(seconds=self.settings.book_confirm_timeout_s)
        now = utcnow()
        for event in self.sender.pending_events():
            if event.action is ButtonAction.BOOK and now - event.at > deadline:
                logger.warning(
                    "stop %s: booking %s from before the restart is past its deadline: given up",
                    self.stop_id,
                    event.id,
                )
                await self.sender.withdraw(event.id, "past its deadline after a restart")
        pending = self.sender.pending_count
        if pending:
            logger.info("stop %s: %d press(es) from before the restart", self.stop_id, pending)

    def settled(self, event: StopEvent, settlement: Settlement) -> None:
        """Every settled press; those of this run are said by their own task."""
        if event.id in self._followed:
            self._followed.discard(event.id)
            return
        if event.action is ButtonAction.HELP and settlement.applied:
            # Pressed before a restart: the promise to notify staff is kept now.
            self._prompt(Prompt.HELP_SENT, None)

    async def _follow_help(self, ticket: Ticket) -> None:
        # Offline there is no point waiting: say at once that it will go out later.
        wait = self.settings.receipt_wait_s if self._online() else 0.0
        try:
            settlement = await asyncio.wait_for(asyncio.shield(ticket.settled), wait)
        except TimeoutError:
            self._prompt(Prompt.HELP_QUEUED, None)
            settlement = await ticket.settled
        if settlement.applied:
            self._prompt(Prompt.HELP_SENT, None)
            return
        # The server does not refuse help; the broker may (a login without the right).
        logger.error(
            "stop %s: help press %s not applied: %s",
            self.stop_id,
            ticket.event_id,
            settlement.detail,
        )
        self._record_error(f"help not applied: {settlement.detail}")
        self._prompt(Prompt.OFFLINE, None)

    async def _follow_cancel(self, ticket: Ticket) -> None:
        settlement = await ticket.settled
        if settlement.outcome != "refused":
            return  # applied: the call's "cancelled" says so
        if settlement.by_server:
            self._prompt(Prompt.NO_BOOKING, None)  # "no active booking to cancel"
        else:
            self._record_error(f"cancel not sent: {settlement.detail}")
            self._prompt(Prompt.OFFLINE, None)
