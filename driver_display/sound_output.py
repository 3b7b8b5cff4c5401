"""Where the display's sounds go: a small ``SoundOutput`` Protocol and simple outputs.

The decisions (what to play when) are in ``driver_display.sound``; an output only plays
a ``SoundPlan``. ``play`` must not block the event loop: real outputs hand the audio to
one worker thread. The espeak-ng/aplay output built on ``broker_config.device`` lives in
``driver_display.speech_output``.
"""

from __future__ import annotations

import logging
from typing import Protocol

from broker_config.messages import Lang
from driver_display.sound import SoundPlan

__all__ = ["LogSoundOutput", "RecordingSoundOutput", "SoundOutput"]

logger = logging.getLogger(__name__)


class SoundOutput(Protocol):
    """Plays chimes and spoken lines for the driver."""

    @property
    def speaker_ok(self) -> bool | None:
        """Whether the last sound played (None: not known yet); reported in health."""
        ...

    async def play(self, plan: SoundPlan, lang: Lang) -> None:
        """Play the plan's chime, then its line (``lang`` first, then the other)."""
        ...


class LogSoundOutput:
    """No audio: logs what would be played (simulators, headless runs)."""

    speaker_ok: bool | None = None

    def __init__(self, name: str = "") -> None:
        self.name = name

    async def play(self, plan: SoundPlan, lang: Lang) -> None:
        logger.info(
            "display %s: %s %s",
            self.name,
            plan.cue.value,
            plan.line.get(lang) if plan.line is not None else "",
        )


class RecordingSoundOutput:
    """Keeps every plan it was asked to play (tests, and the simulator's checks)."""

    speaker_ok: bool | None = True

    def __init__(self) -> None:
        self.played: list[SoundPlan] = []

    async def play(self, plan: SoundPlan, lang: Lang) -> None:
        self.played.append(plan)
