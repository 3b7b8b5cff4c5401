"""The speech queue: one sentence at a time, urgent first, repeats merged (fake speaker)."""

from __future__ import annotations

import asyncio

import pytest

from broker_config.device.speech_queue import SpeechQueue, Utterance
from broker_config.messages import Lang


class FakeSpeaker:
    """Records every sentence; with ``hold`` each one waits for ``release()``."""

    def __init__(self, *, hold: bool = False, fail_on: str | None = None) -> None:
        self.hold = hold
        self.fail_on = fail_on
        self.log: list[tuple[str, str]] = []
        self.active = 0
        self.max_active = 0
        self.started: asyncio.Queue[str] = asyncio.Queue()
        self._permits: asyncio.Queue[None] = asyncio.Queue()

    @property
    def speaker_ok(self) -> bool | None:
        return True

    async def self_test(self) -> bool:
        return True

    def release(self, count: int = 100) -> None:
        for _ in range(count):
            self._permits.put_nowait(None)

    @property
    def said(self) -> list[str]:
        return [text for event, text in self.log if event == "start"]

    async def speak(self, text: str, lang: Lang) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.log.append(("start", text))
        self.started.put_nowait(text)
        try:
            if self.hold:
                await self._permits.get()
            else:
                for _ in range(3):
                    await asyncio.sleep(0)
            if text == self.fail_on:
                raise OSError("speaker unplugged")
        finally:
            self.active -= 1
            self.log.append(("end", text))


def utt(name: str, *, priority: str = "info", key: str | None = None) -> Utterance:
    return Utterance.bilingual(
        f"{name}-zh",
        f"{name}-en",
        priority=priority,  # type: ignore[arg-type]
        key=key,
    )


async def test_nothing_overlaps_even_with_many_producers() -> None:
    speaker = FakeSpeaker()
    async with SpeechQueue(speaker) as queue:

        async def producer(n: int) -> None:
            for i in range(5):
                queue.put(utt(f"p{n}-{i}", priority="urgent" if i == 2 else "info"))
                await asyncio.sleep(0)

        await asyncio.gather(*(producer(n) for n in range(4)))
        await queue.wait_idle(5)
    assert speaker.max_active == 1
    assert len(speaker.said) == 40
    # Strictly alternating start/end of the same sentence: no overlap at all.
    for start, end in zip(speaker.log[::2], speaker.log[1::2], strict=True):
        assert start[0] == "start"
        assert end == ("end", start[1])


async def test_urgent_jumps_the_queue_and_preempts_at_a_sentence_boundary() -> None:
    speaker = FakeSpeaker(hold=True)
    async with SpeechQueue(speaker) as queue:
        queue.put(utt("A", key="r1"))
        assert await asyncio.wait_for(speaker.started.get(), 2) == "A-zh"
        queue.put(utt("B", key="r2"))
        queue.put(utt("U", priority="urgent", key="r3"))
        assert queue.depth == 2
        speaker.release()
        await queue.wait_idle(5)
    assert speaker.said == ["A-zh", "U-zh", "U-en", "A-en", "B-zh", "B-en"]


async def test_urgent_about_the_same_call_supersedes_the_rest() -> None:
    speaker = FakeSpeaker(hold=True)
    async with SpeechQueue(speaker) as queue:
        queue.put(utt("eta1", key="r1"))
        await asyncio.wait_for(speaker.started.get(), 2)
        queue.put(utt("at-stop", priority="urgent", key="r1"))
        speaker.release()
        await queue.wait_idle(5)
    assert speaker.said == ["eta1-zh", "at-stop-zh", "at-stop-en"]


async def test_identical_repeats_merge() -> None:
    speaker = FakeSpeaker(hold=True)
    async with SpeechQueue(speaker) as queue:
        assert queue.put(utt("A")) is True
        await asyncio.wait_for(speaker.started.get(), 2)
        assert queue.put(utt("A")) is False  # being said right now
        assert queue.put(utt("B")) is True
        assert queue.put(utt("B")) is False  # already waiting
        assert queue.put(utt("B", priority="urgent")) is False  # merged, made urgent
        assert queue.depth == 1
        speaker.release()
        await queue.wait_idle(5)
    # The merged B became urgent, so it went before the rest of A.
    assert speaker.said == ["A-zh", "B-zh", "B-en", "A-en"]


async def test_a_newer_utterance_about_the_same_key_replaces_the_waiting_one() -> None:
    speaker = FakeSpeaker(hold=True)
    async with SpeechQueue(speaker) as queue:
        queue.put(utt("other"))
        await asyncio.wait_for(speaker.started.get(), 2)
        queue.put(utt("eta5", key="r1"))
        queue.put(utt("eta3", key="r1"))
        queue.put(utt("eta1", key="r1"))
        assert queue.depth == 1
        speaker.release()
        await queue.wait_idle(5)
    assert speaker.said == ["other-zh", "other-en", "eta1-zh", "eta1-en"]


async def test_rider_language_first() -> None:
    assert [s.lang for s in Utterance.bilingual("甲", "A", first="en").sentences] == [
        "en",
        "zh-TW",
    ]


async def test_a_speaker_error_is_kept_and_the_queue_goes_on() -> None:
    speaker = FakeSpeaker(fail_on="A-zh")
    async with SpeechQueue(speaker) as queue:
        queue.put(utt("A"))
        queue.put(utt("B"))
        await queue.wait_idle(5)
    assert speaker.said == ["A-zh", "A-en", "B-zh", "B-en"]
    assert queue.last_error is not None
    assert "unplugged" in queue.last_error


async def test_bounded_depth_drops_the_oldest_info(caplog: pytest.LogCaptureFixture) -> None:
    speaker = FakeSpeaker(hold=True)
    async with SpeechQueue(speaker, max_depth=2) as queue:
        queue.put(utt("now"))
        await asyncio.wait_for(speaker.started.get(), 2)
        queue.put(utt("old"))
        queue.put(utt("urgent", priority="urgent"))
        queue.put(utt("new"))
        assert queue.depth == 2
        speaker.release()
        await queue.wait_idle(5)
    assert speaker.said == ["now-zh", "urgent-zh", "urgent-en", "now-en", "new-zh", "new-en"]
    assert "dropped" in caplog.text
