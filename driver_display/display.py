"""The driver display's core: alerts in, one-tap answers out, no HTTP needed.

``async with DriverDisplay(settings, outbox=outbox) as display:`` logs in as
``vehicle.{id}`` (persistent session, retained birth/will status, periodic health via
``broker_config.device.runtime``), keeps the vehicle's retained DriverAlerts, plays
the sounds the ``SoundPolicy`` decides, and sends each answer from the durable
outbox until the server's receipt for it arrives (``broker_config.device.receipts``:
again at every reconnection, then with a back-off). A tap is "sending" on the screen
until then, "recorded" once the server has applied it, and shows the server's reason
if it was refused. Many displays can run in one process; the web screen
(``driver_display.web``) is an optional view on ``display.state()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import TracebackType
from typing import Self

from broker_config.aio import cancel_and_wait
from broker_config.device.receipts import EventSender, Settlement
from broker_config.device.runtime import DeviceRuntime, HealthFacts
from broker_config.errors import MalformedPayloadError, MqttError
from broker_config.messages import (
    CannotStopReason,
    DriverAlert,
    DriverEvent,
    DriverEventType,
    VehiclePosition,
    decode_or_clear,
    utcnow,
)
from broker_config.session import BrokerEndpoint, ReceivedMessage
from broker_config.topics import Owner, TopicKind, Topics, login_for, validate_id
from driver_display.alerts import AlertStore, AlertView
from driver_display.answers import CLOSING_ANSWERS
from driver_display.const import SENT_TAP_RETENTION_S
from driver_display.deliveries import Delivery, TapKey
from driver_display.outbox import Outbox, StoredTap
from driver_display.position import PositionSource
from driver_display.settings import DisplaySettings
from driver_display.sound import SoundPlan, SoundPolicy
from driver_display.sound_output import LogSoundOutput, SoundOutput

__all__ = [
    "AnswerError",
    "AnswerNotAllowedError",
    "ChangeFeed",
    "DriverDisplay",
    "ScreenState",
    "UnknownAlertError",
]

logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return metadata.version("bushail")
    except metadata.PackageNotFoundError:
        return "0"


class AnswerError(ValueError):
    """A tap that cannot be taken; ``text_key`` names its i18n text."""

    text_key = "error.bad_request"


class UnknownAlertError(AnswerError):
    """The reservation has no card on this display (any more)."""

    text_key = "error.unknown_alert"


class AnswerNotAllowedError(AnswerError):
    """The card does not offer this answer in its current status."""

    text_key = "error.not_allowed"


class ChangeFeed:
    """A version number that grows at every visible change; ``await wait(seen)``."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seen: int) -> int:
        """Return the version once it differs from ``seen``."""
        while self.version == seen:
            await self._event.wait()
        return self.version


@dataclass(frozen=True, slots=True)
class ScreenState:
    """Everything the screen shows, at one moment."""

    vehicle_id: str
    views: tuple[AlertView, ...]
    connected: bool
    #: Taps the server has not confirmed yet (sent or not).
    unsent: int
    version: int
    #: The latest tap of each answer per reservation, and where it is.
    deliveries: Mapping[TapKey, Delivery]

    def delivery(self, view: AlertView) -> Delivery | None:
        """Where the card's last tap is (None: no tap, or one from before a reset)."""
        if not view.answered:
            return None
        return self.deliveries.get((view.reservation_id, view.answered[-1]))


class DriverDisplay:
    """One vehicle's onboard display; see the module docstring."""

    def __init__(
        self,
        settings: DisplaySettings,
        *,
        outbox: Outbox,
        endpoint: BrokerEndpoint | None = None,
        sound: SoundOutput | None = None,
        position_source: PositionSource | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.vehicle_id is None:
            raise ValueError("the display needs a vehicle id (--vehicle or VEHICLE_ID)")
        self.vehicle_id = validate_id(settings.vehicle_id, "vehicle id")
        self.settings = settings
        self.topics = Topics(settings.root)
        self.outbox = outbox
        self.sound: SoundOutput = sound or LogSoundOutput(self.vehicle_id)
        self.position_source = position_source
        self.store = AlertStore()
        self.policy = SoundPolicy(settings.reminder_interval_s)
        self.changes = ChangeFeed()
        #: Alerts dropped because their payload was malformed (also logged).
        self.malformed_count = 0
        self.last_error: str | None = None
        self._clock = clock
        self._deliveries: dict[TapKey, Delivery] = {}
        self._answer_lock = asyncio.Lock()
        self._sounds: asyncio.Queue[SoundPlan] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.runtime = DeviceRuntime(
            settings,
            login=login_for(Owner.VEHICLE, self.vehicle_id),
            status_topic=self.topics.vehicle_status(self.vehicle_id),
            health_topic=self.topics.vehicle_health(self.vehicle_id),
            version=_version(),
            probe=self._health_facts,
            endpoint=endpoint,
        )
        self.runtime.mqtt.on_connection_change(lambda _connected: self.changes.bump())
        self.sender: EventSender[DriverEvent] = EventSender(
            self.runtime.mqtt,
            events_topic=self.topics.vehicle_events(self.vehicle_id),
            receipts_topic=self.topics.vehicle_receipts(self.vehicle_id),
            server_status_filter=self.topics.all_of(TopicKind.SERVER_STATUS),
            store=outbox,
            backoff=settings.backoff(),
            on_settled=self._on_settled,
            clock=clock,
            name=f"vehicle {self.vehicle_id}",
        )

    # -- lifetime ---------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        since = time.time() - SENT_TAP_RETENTION_S
        await self.outbox.prune(since)
        # Taps made before a restart still hide their buttons and silence their chimes.
        for tap in await self.outbox.recent(since):
            self._remember(tap)
        # Both registered before the session connects: what the broker kept for this
        # display's session (alerts, receipts) arrives right after CONNACK. The sender
        # loads the pending taps first, so their receipts find them.
        await self.runtime.mqtt.subscribe(
            self.topics.vehicle_alerts_filter(self.vehicle_id), self._on_alert, qos=1
        )
        await self.sender.__aenter__()
        try:
            await self.runtime.__aenter__()
        except BaseException:
            await self.sender.stop()
            raise
        name = self.vehicle_id
        self._tasks = [
            asyncio.create_task(self._sound_loop(), name=f"display-sound-{name}"),
        ]
        if self.position_source is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._position_loop(self.position_source), name=f"display-gps-{name}"
                )
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        await self.sender.stop()
        await self.runtime.__aexit__(exc_type, exc, tb)
        self.changes.bump()

    # -- what the screen reads --------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.runtime.mqtt.connected

    @property
    def unsent(self) -> int:
        """Answers stored locally whose receipt from the server has not arrived yet."""
        return self.sender.pending_count

    def state(self) -> ScreenState:
        return ScreenState(
            vehicle_id=self.vehicle_id,
            views=tuple(self.store.views()),
            connected=self.connected,
            unsent=self.unsent,
            version=self.changes.version,
            deliveries=dict(self._deliveries),
        )

    def delivery(self, reservation_id: uuid.UUID, answer: DriverEventType) -> Delivery | None:
        """Where the latest ``answer`` tapped for ``reservation_id`` is."""
        return self._deliveries.get((reservation_id, answer))

    # -- the driver's taps ------------------------------------------------------------
    async def answer(
        self,
        reservation_id: uuid.UUID,
        answer: DriverEventType,
        reason: CannotStopReason | None = None,
    ) -> DriverEvent:
        """Take one tap: store it durably, update the card, and send it until its receipt."""
        async with self._answer_lock:
            view = self.store.view(reservation_id)
            if view is None:
                raise UnknownAlertError(f"no alert for reservation {reservation_id}")
            if answer not in view.answers:
                raise AnswerNotAllowedError(
                    f"{answer.value} is not offered for {reservation_id} in {view.alert.status}"
                )
            if (answer is DriverEventType.CANNOT_STOP) != (reason is not None):
                raise AnswerError("a reason goes with 'cannot_stop' and only with it")
            event = DriverEvent(
                id=uuid.uuid4(),
                reservation_id=reservation_id,
                type=answer,
                reason=reason,
                at=utcnow(),
            )
            # Durable first: once this returns, a crash or a tunnel cannot lose the tap.
            await self.sender.send(event)
            self._deliveries[(reservation_id, answer)] = Delivery("sending")
            self.store.record_answer(reservation_id, answer)
        if answer is DriverEventType.ACKNOWLEDGED or answer in CLOSING_ANSWERS:
            self.policy.acknowledged(reservation_id)
        logger.info(
            "vehicle %s: driver answered %s for reservation %s (event %s)",
            self.vehicle_id,
            answer.value,
            reservation_id,
            event.id,
        )
        self.changes.bump()
        return event

    async def publish_position(self, position: VehiclePosition) -> None:
        """Publish one position (QoS 0: dropped while the broker is away)."""
        await self.runtime.mqtt.publish(
            self.topics.vehicle_position(self.vehicle_id), position, qos=0
        )

    # -- incoming alerts --------------------------------------------------------------
    async def _on_alert(self, msg: ReceivedMessage) -> None:
        parsed = msg.parsed
        if (
            parsed is None
            or parsed.kind is not TopicKind.VEHICLE_ALERT
            or parsed.device_id != self.vehicle_id
            or parsed.reservation_id is None
        ):
            logger.warning("vehicle %s: ignored message on %s", self.vehicle_id, msg.topic)
            return
        reservation_id = uuid.UUID(parsed.reservation_id)
        try:
            alert = decode_or_clear(DriverAlert, msg.payload)
            if alert is not None and alert.reservation_id != reservation_id:
                raise MalformedPayloadError(
                    f"reservation_id {alert.reservation_id} does not match the topic"
                )
        except MalformedPayloadError as exc:
            self.malformed_count += 1
            logger.warning(
                "vehicle %s: ignored malformed alert on %s: %s", self.vehicle_id, msg.topic, exc
            )
            return
        change = self.store.apply(reservation_id, alert)
        if change is None:
            logger.debug("vehicle %s: dropped stale alert for %s", self.vehicle_id, reservation_id)
            return
        if alert is None:
            # The card is gone: so is what it showed about its taps (pending ones still go).
            for key in [k for k in self._deliveries if k[0] == reservation_id]:
                del self._deliveries[key]
        logger.info(
            "vehicle %s: alert %s %s (%s)",
            self.vehicle_id,
            reservation_id,
            change.kind.value,
            alert.status.value if alert is not None else "cleared",
        )
        plan = self.policy.on_change(change, self._clock())
        if plan is not None:
            self._sounds.put_nowait(plan)
        self.changes.bump()

    # -- background tasks -------------------------------------------------------------
    def _remember(self, tap: StoredTap) -> None:
        event = tap.event
        self.store.record_answer(event.reservation_id, event.type)
        self._deliveries[(event.reservation_id, event.type)] = Delivery.of(tap.outcome, tap.detail)

    def _on_settled(self, event: DriverEvent, settlement: Settlement) -> None:
        key = (event.reservation_id, event.type)
        if settlement.outcome == "refused":
            self._record_error(f"answer {event.id} refused: {settlement.detail}")
        if settlement.outcome != "withdrawn":
            self._deliveries[key] = Delivery.of(settlement.outcome, settlement.detail)
        self.changes.bump()

    async def _sound_loop(self) -> None:
        while True:
            due_at = self.policy.next_due()
            timeout = None if due_at is None else max(0.0, due_at - self._clock())
            try:
                async with asyncio.timeout(timeout):
                    plan: SoundPlan | None = await self._sounds.get()
            except TimeoutError:
                plan = self.policy.due(self._clock())
            if plan is None:
                continue
            try:
                await self.sound.play(plan, self.settings.lang)
            except Exception as exc:
                logger.exception("vehicle %s: sound failed", self.vehicle_id)
                self._record_error(f"sound failed: {exc}")

    async def _position_loop(self, source: PositionSource) -> None:
        async for position in source.positions():
            try:
                await self.publish_position(position)
            except MqttError as exc:
                logger.warning("vehicle %s: position not sent: %s", self.vehicle_id, exc)

    def _record_error(self, text: str) -> None:
        logger.error("vehicle %s: %s", self.vehicle_id, text)
        self.last_error = text

    def _health_facts(self) -> HealthFacts:
        return HealthFacts(
            queue_depth=self.unsent + self._sounds.qsize(),
            speaker_ok=self.sound.speaker_ok,
            last_error=self.last_error,
        )
