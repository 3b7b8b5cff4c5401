"""Chimes and spoken lines on the shared device speech stack (text sink, no audio)."""

from __future__ import annotations

import uuid
from pathlib import Path

from broker_config.device.audio import TextSink, wav_stats
from broker_config.device.speech import make_speaker
from broker_config.device.speech_queue import SpeechQueue
from broker_config.messages import Localized
from driver_display.chimes import chime_wav
from driver_display.sound import Cue, SoundPlan
from driver_display.speech_output import SpeechSoundOutput


def test_chimes_are_audible_and_distinct(tmp_path: Path) -> None:
    stats = {}
    for cue in Cue:
        path = tmp_path / f"{cue.value}.wav"
        path.write_bytes(chime_wav(cue))
        stats[cue] = wav_stats(path)
        assert not stats[cue].silent
        assert 0.2 < stats[cue].duration_s < 1.0
    assert chime_wav(Cue.NEW_ALERT) != chime_wav(Cue.REMINDER)


async def test_new_alert_chimes_then_speaks_driver_language_first() -> None:
    sink = TextSink()
    line = Localized.model_validate(
        {"zh-TW": "新的上車預約：中山站。", "en": "New pick-up at Zhongshan."}
    )
    async with SpeechQueue(make_speaker(sink)) as queue:
        output = SpeechSoundOutput(sink, queue)
        await output.play(SoundPlan(Cue.NEW_ALERT, (uuid.uuid4(),), line), "en")
        await queue.wait_idle(5)
        await output.play(SoundPlan(Cue.REMINDER, (uuid.uuid4(),)), "en")
    assert list(sink.lines) == [
        ("en", "(chime: new alert)"),
        ("en", "New pick-up at Zhongshan."),
        ("zh-TW", "新的上車預約：中山站。"),
        ("en", "(chime: please acknowledge)"),
    ]
    assert output.speaker_ok is True
