"""What to play when: the pure sound decisions of the driver display.

- An alert that starts to need acknowledgement (a new pick-up, a drop-off that becomes
  ``alighting``) plays the new-alert chime and a short spoken line.
- While it still needs acknowledgement it chimes again every ``interval_s`` seconds
  (reminders due at the same moment share one chime); a server ``reminder`` re-send
  chimes at once and restarts the interval.
- Every other update (ETA, status, a cleared card) plays nothing.

Time is a plain float passed in (the caller's monotonic clock), so tests need no sleep.
The sounds themselves are played by a ``SoundOutput`` (see ``driver_display.audio``).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from broker_config.messages import Localized
from driver_display.alerts import AlertChange, ChangeKind
from driver_display.i18n import spoken_line

__all__ = ["Cue", "SoundPlan", "SoundPolicy"]


class Cue(enum.StrEnum):
    #: A distinct rising chime, followed by the spoken line.
    NEW_ALERT = "new_alert"
    #: A shorter chime: an alert still waits for acknowledgement.
    REMINDER = "reminder"


@dataclass(frozen=True, slots=True)
class SoundPlan:
    """One thing to play: a cue, and for a new alert the line to speak after it."""

    cue: Cue
    reservation_ids: tuple[uuid.UUID, ...]
    line: Localized | None = None


class SoundPolicy:
    """Decides, from alert changes and the clock, what the display plays."""

    def __init__(self, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the reminder interval must be positive")
        self.interval_s = interval_s
        #: reservation -> when it chimed last, for every alert that waits for an ack.
        self._waiting: dict[uuid.UUID, float] = {}

    @property
    def waiting(self) -> frozenset[uuid.UUID]:
        return frozenset(self._waiting)

    def on_change(self, change: AlertChange, now: float) -> SoundPlan | None:
        """The sound for one applied alert change (None: this update needs no action)."""
        rid = change.reservation_id
        if not change.needs_ack:
            self._waiting.pop(rid, None)
            return None
        if not change.needed_ack or change.kind is ChangeKind.ADDED:
            self._waiting[rid] = now
            assert change.current is not None  # noqa: S101 - needs_ack implies an alert
            return SoundPlan(Cue.NEW_ALERT, (rid,), spoken_line(change.current))
        if change.current is not None and change.current.reminder:
            self._waiting[rid] = now
            return SoundPlan(Cue.REMINDER, (rid,))
        self._waiting.setdefault(rid, now)
        return None

    def acknowledged(self, reservation_id: uuid.UUID) -> None:
        """The driver tapped an answer that stops the reminders."""
        self._waiting.pop(reservation_id, None)

    def due(self, now: float) -> SoundPlan | None:
        """One reminder chime for every alert whose interval has passed, or None."""
        ids = tuple(rid for rid, last in self._waiting.items() if now - last >= self.interval_s)
        if not ids:
            return None
        for rid in ids:
            self._waiting[rid] = now
        return SoundPlan(Cue.REMINDER, ids)

    def next_due(self) -> float | None:
        """When ``due`` will next return a plan (None: nothing waits)."""
        if not self._waiting:
            return None
        return min(self._waiting.values()) + self.interval_s
