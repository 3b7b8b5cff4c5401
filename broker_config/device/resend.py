"""When a device sends its pending events again: a pure schedule, no I/O, no clock of its own.

A device event (a driver's tap, a stop's button press) is pending until the server's
receipt for it arrives (see ``broker_config.device.receipts``). :class:`ResendSchedule`
decides which pending events to send at a given moment:

- a new event is due at once;
- after each copy, the next is due ``backoff.delay(attempt)`` later (2 s doubling to 30 s
  by default): a server that is away is not flooded, one that is back soon hears soon;
- after every (re)connection every pending event is due at once and the back-off
  starts over: a broker restart is when copies are most likely to have been lost;
- the events due at a moment go out oldest first. An earlier event that is not due
  was sent moments ago on the same connection, whose order MQTT keeps, so the server
  hears a device's events in the order they were made (a driver's "acknowledged"
  before the same driver's "boarded") without re-sending every earlier event with each
  new one (that multiplied the copies by the backlog while the server was away).

Times are whatever the caller's clock gives (``time.monotonic()`` in devices, a fake
number in tests).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["DEFAULT_RESEND_FIRST_S", "DEFAULT_RESEND_MAX_S", "Backoff", "ResendSchedule"]

#: The wait after the first copy of a pending event before the second.
DEFAULT_RESEND_FIRST_S = 2.0
#: The longest wait between two copies of a pending event.
DEFAULT_RESEND_MAX_S = 30.0

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between copies: ``first_s``, then times ``factor`` each copy, up to ``max_s``."""

    first_s: float = DEFAULT_RESEND_FIRST_S
    max_s: float = DEFAULT_RESEND_MAX_S
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s or self.factor < 1:
            raise ValueError(f"a back-off needs 0 < first_s <= max_s and factor >= 1: {self}")

    def delay(self, attempt: int) -> float:
        """The wait after the ``attempt``-th copy (1 for the first) before the next."""
        return min(self.max_s, self.first_s * self.factor ** max(0, attempt - 1))


@dataclass(slots=True)
class _Entry:
    attempts: int
    due_at: float


class ResendSchedule(Generic[K]):
    """The pending events by key, in the order they were added; see the module docstring."""

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        # dicts keep insertion order: the order the events were made in.
        self._entries: dict[K, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._entries))

    def add(self, key: K, now: float) -> None:
        """A new pending event, due at once (an event already pending keeps its place)."""
        self._entries.setdefault(key, _Entry(attempts=0, due_at=now))

    def remove(self, key: K) -> bool:
        """The event is settled (receipt, refusal, withdrawn); False if it was not pending."""
        return self._entries.pop(key, None) is not None

    def attempts(self, key: K) -> int:
        """Copies sent so far (0 if none, or not pending)."""
        entry = self._entries.get(key)
        return entry.attempts if entry is not None else 0

    def due(self, now: float) -> list[K]:
        """The events to send at ``now``, oldest first."""
        return [key for key, entry in self._entries.items() if entry.due_at <= now]

    def sent(self, key: K, now: float) -> None:
        """A copy of ``key`` went out at ``now``: the next is due after the back-off."""
        entry = self._entries.get(key)
        if entry is None:
            return  # settled while the copy was on its way
        entry.attempts += 1
        entry.due_at = now + self.backoff.delay(entry.attempts)

    def reconnected(self, now: float) -> None:
        """A new connection: every pending event is due at once, the back-off starts over."""
        for entry in self._entries.values():
            entry.attempts = 0
            entry.due_at = now

    def next_due(self) -> float | None:
        """When the next event is due (None: nothing pending)."""
        return min((e.due_at for e in self._entries.values()), default=None)
