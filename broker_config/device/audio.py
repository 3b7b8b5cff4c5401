"""Audio sinks: where a device's spoken words end up.

A sink receives each spoken sentence, one at a time, from the speech worker thread
(see :mod:`broker_config.device.speech`), so its ``play`` may block. Three sinks:

- :class:`AplaySink` plays the rendered WAV on the sound device with ``aplay``.
- :class:`WavFolderSink` keeps every rendered WAV in a folder (tests, demos, audits),
  named ``000001-zh-TW.wav`` ... with the text next to it in ``000001-zh-TW.txt``.
- :class:`TextSink` renders nothing: it logs the text and keeps the last lines. A
  speaker built on it never starts pyttsx3, so hundreds of simulated devices are cheap.

``make_sink(kind, folder=...)`` builds one from a setting (``device``/``wav``/``text``).
``wav_stats(path)`` measures a WAV (duration, RMS) to check it is not silent.
"""

from __future__ import annotations

import array
import collections
import logging
import math
import shutil
import subprocess
import sys
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from broker_config.messages import Lang

__all__ = [
    "SILENCE_RMS",
    "AplaySink",
    "AudioSink",
    "SinkKind",
    "TextSink",
    "WavFolderSink",
    "WavStats",
    "make_sink",
    "wav_stats",
]

logger = logging.getLogger(__name__)

SinkKind = Literal["device", "wav", "text"]

#: 16-bit RMS below this counts as silence (espeak-ng speech is in the thousands).
SILENCE_RMS = 200.0


@dataclass(frozen=True, slots=True)
class WavStats:
    """Measurements of a WAV file."""

    frames: int
    rate: int
    duration_s: float
    rms: float

    @property
    def silent(self) -> bool:
        return self.frames == 0 or self.rms < SILENCE_RMS


def wav_stats(path: Path) -> WavStats:
    """Duration and RMS of a 16-bit PCM WAV (all channels mixed)."""
    with wave.open(str(path), "rb") as wav:
        frames = wav.getnframes()
        rate = wav.getframerate()
        width = wav.getsampwidth()
        data = wav.readframes(frames)
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM is measured, not {8 * width}-bit")
    samples = array.array("h")
    samples.frombytes(data)
    if sys.byteorder == "big":
        samples.byteswap()
    rms = math.sqrt(math.fsum(s * s for s in samples) / len(samples)) if samples else 0.0
    return WavStats(frames=frames, rate=rate, duration_s=frames / rate if rate else 0.0, rms=rms)


@runtime_checkable
class AudioSink(Protocol):
    """Receives each spoken sentence; called from the speech worker thread only."""

    #: False for a sink that needs no audio (then no WAV is rendered, pyttsx3 not started).
    needs_audio: bool

    def play(self, wav: Path | None, text: str, lang: Lang) -> None:
        """Output one sentence; ``wav`` is the rendered file (None when not needed).

        Blocks until done. The sink owns ``wav`` afterwards (it may move or delete it).
        """
        ...


class TextSink:
    """No audio: logs each sentence and keeps the last ``keep`` of them in ``lines``."""

    needs_audio = False

    def __init__(self, keep: int = 200, *, name: str = "") -> None:
        self.name = name
        self.lines: collections.deque[tuple[Lang, str]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def play(self, wav: Path | None, text: str, lang: Lang) -> None:
        with self._lock:
            self.lines.append((lang, text))
        logger.info("speak %s[%s] %s", self.name and self.name + " ", lang, text)


class WavFolderSink:
    """Keeps every rendered sentence as a numbered WAV (and .txt) in ``folder``."""

    needs_audio = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self._lock = threading.Lock()

    def play(self, wav: Path | None, text: str, lang: Lang) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            number = len(self.files) + 1
            target = self.folder / f"{number:06d}-{lang}.wav"
            self.files.append(target)
        if wav is not None:
            shutil.move(str(wav), target)
        target.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
        logger.info("speak [%s] %s -> %s", lang, text, target.name)


class AplaySink:
    """Plays each rendered sentence on the sound device with ``aplay`` (ALSA)."""

    needs_audio = True

    def __init__(self, device: str | None = None, *, timeout_s: float = 60.0) -> None:
        binary = shutil.which("aplay")
        if binary is None:
            raise FileNotFoundError("aplay is not installed: sudo apt-get install alsa-utils")
        self._binary = binary
        self.device = device
        self.timeout_s = timeout_s

    def play(self, wav: Path | None, text: str, lang: Lang) -> None:
        if wav is None:
            return
        cmd = [self._binary, "-q"]
        if self.device:
            cmd += ["-D", self.device]
        cmd.append(str(wav))
        try:
            done = subprocess.run(  # noqa: S603 - fixed binary, our own temp file
                cmd, capture_output=True, timeout=self.timeout_s, check=False
            )
        finally:
            wav.unlink(missing_ok=True)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise OSError(f"aplay failed: {message}")
        logger.info("spoke [%s] %s", lang, text)


def make_sink(
    kind: SinkKind, *, folder: Path | None = None, device: str | None = None, name: str = ""
) -> AudioSink:
    """The sink a setting names: ``device`` (aplay), ``wav`` (into ``folder``) or ``text``."""
    if kind == "device":
        return AplaySink(device)
    if kind == "wav":
        if folder is None:
            raise ValueError("the 'wav' audio sink needs a folder")
        return WavFolderSink(folder)
    if kind == "text":
        return TextSink(name=name)
    raise ValueError(f"unknown audio sink {kind!r}: use device, wav or text")
