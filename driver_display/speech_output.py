"""The real ``SoundOutput``: chimes and spoken lines on the shared device speech stack.

Chimes go to the device's audio sink in the process's one speech worker thread (the
same thread that renders and plays speech, so nothing overlaps); spoken lines go
through the device's ``SpeechQueue`` as urgent utterances keyed by reservation, so a
newer line about the same alert replaces one still waiting.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from broker_config.device.audio import AudioSink
from broker_config.device.speech import SpeechWorker
from broker_config.device.speech_queue import SpeechQueue, Utterance
from broker_config.messages import Lang
from driver_display.chimes import chime_wav
from driver_display.i18n import t
from driver_display.sound import Cue, SoundPlan

__all__ = ["SpeechSoundOutput"]

logger = logging.getLogger(__name__)


class SpeechSoundOutput:
    """Plays a ``SoundPlan`` on an audio sink and a speech queue."""

    def __init__(
        self, sink: AudioSink, queue: SpeechQueue, *, worker: SpeechWorker | None = None
    ) -> None:
        self.sink = sink
        self.queue = queue
        self._worker = worker
        self._chime_ok: bool | None = None

    @property
    def speaker_ok(self) -> bool | None:
        spoken = self.queue.speaker.speaker_ok
        if self._chime_ok is False or spoken is False:
            return False
        return spoken if spoken is not None else self._chime_ok

    async def play(self, plan: SoundPlan, lang: Lang) -> None:
        label = t(f"chime.{plan.cue.value}", lang)
        try:
            if self.sink.needs_audio:
                worker = self._worker or SpeechWorker.shared()
                await worker.call(self._play_chime_blocking, plan.cue, label, lang)
            else:
                self.sink.play(None, label, lang)
            self._chime_ok = True
        except Exception:
            self._chime_ok = False
            raise
        finally:
            if plan.line is not None:
                key = str(plan.reservation_ids[0]) if plan.reservation_ids else None
                self.queue.put(
                    Utterance.bilingual(
                        plan.line.zh_tw, plan.line.en, first=lang, priority="urgent", key=key
                    )
                )

    def _play_chime_blocking(self, cue: Cue, label: str, lang: Lang) -> None:
        fd, name = tempfile.mkstemp(prefix="bushail-chime-", suffix=".wav")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(chime_wav(cue))
            self.sink.play(path, label, lang)  # the sink owns the file from here
        finally:
            path.unlink(missing_ok=True)
