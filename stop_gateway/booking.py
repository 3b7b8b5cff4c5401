"""Booking without a phone: the spoken route menu, and the wait for the booked call.

A press of book opens the menu: the stop reads its routes one by one, ``menu_rounds``
times over, and a press of book while a route is read (or in the ``menu_dwell_s`` after
it) chooses that route. The gateway then publishes a ``book`` StopEvent; the server's
StopCall for the route is the confirmation, and when none has come after
``book_confirm_timeout_s`` the stop says that the booking failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from broker_config.device.speech_queue import SpeechQueue
from broker_config.messages import StopCall
from stop_gateway.announcements import Prompt, RouteText
from stop_gateway.buttons import RouteChoice
from stop_gateway.settings import GatewaySettings

__all__ = ["BookingMenu"]

logger = logging.getLogger(__name__)


class BookingMenu:
    """The book button's menu at one stop; the gateway supplies speech, sending and tasks.

    ``prompt`` says a prompt, ``send_booking`` publishes the ``book`` event for a route
    (False when it could not), and ``spawn`` starts a task the gateway keeps and cancels.
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
        send_booking: Callable[[RouteChoice], Awaitable[bool]],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        self.stop_id = stop_id
        self.settings = settings
        self.routes = routes
        self.offer_listeners = offer_listeners
        self._queue = queue
        self._prompt = prompt
        self._send_booking = send_booking
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
                        await asyncio.wait_for(self._chosen.wait(), self.settings.menu_dwell_s)
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
        if await self._send_booking(chosen):
            self._awaiting_book = (chosen.route_id, chosen.direction_id)
            if self._book_timer is not None:
                self._book_timer.cancel()
            self._book_timer = self._spawn(self._book_deadline())

    async def _book_deadline(self) -> None:
        await asyncio.sleep(self.settings.book_confirm_timeout_s)
        if self._awaiting_book is not None:
            self._awaiting_book = None
            logger.warning("stop %s: no call came for the booking", self.stop_id)
            self._prompt(Prompt.BOOK_FAILED, None)
