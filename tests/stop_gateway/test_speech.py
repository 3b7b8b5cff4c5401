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

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

ZH = "307路 往板橋 公車已到站"
EN = "Bus 307 to Banqiao is at the stop now"
RATE = 165


def espeak_phonemes(voice: str, text: str) -> str:
    done = subprocess.run(
        ["espeak-ng", "-v", voice, "-q", "-x", text],
        capture_output=True,
        check=True,
        timeout=20,
    )
    return done.stdout.decode()


def espeak_render(voice: str, text: str, path: Path) -> Path:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(RATE), "-a", "100", "-w", str(path), text],
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
