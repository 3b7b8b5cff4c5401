"""The stop gateway device: hears its calls and announcements, speaks, handles buttons.

``async with StopGateway(settings) as gateway:`` logs in as ``stop.{stop_id}`` with a
persistent session and a retained birth/will status, subscribes to its calls and
announcements, publishes health, and speaks through one :class:`SpeechQueue`.
``await gateway.press(action)`` handles a button (``run_keypad(keypad)`` feeds a whole
keypad; the book button's menu is :class:`~stop_gateway.booking.BookingMenu`). For many
gateways in one process, pass ``speaker=make_speaker(TextSink())`` (no TTS engine, no
thread).

Buttons: book, cancel and help are StopEvents kept and sent again until the server's
receipt for them arrives, and what the stop says follows what the server did; see
:mod:`stop_gateway.presses` (help, cancel) and :mod:`stop_gateway.booking` (book). Repeat
is the stop's own business: sent once, not answered.

Calls: tracked by reservation with ``seq`` (stale and duplicate deliveries dropped);
an empty retained payload ends the call. After every (re)connect the gateway waits
``resync_settle_s`` while queued and retained calls arrive, then says each changed
call's *current* state once, so a burst of stale steps is not read out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from importlib import metadata
from types import TracebackType
from typing import Any, Self

from broker_config.aio import cancel_and_wait
from broker_config.device.audio import make_sink
from broker_config.device.pending_file import SqlitePendingStore
from broker_config.device.receipts import (
    EventSender,
    MemoryPendingStore,
    PendingStore,
    Settlement,
)
from broker_config.device.runtime import DeviceRuntime, HealthFacts
from broker_config.device.speech import Speaker, VoiceConfig, make_speaker
from broker_config.device.speech_queue import SpeechQueue
from broker_config.errors import MalformedPayloadError, MqttError
from broker_config.messages import (
    Announcement,
    ButtonAction,
    StopCall,
    StopEvent,
    decode,
    decode_or_clear,
    utcnow,
)
from broker_config.session import BrokerEndpoint, ReceivedMessage
from broker_config.topics import Owner, TopicKind, Topics, login_for
from stop_gateway.announcements import (
    Announcer,
    Prompt,
    RouteText,
    Wording,
    default_lexicon,
    load_lexicon_file,
)
from stop_gateway.booking import BookingMenu
from stop_gateway.buttons import Keypad, RouteChoice, load_routes_file, parse_route_spec
from stop_gateway.calls import CallTracker, CallUpdate
from stop_gateway.presses import ButtonEvents
from stop_gateway.settings import GatewaySettings

__all__ = ["StopGateway", "gateway_version", "routes_from_settings", "speaker_from_settings"]

logger = logging.getLogger(__name__)

#: A final moment older than this when it is finally heard is not said any more.
STALE_FINAL = timedelta(seconds=60)


def gateway_version() -> str:
    try:
        return metadata.version("bushail")
    except metadata.PackageNotFoundError:
        return "0"


def speaker_from_settings(settings: GatewaySettings) -> Speaker:
    sink = make_sink(
        settings.audio_sink,
        folder=settings.wav_dir,
        device=settings.audio_device,
        name=settings.stop_id,
    )
    voices = VoiceConfig(
        voices={"zh-TW": settings.voice_zh, "en": settings.voice_en},
        rate=settings.rate,
        volume=settings.volume,
    )
    return make_speaker(sink, voices)


def routes_from_settings(settings: GatewaySettings) -> list[RouteChoice]:
    routes = [parse_route_spec(spec) for spec in settings.routes]
    if settings.routes_file is not None:
        routes += load_routes_file(settings.routes_file)
    return routes


def announcer_from_settings(settings: GatewaySettings) -> Announcer:
    lexicon = default_lexicon()
    if settings.lexicon_file is not None:
        lexicon = lexicon.merged(load_lexicon_file(settings.lexicon_file))
    if settings.lexicon:
        lexicon = lexicon.merged(settings.lexicon)
    return Announcer(lexicon)


class StopGateway:
    """One bus stop's talking gateway; see the module docstring."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        speaker: Speaker | None = None,
        endpoint: BrokerEndpoint | None = None,
        announcer: Announcer | None = None,
        routes: Sequence[RouteChoice] | None = None,
    ) -> None:
        self.settings = settings
        self.stop_id = settings.stop_id
        self.topics = Topics(settings.root)
        self.speaker = speaker if speaker is not None else speaker_from_settings(settings)
        self.announcer = announcer if announcer is not None else announcer_from_settings(settings)
        self.routes = list(routes) if routes is not None else routes_from_settings(settings)
        self.tracker = CallTracker(settings.eta_thresholds_min)
        self.queue = SpeechQueue(self.speaker)
        self.runtime = DeviceRuntime(
            settings,
            login=login_for(Owner.STOP, self.stop_id),
            status_topic=self.topics.stop_status(self.stop_id),
            health_topic=self.topics.stop_health(self.stop_id),
            version=gateway_version(),
            probe=self._health_facts,
            endpoint=endpoint,
        )
        path = settings.pending_path()
        #: The presses' file when ``state_dir`` is set (else they are kept in memory).
        self.pending_file = SqlitePendingStore(path, StopEvent) if path is not None else None
        store: PendingStore[StopEvent] = self.pending_file or MemoryPendingStore()
        #: Button events until the server's receipt (see ``stop_gateway.presses``).
        self.sender: EventSender[StopEvent] = EventSender(
            self.runtime.mqtt,
            events_topic=self.topics.stop_events(self.stop_id),
            receipts_topic=self.topics.stop_receipts(self.stop_id),
            server_status_filter=self.topics.all_of(TopicKind.SERVER_STATUS),
            store=store,
            backoff=settings.backoff(),
            on_settled=self._on_settled,
            name=f"stop {self.stop_id}",
        )
        #: Called with each route the booking menu offers (tests, displays).
        self.offer_listeners: list[Callable[[RouteChoice], None]] = []
        self._settling = True  # until the first connection has settled
        self._held: dict[uuid.UUID, CallUpdate] = {}
        #: Every task the gateway starts, until it ends; the named ones below are in it too.
        self._tasks: set[asyncio.Task[None]] = set()
        self._settle_task: asyncio.Task[None] | None = None
        self.presses = ButtonEvents(
            stop_id=self.stop_id,
            settings=settings,
            sender=self.sender,
            prompt=self._prompt,
            online=lambda: self.runtime.mqtt.connected,
            record_error=self.runtime.record_error,
            spawn=self._spawn,
        )
        self.booking = BookingMenu(
            stop_id=self.stop_id,
            settings=settings,
            routes=self.routes,
            offer_listeners=self.offer_listeners,
            queue=self.queue,
            prompt=self._prompt,
            send_booking=self.presses.book,
            withdraw=self.sender.withdraw,
            online=lambda: self.runtime.mqtt.connected,
            spawn=self._spawn,
        )

    # -- lifetime -------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.queue.__aenter__()
        try:
            if self.pending_file is not None:
                await self.pending_file.__aenter__()
            mqtt = self.runtime.mqtt
            mqtt.on_connection_change(self._on_connection_change)
            await mqtt.subscribe(self.topics.stop_calls_filter(self.stop_id), self._on_call)
            await mqtt.subscribe(self.topics.stop_announce(self.stop_id), self._on_announce)
            # Before the session connects, like the subscriptions above: see DriverDisplay.
            await self.sender.__aenter__()
            await self.presses.restored()
            await self.runtime.__aenter__()
        except BaseException:
            await self._close_pending()
            await self.queue.__aexit__(None, None, None)
            raise
        if self.settings.self_test:
            self._spawn(self._self_test())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._cancel_tasks()
        await self.sender.stop()
        await self.runtime.__aexit__(exc_type, exc, tb)
        await self._close_pending()
        await self.queue.__aexit__(exc_type, exc, tb)

    async def abort(self) -> None:
        """Stop as a crash would: no goodbye, so the broker publishes the last will."""
        await self._cancel_tasks()
        await self.sender.stop()
        await self.runtime.abort()
        await self._close_pending()
        await self.queue.__aexit__(None, None, None)

    async def _close_pending(self) -> None:
        await self.sender.stop()
        if self.pending_file is not None:
            await self.pending_file.__aexit__(None, None, None)

    def _on_settled(self, event: StopEvent, settlement: Settlement) -> None:
        self.presses.settled(event, settlement)

    async def wait_connected(self, timeout: float | None = None) -> None:
        await self.runtime.mqtt.wait_connected(timeout)

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        await cancel_and_wait(*tasks)
        self._tasks.clear()
        self._settle_task = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _self_test(self) -> None:
        ok = await self.speaker.self_test()
        if not ok:
            self.runtime.record_error("speaker self-test failed")
            logger.error("stop %s: speaker self-test failed", self.stop_id)

    def _health_facts(self) -> HealthFacts:
        return HealthFacts(
            queue_depth=self.queue.depth + self.sender.pending_count,
            speaker_ok=self.speaker.speaker_ok,
            last_error=self.queue.last_error or self.sender.last_error,
        )

    # -- speaking -------------------------------------------------------------------------
    def say(self, wording: Wording, key: str | None = None) -> None:
        shown = wording.display
        logger.info("stop %s says: %s / %s", self.stop_id, shown.zh_tw, shown.en)
        self.queue.put(wording.utterance(key))

    def _prompt(self, prompt: Prompt, route: RouteText | None = None) -> None:
        self.say(self.announcer.prompt(prompt, route, first=self.settings.first_language))

    def _announce_update(self, update: CallUpdate) -> None:
        if update.moment is None:
            return
        call = update.call
        wording = self.announcer.moment(
            update.moment,
            RouteText.from_call(call),
            minutes=update.minutes,
            reason=update.reason,
            first=call.rider_lang,
        )
        self.say(wording, key=str(call.reservation_id))

    # -- connection and re-sync -----------------------------------------------------------
    def _on_connection_change(self, connected: bool) -> None:
        # Held from the moment the link drops: queued messages are delivered right
        # after CONNACK, before the session reports itself connected.
        self._settling = True
        if not connected:
            return
        if self._settle_task is not None:
            self._settle_task.cancel()
        self._settle_task = self._spawn(self._settle())

    async def _settle(self) -> None:
        await asyncio.sleep(self.settings.resync_settle_s)
        self._settling = False
        held, self._held = self._held, {}
        now = utcnow()
        for rid, update in held.items():
            current = self.tracker.get(rid)
            if current is not None:
                self._announce_update(self.tracker.summary(current))
            elif now - update.call.updated_at <= STALE_FINAL:
                self._announce_update(update)
            else:
                logger.info("stop %s: not saying stale end of %s", self.stop_id, rid)

    # -- incoming -------------------------------------------------------------------------
    async def _on_call(self, msg: ReceivedMessage) -> None:
        parsed = msg.parsed
        if (
            parsed is None
            or parsed.kind is not TopicKind.STOP_CALL
            or parsed.device_id != self.stop_id
            or parsed.reservation_id is None
        ):
            logger.warning(
                "stop %s: ignored call on %s: not a v1 call topic", self.stop_id, msg.topic
            )
            self.runtime.record_error(f"call on a malformed topic {msg.topic!r}")
            return
        try:
            call = decode_or_clear(StopCall, msg.payload)
        except MalformedPayloadError as exc:
            logger.warning(
                "stop %s: ignored malformed call on %s: %s", self.stop_id, msg.topic, exc
            )
            self.runtime.record_error(f"malformed call: {exc}")
            return
        rid = uuid.UUID(parsed.reservation_id)
        if call is None:
            self.tracker.clear(rid)
            self.queue.discard(str(rid))
            self._held.pop(rid, None)
            return
        if call.reservation_id != rid:
            logger.warning(
                "stop %s: call %s on the topic of %s ignored",
                self.stop_id,
                call.reservation_id,
                rid,
            )
            return
        update = self.tracker.apply(call)
        if update is None:
            logger.debug("stop %s: stale or duplicate call %s seq %d", self.stop_id, rid, call.seq)
            return
        self.booking.note_call(call)
        if self._settling:
            self._held[rid] = update
            return
        self._announce_update(update)

    async def _on_announce(self, msg: ReceivedMessage) -> None:
        try:
            announcement = decode(Announcement, msg.payload)
        except MalformedPayloadError as exc:
            logger.warning("stop %s: ignored malformed announcement: %s", self.stop_id, exc)
            self.runtime.record_error(f"malformed announcement: {exc}")
            return
        self.say(self.announcer.operator(announcement, first=self.settings.first_language))

    # -- buttons --------------------------------------------------------------------------
    async def run_keypad(self, keypad: Keypad) -> None:
        """Handle every press of ``keypad`` until it ends."""
        async for action in keypad.presses():
            await self.press(action)

    async def press(self, action: ButtonAction) -> None:
        """Handle one button press (what follows the server's answer runs in the background)."""
        logger.info("stop %s: button %s", self.stop_id, action)
        if action is ButtonAction.BOOK:
            self.booking.press()
        elif action is ButtonAction.REPEAT:
            calls = self.tracker.active()
            if not calls:
                self._prompt(Prompt.NO_BOOKING)
            for call in calls:
                self._announce_update(self.tracker.summary(call))
            latest = calls[-1].reservation_id if calls else None
            await self._send_repeat(latest)
        elif action is ButtonAction.HELP:
            await self.presses.help()
        elif action is ButtonAction.CANCEL:
            if self.booking.cancel():
                return
            latest_call = self.tracker.latest()
            if latest_call is None:
                self._prompt(Prompt.NO_BOOKING)
                return
            await self.presses.cancel(latest_call)

    async def _send_repeat(self, reservation_id: uuid.UUID | None) -> None:
        """Publish a ``repeat`` once (the server neither applies nor answers it)."""
        mqtt = self.runtime.mqtt
        event = self.presses.event(ButtonAction.REPEAT, reservation_id=reservation_id)
        try:
            if not mqtt.connected:
                raise MqttError("not connected to the broker")
            await mqtt.publish(
                self.topics.stop_events(self.stop_id),
                event,
                qos=1,
                timeout=self.settings.publish_timeout_s,
            )
        except (MqttError, TimeoutError) as exc:
            logger.info("stop %s: repeat not sent: %s", self.stop_id, exc)
