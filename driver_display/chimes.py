"""The display's chimes, synthesised as small 16-bit mono WAVs (no sound files to ship).

A new alert rises over three notes; a reminder falls over two: a driver can tell them
apart without looking.
"""

from __future__ import annotations

import array
import functools
import io
import math
import sys
import wave
from typing import Final

from driver_display.sound import Cue

__all__ = ["CHIME_NOTES", "RATE", "chime_wav"]

RATE: Final = 22_050
#: (frequency Hz, seconds) per note.
CHIME_NOTES: Final[dict[Cue, tuple[tuple[float, float], ...]]] = {
    Cue.NEW_ALERT: ((659.3, 0.16), (880.0, 0.16), (1318.5, 0.30)),
    Cue.REMINDER: ((1046.5, 0.14), (784.0, 0.22)),
}
_AMPLITUDE: Final = 0.45 * 32767
_FADE_S: Final = 0.012


@functools.cache
def chime_wav(cue: Cue) -> bytes:
    """The WAV file bytes of ``cue``."""
    samples = array.array("h")
    fade = int(_FADE_S * RATE)
    for freq, seconds in CHIME_NOTES[cue]:
        n = int(seconds * RATE)
        for i in range(n):
            # Short fades at both ends: no clicks between notes.
            envelope = min(1.0, i / fade, (n - i) / fade)
            samples.append(int(_AMPLITUDE * envelope * math.sin(2 * math.pi * freq * i / RATE)))
    if sys.byteorder == "big":
        samples.byteswap()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())
    return buf.getvalue()
