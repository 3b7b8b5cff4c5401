"""Failed console sign-ins, counted per client address and in all, in a sliding window.

``login_failures_per_address`` failures from one address within ``login_window_s`` lock
that address until the oldest of them leaves the window; ``login_failures_global`` from
all addresses together lock every sign-in the same way (a guesser spread over many
addresses). A lock refuses the right token too: otherwise guessing would go on at full
speed and only the answer would change. A successful sign-in clears its address's count.

Kept in memory: right for one API instance. The class is the whole interface, so a
shared store (the database) can take its place when there are several.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rider_api.settings import ConsoleSettings

__all__ = ["Lockout", "LoginThrottle"]


@dataclass(frozen=True, slots=True)
class Lockout:
    """Sign-in is refused for ``retry_after_s`` more seconds, for one address or all."""

    retry_after_s: int
    scope: Literal["address", "all"]


class LoginThrottle:
    """Counts failed sign-ins; says whether, and for how long, sign-in is locked."""

    def __init__(
        self, settings: ConsoleSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        #: Seconds on a monotonic scale; tests put a clock of their own here.
        self.clock = clock
        self._by_address: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def lockout(self, address: str) -> Lockout | None:
        """Whether a sign-in from ``address`` must wait now, and how long."""
        now = self.clock()
        self._forget_before(now - self.settings.login_window_s)
        window = self.settings.login_window_s
        if len(self._all) >= self.settings.login_failures_global:
            oldest = self._all[-self.settings.login_failures_global]
            return Lockout(_seconds(oldest + window - now), "all")
        failures = self._by_address.get(address)
        if failures is not None and len(failures) >= self.settings.login_failures_per_address:
            oldest = failures[-self.settings.login_failures_per_address]
            return Lockout(_seconds(oldest + window - now), "address")
        return None

    def failed(self, address: str) -> Lockout | None:
        """Count a failed sign-in from ``address``; the lockout it brings, if any."""
        now = self.clock()
        self._by_address.setdefault(address, deque()).append(now)
        self._all.append(now)
        return self.lockout(address)

    def succeeded(self, address: str) -> None:
        """A right token from ``address``: its count starts again."""
        self._by_address.pop(address, None)

    def _forget_before(self, cutoff: float) -> None:
        # Every failure is in ``_all`` too, and no failure is counted while everything is
        # locked: at most ``login_failures_global`` addresses are ever held here.
        while self._all and self._all[0] <= cutoff:
            self._all.popleft()
        for address in [a for a, times in self._by_address.items() if times[-1] <= cutoff]:
            del self._by_address[address]
        for times in self._by_address.values():
            while times[0] <= cutoff:
                times.popleft()


def _seconds(remaining: float) -> int:
    """Whole seconds to wait, at least one (what ``Retry-After`` carries)."""
    return max(1, math.ceil(remaining))
