"""One utterance at a time: the priority queue in front of a device's speaker.

Public API
----------
- :class:`Sentence` ``(text, lang)`` and :class:`Utterance` ``(sentences, priority,
  key)``: what to say, e.g. the Mandarin then the English sentence of one announcement
  (``Utterance.bilingual(zh, en, first="en")``). ``priority`` is ``"info"`` or
  ``"urgent"``; ``key`` names what the utterance is about (a reservation id): a newer
  utterance with the same key replaces one that still waits, so a device that was
  offline says the latest state once, not every stale step.
- :class:`SpeechQueue`: ``async with SpeechQueue(speaker) as queue:`` then
  ``queue.put(utterance)`` (never blocks; returns False when merged into one that is
  waiting or being said). ``queue.depth`` (waiting utterances, for DeviceHealth),
  ``queue.last_error``, ``await queue.wait_idle(timeout)``.

Rules
-----
- Nothing overlaps: one consumer task awaits ``speaker.speak`` for one sentence at a
  time.
- Urgent jumps the queue: urgent utterances are said before every waiting info one
  (FIFO within a priority). An urgent one that arrives while an info utterance is
  being said preempts it at the next sentence boundary (a sentence is never cut in
  half); the rest of the interrupted utterance is said right after, unless the urgent
  one has the same key (it supersedes it).
- Identical repeats merge: an utterance with the same sentences as one waiting or being
  said is not queued again (a waiting one takes the higher priority of the two).
- Bounded: beyond ``max_depth`` waiting utterances the oldest info one is dropped.
- A speaker error is logged and kept in ``last_error``; the queue goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

from broker_config.aio import cancel_and_wait
from broker_config.device.speech import Speaker
from broker_config.messages import Lang

__all__ = ["Priority", "Sentence", "SpeechQueue", "Utterance"]

logger = logging.getLogger(__name__)

Priority = Literal["info", "urgent"]


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence in one language."""

    text: str
    lang: Lang


@dataclass(frozen=True, slots=True)
class Utterance:
    """Sentences said back to back; see the module docstring for priority and key."""

    sentences: tuple[Sentence, ...]
    priority: Priority = "info"
    key: str | None = None

    @classmethod
    def bilingual(
        cls,
        zh_tw: str,
        en: str,
        *,
        first: Lang = "zh-TW",
        priority: Priority = "info",
        key: str | None = None,
    ) -> Utterance:
        """Both languages, ``first`` first (the rider's language)."""
        zh = Sentence(zh_tw, "zh-TW")
        english = Sentence(en, "en")
        pair = (zh, english) if first == "zh-TW" else (english, zh)
        return cls(tuple(s for s in pair if s.text), priority, key)

    @property
    def text(self) -> str:
        return " / ".join(s.text for s in self.sentences)


@dataclass(slots=True)
class _Waiting:
    utterance: Utterance
    order: int

    @property
    def rank(self) -> tuple[int, int]:
        return (0 if self.utterance.priority == "urgent" else 1, self.order)


class SpeechQueue:
    """Feeds a speaker one utterance at a time; see the module docstring."""

    def __init__(self, speaker: Speaker, *, max_depth: int = 32) -> None:
        self.speaker = speaker
        self.max_depth = max_depth
        self.last_error: str | None = None
        self.spoken = 0
        self._waiting: list[_Waiting] = []
        self._current: Utterance | None = None
        self._order = itertools.count()
        self._front = itertools.count(-1, -1)
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="speech-queue")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    @property
    def depth(self) -> int:
        """Utterances waiting (not counting the one being said)."""
        return len(self._waiting)

    @property
    def current(self) -> Utterance | None:
        return self._current

    def put(self, utterance: Utterance) -> bool:
        """Queue ``utterance``; False when it merged into one waiting or being said."""
        if not utterance.sentences:
            return False
        if self._current is not None and self._current.sentences == utterance.sentences:
            return False
        for waiting in self._waiting:
            if waiting.utterance.sentences == utterance.sentences:
                if utterance.priority == "urgent":
                    waiting.utterance = utterance
                return False
        if utterance.key is not None:
            for waiting in self._waiting:
                if waiting.utterance.key == utterance.key:
                    waiting.utterance = utterance
                    self._signal()
                    return True
        if len(self._waiting) >= self.max_depth:
            infos = [w for w in self._waiting if w.utterance.priority == "info"]
            victim = min(infos or self._waiting, key=lambda w: w.order)
            self._waiting.remove(victim)
            logger.warning("speech queue full: dropped %r", victim.utterance.text)
        self._waiting.append(_Waiting(utterance, next(self._order)))
        self._signal()
        return True

    def discard(self, key: str) -> None:
        """Drop waiting utterances about ``key`` (e.g. a call that has ended)."""
        self._waiting = [w for w in self._waiting if w.utterance.key != key]

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Return once nothing waits and nothing is being said."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    def _signal(self) -> None:
        self._idle.clear()
        self._wakeup.set()

    def _pop(self) -> Utterance | None:
        if not self._waiting:
            return None
        best = min(self._waiting, key=lambda w: w.rank)
        self._waiting.remove(best)
        return best.utterance

    def _urgent_waiting(self) -> list[Utterance]:
        return [w.utterance for w in self._waiting if w.utterance.priority == "urgent"]

    async def _run(self) -> None:
        while True:
            utterance = self._pop()
            if utterance is None:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self._current = utterance
            try:
                await self._say(utterance)
            finally:
                self._current = None

    async def _say(self, utterance: Utterance) -> None:
        for index, sentence in enumerate(utterance.sentences):
            urgent = self._urgent_waiting()
            if index > 0 and utterance.priority == "info" and urgent:
                superseded = utterance.key is not None and any(
                    u.key == utterance.key for u in urgent
                )
                if not superseded:
                    rest = Utterance(utterance.sentences[index:], "info", utterance.key)
                    self._waiting.append(_Waiting(rest, next(self._front)))
                return
            try:
                await self.speaker.speak(sentence.text, sentence.lang)
                self.spoken += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.error("could not say %r: %s", sentence.text, exc)
