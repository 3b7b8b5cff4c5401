"""Speech for BusHail devices: a small ``Speaker`` interface and its espeak-ng speaker.

Public API
----------
- :class:`Speaker` (Protocol): ``await speaker.speak(text, lang)`` says one sentence
  and returns when it has been said; ``await speaker.self_test()`` renders a short
  phrase per language and checks it is not silent (the result is ``speaker_ok``, which
  devices report in DeviceHealth).
- :func:`make_speaker(sink, config)`: the right speaker for an audio sink. A sink that
  needs no audio (:class:`~broker_config.device.audio.TextSink`) gets a
  :class:`TextSpeaker`, which never starts pyttsx3 and never starts a thread; any other
  sink gets an :class:`EspeakSpeaker`.
- :class:`EspeakSpeaker`: pyttsx3 on espeak-ng. Every pyttsx3 call runs in the ONE
  process-wide :class:`SpeechWorker` thread (pyttsx3 hangs when two threads use it at
  once, and after a fork), created lazily on first use and shared by every speaker of
  the process. The worker renders each sentence to a WAV through pyttsx3's espeak-ng
  binding (settings and text in espeak-ng's queue, audio collected until espeak-ng
  says it has finished) and hands it to the sink in the same thread, so nothing ever
  overlaps.
  ``await speaker.render(text, lang, path)`` renders into a file and returns its
  :class:`~broker_config.device.audio.WavStats`.
- :class:`VoiceConfig`: the espeak-ng voice per language, rate (words per minute) and
  volume (0..1).

Why ``sit/cmn-latn-pinyin`` for Mandarin
----------------------------------------
espeak-ng's plain ``cmn`` voice (``sit/cmn``, "Mandarin, latin as English") looks up 路
as the pinyin ``lu4`` and then reads that pinyin *as English*: ``espeak-ng -v cmn -q -x
路`` prints ``(en)lV55f'o@55(cmn)``, i.e. it switches to English and says "loo four".
The ``sit/cmn-latn-pinyin`` voice ("latin as Pinyin") prints ``l'u51`` (lù, falling
tone), which is right, and reads 307路 公車已到站 / 往板橋 / 紅30 / 棕9 correctly. We
checked this with the two ``espeak-ng -x`` commands above (espeak-ng 1.51); the test
``tests/stop_gateway/test_speech.py::test_plain_cmn_reads_lu_wrong_and_pinyin_right``
repeats the check, and the WAV test proves the speaker's Mandarin render matches
the pinyin voice's render (length within 1 %, RMS within 2 %), not the ``cmn`` one. (pyttsx3's
``getProperty("voice")`` does not report this voice back, and an unknown voice name is
silently ignored, so we validate names against espeak-ng's voice list instead.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import threading
import wave
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Final, Protocol, TypeVar, runtime_checkable

from broker_config.device.audio import AudioSink, WavStats, wav_stats
from broker_config.messages import Lang

__all__ = [
    "DEFAULT_VOICES",
    "ENGLISH_VOICE",
    "MANDARIN_VOICE",
    "EspeakSpeaker",
    "Speaker",
    "SpeechError",
    "SpeechWorker",
    "TextSpeaker",
    "VoiceConfig",
    "make_speaker",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Mandarin that reads 路 as lù (see the module docstring).
MANDARIN_VOICE: Final = "sit/cmn-latn-pinyin"
ENGLISH_VOICE: Final = "gmw/en-us"
DEFAULT_VOICES: Final[Mapping[Lang, str]] = MappingProxyType(
    {"zh-TW": MANDARIN_VOICE, "en": ENGLISH_VOICE}
)

#: espeak-ng renders 16-bit mono at this rate.
ESPEAK_SAMPLE_RATE: Final = 22050

#: Longest time one sentence may take to render.
RENDER_TIMEOUT_S: Final = 30.0

#: What the self-test says.
SELF_TEST_PHRASES: Final[Mapping[Lang, str]] = MappingProxyType(
    {"zh-TW": "公車站測試", "en": "Bus stop test"}
)


class SpeechError(RuntimeError):
    """Speech could not be rendered or played."""


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """espeak-ng voice per language, speed in words per minute, volume 0..1."""

    voices: Mapping[Lang, str] = field(default_factory=lambda: dict(DEFAULT_VOICES))
    rate: int = 165
    volume: float = 1.0

    def voice_for(self, lang: Lang) -> str:
        return self.voices.get(lang) or DEFAULT_VOICES[lang]


@runtime_checkable
class Speaker(Protocol):
    """Says one sentence at a time; see the module docstring."""

    @property
    def speaker_ok(self) -> bool | None:
        """The last self-test's result (None before the first one)."""
        ...

    async def speak(self, text: str, lang: Lang) -> None:
        """Say ``text`` in ``lang``; return when it has been said (raise SpeechError)."""
        ...

    async def self_test(self) -> bool:
        """Render a short phrase per language; True when none is silent."""
        ...


class TextSpeaker:
    """A speaker for sinks that need no audio: hands the text over, no thread, no TTS."""

    def __init__(self, sink: AudioSink) -> None:
        self.sink = sink

    @property
    def speaker_ok(self) -> bool | None:
        return True

    async def speak(self, text: str, lang: Lang) -> None:
        self.sink.play(None, text, lang)

    async def self_test(self) -> bool:
        return True


class SpeechWorker:
    """The one thread of the process that owns pyttsx3; use :meth:`shared`.

    ``await worker.call(fn, *args)`` runs ``fn`` in that thread. Functions running there
    may use :meth:`engine` and :meth:`render_blocking`.
    """

    _shared: ClassVar[SpeechWorker | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bushail-speech")
        self._engine: Any = None
        self._voices: frozenset[str] = frozenset()
        self._thread: threading.Thread | None = None
        self._capture: bytearray | None = None
        self._capture_done = threading.Event()

    @classmethod
    def shared(cls) -> SpeechWorker:
        """The process's worker, created on first use (no thread until the first call)."""
        with cls._shared_lock:
            worker = cls._shared
            if worker is not None and worker.pid != os.getpid():
                if worker._engine is not None:
                    raise SpeechError(
                        "pyttsx3 was started before this process forked and would hang "
                        "here: create speakers only after forking"
                    )
                worker = None
            if worker is None:
                worker = cls._shared = cls()
            return worker

    @property
    def engine_started(self) -> bool:
        return self._engine is not None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the worker thread without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # -- below: only ever called in the worker thread -----------------------------------
    def _check_thread(self) -> None:
        current = threading.current_thread()
        if self._thread is None:
            self._thread = current
        elif current is not self._thread:
            raise SpeechError("pyttsx3 used outside the speech worker thread")

    def engine(self) -> Any:
        """The pyttsx3 engine, started on first use (worker thread only).

        Starting it initialises espeak-ng once for the process (retrieval mode: audio
        comes back to us, espeak-ng plays nothing) and lists its voices.
        """
        self._check_thread()
        if self._engine is None:
            import pyttsx3  # deferred: a text-only device never loads it
            from pyttsx3.drivers import _espeak

            self._engine = pyttsx3.init("espeak")
            self._voices = frozenset(v.id for v in self._engine.getProperty("voices"))
            _espeak.SetSynthCallback(self._on_synth)
            logger.info("pyttsx3 started on espeak-ng (%d voices)", len(self._voices))
        return self._engine

    def _on_synth(self, wav: Any, numsamples: int, _events: Any) -> int:
        """espeak-ng's synth callback (its own thread): keep each buffer until the end.

        A NULL buffer is espeak-ng's end of synthesis. Returning 0 lets it go on.
        """
        import ctypes

        capture = self._capture
        if not wav:
            self._capture_done.set()
        elif capture is not None and numsamples > 0:
            capture += ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))
        return 0

    def render_blocking(self, text: str, voice: str, rate: int, volume: float, path: Path) -> None:
        """Render ``text`` into the WAV ``path`` (worker thread only).

        We drive espeak-ng through pyttsx3's own binding rather than through
        ``save_to_file`` and ``runAndWait``. pyttsx3 2.99's loop lost audio at random:
        its synth callback wrote the file on the end-of-message event, which may come
        before the last buffers; and its loop calls ``stop()`` before every sentence,
        which cancels espeak-ng's queue whenever espeak-ng is still applying the
        sentence's settings (``IsPlaying`` is true then), so under load a sentence
        was spoken at the previous rate or cut short. Here settings and text go into
        espeak-ng's queue in order, nothing cancels them, and the audio is complete
        when espeak-ng hands over its NULL buffer.
        """
        from pyttsx3.drivers import _espeak

        self.engine()
        if voice.lower() not in self._voices:
            raise SpeechError(f"espeak-ng has no voice {voice!r} (see 'espeak-ng --voices')")
        # Nothing of an earlier sentence is still in espeak-ng's queue or callback.
        _espeak.Synchronize()
        if _espeak.SetVoiceByName(voice.encode()) != 0:
            raise SpeechError(f"espeak-ng could not select the voice {voice!r}")
        _espeak.SetParameter(_espeak.RATE, rate, 0)
        _espeak.SetParameter(_espeak.VOLUME, round(volume * 100), 0)
        self._capture = bytearray()
        self._capture_done.clear()
        try:
            if _espeak.Synth(text, flags=_espeak.ENDPAUSE | _espeak.CHARS_UTF8) != 0:
                raise SpeechError(f"espeak-ng refused {text!r}")
            done = self._capture_done.wait(RENDER_TIMEOUT_S)
            if not done:
                _espeak.Cancel()
            _espeak.Synchronize()
            audio = bytes(self._capture)
        finally:
            self._capture = None
        if not done:
            raise SpeechError(f"espeak-ng did not finish {text!r}")
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(ESPEAK_SAMPLE_RATE)
            out.writeframes(audio)


class EspeakSpeaker:
    """pyttsx3 on espeak-ng, rendering in the shared :class:`SpeechWorker`, into a sink."""

    def __init__(
        self,
        sink: AudioSink,
        config: VoiceConfig | None = None,
        *,
        worker: SpeechWorker | None = None,
        temp_dir: Path | None = None,
    ) -> None:
        self.sink = sink
        self.config = config or VoiceConfig()
        self._worker = worker
        self._temp_dir = temp_dir
        self._speaker_ok: bool | None = None

    @property
    def worker(self) -> SpeechWorker:
        if self._worker is None:
            self._worker = SpeechWorker.shared()
        return self._worker

    @property
    def speaker_ok(self) -> bool | None:
        return self._speaker_ok

    def _temp_wav(self) -> Path:
        fd, name = tempfile.mkstemp(prefix="bushail-", suffix=".wav", dir=self._temp_dir)
        os.close(fd)
        return Path(name)

    def _speak_blocking(self, text: str, lang: Lang) -> None:
        path = self._temp_wav()
        try:
            self.worker.render_blocking(
                text, self.config.voice_for(lang), self.config.rate, self.config.volume, path
            )
            self.sink.play(path, text, lang)
        except SpeechError:
            raise
        except Exception as exc:
            raise SpeechError(f"could not say {text!r}: {exc}") from exc
        finally:
            path.unlink(missing_ok=True)  # the sink may have moved it already

    async def speak(self, text: str, lang: Lang) -> None:
        await self.worker.call(self._speak_blocking, text, lang)

    def _render_blocking(self, text: str, lang: Lang, path: Path) -> WavStats:
        self.worker.render_blocking(
            text, self.config.voice_for(lang), self.config.rate, self.config.volume, path
        )
        return wav_stats(path)

    async def render(self, text: str, lang: Lang, path: Path) -> WavStats:
        """Render ``text`` into ``path`` (not played) and measure it."""
        return await self.worker.call(self._render_blocking, text, lang, path)

    def _self_test_blocking(self) -> bool:
        ok = True
        for lang, phrase in SELF_TEST_PHRASES.items():
            path = self._temp_wav()
            try:
                stats = self._render_blocking(phrase, lang, path)
            except Exception as exc:
                logger.error("speech self-test (%s) failed: %s", lang, exc)
                ok = False
                continue
            finally:
                path.unlink(missing_ok=True)
            if stats.silent:
                logger.error("speech self-test (%s): the rendered phrase is silent", lang)
                ok = False
        return ok

    async def self_test(self) -> bool:
        self._speaker_ok = await self.worker.call(self._self_test_blocking)
        return self._speaker_ok


def make_speaker(sink: AudioSink, config: VoiceConfig | None = None) -> Speaker:
    """A :class:`TextSpeaker` for a sink without audio, else an :class:`EspeakSpeaker`."""
    if not sink.needs_audio:
        return TextSpeaker(sink)
    return EspeakSpeaker(sink, config)
