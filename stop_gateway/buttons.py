"""The gateway's buttons: a keypad abstraction and the routes a rider can book.

Public API
----------
- :class:`Keypad` (Protocol): ``async for action in keypad.presses()`` yields
  :class:`~broker_config.messages.ButtonAction` values (repeat, help, cancel, book).
  A GPIO keypad is a later adapter with the same shape.
- :class:`QueueKeypad`: presses pushed by code (``keypad.press(action)``): tests and
  simulators.
- :class:`TerminalKeypad`: the demo keypad, keys read from a terminal:
  ``r`` repeat, ``h`` help, ``c`` cancel, ``b``/space/enter book (and choose while the
  routes are read), ``q`` quit. ``async with TerminalKeypad() as keypad:`` puts the
  terminal in cbreak mode and restores it.
- :class:`RouteChoice` and :func:`parse_route_spec` / :func:`load_routes_file`: the
  routes serving the stop, read one by one when a rider books without a phone.
  A spec is ``route_id:direction_id:name_zh:name_en[:headsign_zh:headsign_en]``; the
  JSON file is a list of ``{"route_id", "direction_id", "name": {"zh-TW", "en"},
  "headsign"?: {...}, "tts"?: {...}}``.

Booking flow (run by the gateway): book -> the stop reads the routes one by one ->
a press of book while a route is read (or just after) chooses it -> the gateway
publishes a ``book`` StopEvent -> the confirmation is said when the server's StopCall
for that route arrives (or a failure after a time-out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self, cast

from broker_config.messages import ButtonAction
from broker_config.topics import validate_id
from stop_gateway.announcements import Bilingual, RouteText

__all__ = [
    "TERMINAL_KEYS",
    "Keypad",
    "QueueKeypad",
    "RouteChoice",
    "TerminalKeypad",
    "load_routes_file",
    "parse_route_spec",
]

TERMINAL_KEYS: Final[Mapping[str, ButtonAction]] = {
    "r": ButtonAction.REPEAT,
    "h": ButtonAction.HELP,
    "c": ButtonAction.CANCEL,
    "b": ButtonAction.BOOK,
    " ": ButtonAction.BOOK,
    "\n": ButtonAction.BOOK,
    "\r": ButtonAction.BOOK,
}


@dataclass(frozen=True, slots=True)
class RouteChoice:
    """A route and direction serving the stop, as offered in the booking menu."""

    route_id: str
    direction_id: Literal[0, 1]
    name: Bilingual
    headsign: Bilingual | None = None
    tts: Bilingual | None = None

    @property
    def text(self) -> RouteText:
        return RouteText(self.name, self.headsign, self.tts)


def parse_route_spec(spec: str) -> RouteChoice:
    """``route_id:direction_id:name_zh:name_en[:headsign_zh:headsign_en]``."""
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) not in (4, 6):
        raise ValueError(
            f"route {spec!r}: expected route_id:direction_id:name_zh:name_en"
            "[:headsign_zh:headsign_en]"
        )
    route_id, direction, name_zh, name_en = parts[:4]
    if direction not in ("0", "1"):
        raise ValueError(f"route {spec!r}: direction_id must be 0 or 1")
    headsign = Bilingual(parts[4], parts[5]) if len(parts) == 6 else None
    return RouteChoice(
        validate_id(route_id, "route id"),
        cast(Literal[0, 1], int(direction)),
        Bilingual(name_zh or name_en, name_en or name_zh),
        headsign,
    )


def _bilingual(data: Any, where: str) -> Bilingual | None:
    if data is None:
        return None
    if isinstance(data, str):
        return Bilingual(data, data)
    if (
        isinstance(data, dict)
        and isinstance(data.get("zh-TW"), str)
        and isinstance(data.get("en"), str)
    ):
        return Bilingual(data["zh-TW"], data["en"])
    raise ValueError(f"{where}: expected {{'zh-TW': ..., 'en': ...}}")


def load_routes_file(path: Path) -> list[RouteChoice]:
    """The routes of a JSON file (see the module docstring)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of routes")
    routes = []
    for index, item in enumerate(data):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected an object")
        direction = item.get("direction_id")
        if direction not in (0, 1):
            raise ValueError(f"{where}: direction_id must be 0 or 1")
        name = _bilingual(item.get("name", item.get("route_id")), where + ".name")
        if name is None:
            raise ValueError(f"{where}: a route needs a name")
        routes.append(
            RouteChoice(
                validate_id(str(item.get("route_id")), "route id"),
                cast(Literal[0, 1], direction),
                name,
                _bilingual(item.get("headsign"), where + ".headsign"),
                _bilingual(item.get("tts"), where + ".tts"),
            )
        )
    return routes


class Keypad(Protocol):
    """A source of button presses."""

    def presses(self) -> AsyncIterator[ButtonAction]: ...


class QueueKeypad:
    """Presses pushed by code (tests, simulators)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ButtonAction | None] = asyncio.Queue()

    def press(self, action: ButtonAction | str) -> None:
        self._queue.put_nowait(ButtonAction(action))

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def presses(self) -> AsyncIterator[ButtonAction]:
        while (action := await self._queue.get()) is not None:
            yield action


class TerminalKeypad:
    """Keys from a terminal (cbreak mode while the block lasts); ``q`` ends the presses."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream if stream is not None else sys.stdin
        self._queue: asyncio.Queue[ButtonAction | None] = asyncio.Queue()
        self._saved: Any = None

    async def __aenter__(self) -> Self:
        fd = self._stream.fileno()
        if self._stream.isatty():
            import termios
            import tty

            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        asyncio.get_running_loop().add_reader(fd, self._readable)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fd = self._stream.fileno()
        asyncio.get_running_loop().remove_reader(fd)
        if self._saved is not None:
            import termios

            with contextlib.suppress(termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)

    def _readable(self) -> None:
        import os

        data = os.read(self._stream.fileno(), 64).decode(errors="ignore")
        if not data:
            self._queue.put_nowait(None)
        for char in data:
            if char.lower() == "q":
                self._queue.put_nowait(None)
            elif (action := TERMINAL_KEYS.get(char.lower())) is not None:
                self._queue.put_nowait(action)

    async def presses(self) -> AsyncIterator[ButtonAction]:
        while (action := await self._queue.get()) is not None:
            yield action
