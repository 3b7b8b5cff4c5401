"""Real speech: espeak-ng voices, rendered WAVs, the worker thread, the text-only path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from broker_config.device.audio import TextSink, WavFolderSink, wav_stats
from broker_config.device.speech import (
    ENGLISH_VOICE,
    MANDARIN_VOICE,
    EspeakSpeaker,
    SpeechError,
    TextSpeaker,
    VoiceConfig,
    make_speaker,
)
from broker_config.device.speech_queue import SpeechQueue, Utterance
from broker_config.messages import Lang

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

ZH = "307路 往板橋 公車已到站"
EN = "Bus 307 to Banqiao is at the stop now"
RATE = 165
LINES: tuple[tuple[Lang, str], ...] = (("zh-TW", ZH), ("en", EN))


def espeak_phonemes(voice: str, text: str) -> str:
    done = subprocess.run(
        ["espeak-ng", "-v", voice, "-q", "-x", text],
        capture_output=True,
        check=True,
        timeout=20,
    )
    return done.stdout.decode()


def espeak_render(voice: str, text: str, path: Path, rate: int = RATE) -> Path:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-a", "100", "-w", str(path), text],
        check=True,
        timeout=20,
    )
    return path


def test_plain_cmn_reads_lu_wrong_and_pinyin_right() -> None:
    # cmn reads the pinyin "lu4" of 路 as English ("loo four"): a switch to (en).
    assert "(en)" in espeak_phonemes("cmn", "路")
    pinyin = espeak_phonemes(MANDARIN_VOICE, "路")
    assert "(en)" not in pinyin
    assert "l'u51" in pinyin


async def test_mandarin_wav_is_speech_in_the_pinyin_voice(tmp_path: Path) -> None:
    speaker = EspeakSpeaker(WavFolderSink(tmp_path / "out"), VoiceConfig(rate=RATE))
    stats = await speaker.render(ZH, "zh-TW", tmp_path / "zh.wav")
    assert not stats.silent
    assert 1.0 < stats.duration_s < 8.0
    pinyin = wav_stats(espeak_render(MANDARIN_VOICE, ZH, tmp_path / "pinyin.wav"))
    plain = wav_stats(espeak_render("cmn", ZH, tmp_path / "cmn.wav"))
    # The speaker's audio is the pinyin voice's, and clearly not the plain cmn voice's.
    assert abs(stats.frames - pinyin.frames) <= 0.01 * pinyin.frames
    assert abs(stats.rms - pinyin.rms) <= 0.02 * pinyin.rms
    assert abs(stats.frames - plain.frames) > 0.05 * plain.frames


async def test_english_wav_is_speech_of_plausible_length(tmp_path: Path) -> None:
    speaker = EspeakSpeaker(WavFolderSink(tmp_path / "out"), VoiceConfig(rate=RATE))
    stats = await speaker.render(EN, "en", tmp_path / "en.wav")
    assert not stats.silent
    assert 1.0 < stats.duration_s < 8.0
    reference = wav_stats(espeak_render(ENGLISH_VOICE, EN, tmp_path / "ref.wav"))
    assert abs(stats.frames - reference.frames) <= 0.01 * reference.frames


async def test_every_render_speaks_at_its_own_speakers_rate(tmp_path: Path) -> None:
    # pyttsx3's own loop cancelled espeak-ng's queue while it still applied a sentence's
    # settings, so a sentence could come out at the rate of the one before (CI saw the
    # first Mandarin render at pyttsx3's default 200 wpm). Alternate two rates and two
    # voices: each render must match the espeak-ng command line at its own rate.
    slow = EspeakSpeaker(WavFolderSink(tmp_path / "slow"), VoiceConfig(rate=120))
    fast = EspeakSpeaker(WavFolderSink(tmp_path / "fast"), VoiceConfig(rate=220))
    references = {
        (rate, lang): wav_stats(espeak_render(voice, text, tmp_path / f"{rate}{lang}.wav", rate))
        for rate in (120, 220)
        for lang, voice, text in (("zh-TW", MANDARIN_VOICE, ZH), ("en", ENGLISH_VOICE, EN))
    }
    for round_ in range(3):
        for speaker in (fast, slow):
            for lang, text in LINES:
                stats = await speaker.render(text, lang, tmp_path / f"{round_}.wav")
                reference = references[(speaker.config.rate, lang)]
                assert abs(stats.frames - reference.frames) <= 0.01 * reference.frames, (
                    round_,
                    speaker.config.rate,
                    lang,
                    stats.frames,
                    reference.frames,
                )


async def test_queue_into_a_wav_folder_in_order(tmp_path: Path) -> None:
    sink = WavFolderSink(tmp_path / "spoken")
    speaker = make_speaker(sink, VoiceConfig(rate=RATE))
    assert await speaker.self_test() is True
    assert speaker.speaker_ok is True
    async with SpeechQueue(speaker) as queue:
        queue.put(Utterance.bilingual(ZH, EN, first="en"))
        await queue.wait_idle(30)
    assert [f.name for f in sink.files] == ["000001-en.wav", "000002-zh-TW.wav"]
    for path in sink.files:
        assert not wav_stats(path).silent
    assert sink.files[1].with_suffix(".txt").read_text(encoding="utf-8") == ZH + "\n"


async def test_an_unknown_voice_is_an_error_not_silence(tmp_path: Path) -> None:
    speaker = EspeakSpeaker(
        WavFolderSink(tmp_path), VoiceConfig(voices={"zh-TW": "xx/nope", "en": ENGLISH_VOICE})
    )
    with pytest.raises(SpeechError, match="no voice"):
        await speaker.speak("你好", "zh-TW")
    assert await speaker.self_test() is False


async def test_text_sink_speaks_without_tts() -> None:
    sink = TextSink()
    speaker = make_speaker(sink)
    assert isinstance(speaker, TextSpeaker)
    await speaker.speak("公車已到站", "zh-TW")
    assert list(sink.lines) == [("zh-TW", "公車已到站")]


def test_text_only_never_loads_pyttsx3() -> None:
    code = (
        "import asyncio, sys\n"
        "from broker_config.device.audio import TextSink\n"
        "from broker_config.device.speech import make_speaker\n"
        "from broker_config.device.speech_queue import SpeechQueue, Utterance\n"
        "async def main():\n"
        "    async with SpeechQueue(make_speaker(TextSink())) as q:\n"
        "        q.put(Utterance.bilingual('到站', 'at the stop'))\n"
        "        await q.wait_idle(5)\n"
        "asyncio.run(main())\n"
        "assert 'pyttsx3' not in sys.modules, 'pyttsx3 was loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
