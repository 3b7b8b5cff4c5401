"""Logging what devices send, safely: escaped text, and one line per device per minute.

Topics and payloads come from devices: a log line must not carry their control
characters (a newline forging a log record, a terminal escape, a bidi override), and a
device sending junk in a loop must not flood the log (24k malformed payloads once made
4.3 MB of warnings). ``escape`` makes any device-supplied text safe for a log line;
``DropLog`` logs the first dropped message of a device and counts the rest, with one
summary line per device and reason per interval.

Every component logs a drop through a ``DropLog``: the session has one
(``MqttSession.drops``), and a handler that drops a message itself (a malformed call on
a gateway, say) reports it there rather than logging its own warning::

    except MalformedPayloadError as exc:
        mqtt.drops.malformed(msg, exc, context=f"stop {stop_id}: call")
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from broker_config.const import DROP_LOG_INTERVAL_S
from broker_config.received import ReceivedMessage
from broker_config.topics import Owner

__all__ = ["DropLog", "device_of", "escape", "excerpt"]

#: Backslash (so an escape cannot be forged), C0 and C1 controls, DEL, invisible and
#: bidirectional formatting characters, line/paragraph separators, undecodable bytes.
_UNSAFE = re.compile(
    "[\\\\\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
    "\ufff9-\ufffb\udc80-\udcff]"
)
_OWNER_NAMES = {Owner.STOP: "stop", Owner.VEHICLE: "vehicle", Owner.SERVER: "server"}


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x5C:
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str | bytes, limit: int = 200) -> str:
    """``text`` fit for a log line: control and invisible characters as ``\\xNN``/``\\uNNNN``,
    at most ``limit`` characters (bytes, for bytes) kept and the rest counted."""
    rest = len(text) - limit
    if rest > 0:
        text = text[:limit]
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    safe = _UNSAFE.sub(_escape_char, text)
    return f"{safe}...(+{rest})" if rest > 0 else safe


def excerpt(payload: bytes, limit: int = 64) -> str:
    """The start of a payload, escaped, for a log line."""
    return escape(payload, limit) if payload else "(empty)"


def device_of(msg: ReceivedMessage) -> str:
    """The device a message's topic belongs to ("stop S1"), or its escaped topic."""
    parsed = msg.parsed
    if parsed is None:
        return f"topic {escape(msg.topic, 100)}"
    return f"{_OWNER_NAMES[parsed.spec.owner]} {parsed.device_id}"


@dataclass(slots=True)
class _Window:
    """One device's drops for one reason within the current interval."""

    started: float
    context: str | None
    suppressed: int = 0
    last_topic: str = ""
    last_detail: str = ""


class DropLog:
    """Logs dropped messages: the first per device and reason in each interval, then a count.

    ``counts`` holds every drop by reason ("malformed", "oversized", ...), logged or not.
    ``flush`` writes the summaries of intervals that have ended; the session calls it
    every second, and a report for the same device and reason also does.
    """

    def __init__(
        self,
        log: logging.Logger,
        *,
        interval_s: float = DROP_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        max_devices: int = 1000,
    ) -> None:
        self._log = log
        self.interval_s = interval_s
        self._clock = clock
        self._max_devices = max_devices
        self._windows: dict[tuple[str, str], _Window] = {}
        self.counts: Counter[str] = Counter()

    def malformed(self, msg: ReceivedMessage, error: object, *, context: str | None = None) -> None:
        """A payload that did not decode (``error`` is the MalformedPayloadError) was dropped."""
        self.drop("malformed", msg, str(error), context=context)

    def oversized(
        self, msg: ReceivedMessage, size: int, limit: int, *, context: str | None = None
    ) -> None:
        """A payload of ``size`` bytes, over ``limit``, was dropped before decoding (``msg``
        may carry only the start of it)."""
        self.drop("oversized", msg, f"{size} bytes, over the limit of {limit}", context=context)

    def drop(
        self, reason: str, msg: ReceivedMessage, detail: str, *, context: str | None = None
    ) -> None:
        """Count a dropped message; log it if it is the device's first for ``reason`` lately."""
        self.counts[reason] += 1
        now = self._clock()
        device = device_of(msg)
        key = (reason, device)
        window = self._windows.get(key)
        if window is not None:
            if now - window.started < self.interval_s:
                window.suppressed += 1
                window.last_topic = msg.topic
                window.last_detail = detail
                return
            del self._windows[key]
            self._summarise(reason, device, window)
        if len(self._windows) >= self._max_devices:
            self.flush()
            if len(self._windows) >= self._max_devices:
                # Bounded memory, whatever the number of devices: the rest share one line.
                device = "other devices"
                key = (reason, device)
                window = self._windows.get(key)
                if window is not None:
                    window.suppressed += 1
                    window.last_topic = msg.topic
                    window.last_detail = detail
                    return
        self._windows[key] = _Window(now, context)
        self._log.warning(
            "%sdropped %s message of %s on %s: %s; payload %s "
            "(more from this device are counted for %.0f s)",
            f"{context}: " if context else "",
            reason,
            device,
            escape(msg.topic),
            escape(detail),
            excerpt(msg.payload),
            self.interval_s,
        )

    def flush(self) -> None:
        """Write the summaries of the intervals that have ended, and forget them."""
        if not self._windows:
            return
        now = self._clock()
        ended = [k for k, w in self._windows.items() if now - w.started >= self.interval_s]
        for key in ended:
            self._summarise(*key, self._windows.pop(key))

    def _summarise(self, reason: str, device: str, window: _Window) -> None:
        if not window.suppressed:
            return
        self._log.warning(
            "%s%d more %s messages of %s in %.0f s (last on %s: %s)",
            f"{window.context}: " if window.context else "",
            window.suppressed,
            reason,
            device,
            self.interval_s,
            escape(window.last_topic),
            escape(window.last_detail),
        )
