"""Booking without a phone: the spoken route menu, and the wait for the booked call.

A press of book opens the menu: the stop reads its routes one by one, ``menu_rounds``
times over, and a press of book while a route is read (or in the ``menu_dwell_s`` after
it) chooses that route. The gateway then sends a ``book`` StopEvent until the server's
receipt for it arrives; the server's StopCall for the route is the spoken confirmation.
The stop says that the booking failed when the server refuses it (at once), or when
neither the call nor the receipt has come after ``book_confirm_timeout_s``: the press is
then given up, so the rider is not booked long after being told it failed ("no
connection" if the stop is offline then). A booking the server has applied is never
said to have failed: its call will come.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from broker_config.aio import wait_event
from broker_config.device.receipts import Settlement, Ticket
from broker_config.device.speech_queue import SpeechQueue
from broker_config.messages import StopCall
from stop_gateway.announcements import Prompt, RouteText
from stop_gateway.buttons import RouteChoice
from stop_gateway.settings import GatewaySettings

__all__ = ["BookingMenu"]

logger = logging.getLogger(__name__)


class BookingMenu:
    """The book button's menu at one stop; the gateway supplies speech, sending and tasks.

    ``prompt`` says a prompt, ``send_booking`` sends the ``book`` event for a route (its
    ticket settles with the server's receipt), ``withdraw`` gives a pending event up
    (False if it was settled already), ``online`` tells whether the broker is connected,
    and ``spawn`` starts a task the gateway keeps and cancels.
    ``routes`` and ``offer_listeners`` are the gateway's own lists, read at each offer.
    """

    def __init__(
        self,
        *,
        stop_id: str,
        settings: GatewaySettings,
        routes: list[RouteChoice],
        offer_listeners: list[Callable[[RouteChoice], None]],
        queue: SpeechQueue,
        prompt: Callable[[Prompt, RouteText | None], None],
        send_booking: Callable[[RouteChoice], Awaitable[Ticket]],
        withdraw: Callable[[uuid.UUID], Awaitable[bool]],
        online: Callable[[], bool],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        self.stop_id = stop_id
        self.settings = settings
        self.routes = routes
        self.offer_listeners = offer_listeners
        self._queue = queue
        self._prompt = prompt
        self._send_booking = send_booking
        self._withdraw = withdraw
        self._online = online
        self._spawn = spawn
        self._menu_task: asyncio.Task[None] | None = None
        self._offered: RouteChoice | None = None
        self._chosen: asyncio.Event = asyncio.Event()
        self._awaiting_book: tuple[str, int] | None = None
        self._book_timer: asyncio.Task[None] | None = None

    def press(self) -> None:
        """The book button: open the menu, or choose the route being offered."""
        if self._menu_task is not None and not self._menu_task.done():
            if self._offered is not None:
                self._chosen.set()
            return
        self._chosen = asyncio.Event()
        self._menu_task = self._spawn(self._menu())

    def cancel(self) -> bool:
        """Close an open menu, saying so; False when no menu is open."""
        if self._menu_task is None or self._menu_task.done():
            return False
        self._menu_task.cancel()
        self._prompt(Prompt.MENU_NONE, None)
        return True

    def note_call(self, call: StopCall) -> None:
        """A call for the route just booked confirms the booking: stop the deadline."""
        wanted = self._awaiting_book
        if wanted is None or call.route_id != wanted[0]:
            return
        if call.direction_id is not None and call.direction_id != wanted[1]:
            return
        self._awaiting_book = None
        if self._book_timer is not None:
            self._book_timer.cancel()
            self._book_timer = None

    async def _menu(self) -> None:
        if not self.routes:
            self._prompt(Prompt.NO_ROUTES, None)
            return
        self._prompt(Prompt.MENU_INTRO, None)
        chosen: RouteChoice | None = None
        try:
            for _round in range(self.settings.menu_rounds):
                for route in self.routes:
                    self._offered = route
                    for listener in self.offer_listeners:
                        listener(route)
                    self._prompt(Prompt.MENU_ITEM, route.text)
                    with contextlib.suppress(TimeoutError):
                        await self._queue.wait_idle()
                    await wait_event(self._chosen, self.settings.menu_dwell_s)
                    if self._chosen.is_set():
                        chosen = route
                        break
                if chosen is not None:
                    break
        finally:
            self._offered = None
        if chosen is None:
            self._prompt(Prompt.MENU_NONE, None)
            return
        self._prompt(Prompt.BOOKING, chosen.text)
        ticket = await self._send_booking(chosen)
        self._awaiting_book = (chosen.route_id, chosen.direction_id)
        if self._book_timer is not None:
            self._book_timer.cancel()
        self._book_timer = self._spawn(self._book_deadline(ticket))

    async def _book_deadline(self, ticket: Ticket) -> None:
        """Say the booking failed if the server refuses it or has not got it in time.

        Cancelled (by ``note_call``) as soon as the booking's call arrives.
        """
        settlement: Settlement | None = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.book_confirm_timeout_s):
                settlement = await asyncio.shield(ticket.settled)
        if settlement is None:
            if await self._withdraw(ticket.event_id):
                logger.warning("stop %s: the booking did not reach the server", self.stop_id)
                self._failed(Prompt.BOOK_FAILED if self._online() else Prompt.OFFLINE)
                return
            settlement = await ticket.settled  # settled in the same moment
        if settlement.applied:
            # The server has the booking: its call is the confirmation, late or not.
            logger.info("stop %s: booking %s applied", self.stop_id, ticket.event_id)
            return
        logger.warning("stop %s: booking refused: %s", self.stop_id, settlement.detail)
        self._failed(Prompt.BOOK_FAILED if settlement.by_server else Prompt.OFFLINE)

    def _failed(self, prompt: Prompt) -> None:
        self._awaiting_book = None
        self._prompt(prompt, None)
