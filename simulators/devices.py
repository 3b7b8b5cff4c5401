"""Simulated devices running the real device code.

- :class:`SimStopGateway`: the real ``StopGateway`` with text-only speech; it reports
  when it says that a rider's bus is arriving (for the latency figures).
- :class:`SimVehicle`: the real ``DriverDisplay`` (no web screen) of one bus, the bus's
  motion (its block of trips through :mod:`simulators.motion`, positions published
  through the display's own ``vehicle.{id}`` connection) and a :class:`DriverPolicy`:
  acknowledge after a random delay, sometimes ``cannot_stop``, ``boarded`` when the
  rider is at the stop and the bus is stopped there, ``no_show`` after waiting,
  ``alighted`` at the destination. The bus waits at a stop while a pick-up or drop-off
  there is still open (up to ``max_hold_s``).
- :class:`Curb`: which riders wait at which stop and who is aboard, shared in-process
  between simulated riders and drivers (the driver "sees" the rider).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from broker_config.aio import cancel_and_wait, wait_event
from broker_config.device.audio import TextSink
from broker_config.device.speech import make_speaker
from broker_config.errors import MqttError
from broker_config.messages import (
    CannotStopReason,
    DriverEventType,
    ReservationStatus,
    VehiclePosition,
    VehicleStopStatus,
)
from broker_config.session import BrokerEndpoint
from broker_config.topics import Owner, login_for
from driver_display.display import AnswerError, DriverDisplay
from driver_display.outbox import MemoryOutbox
from driver_display.settings import DisplaySettings
from simulators.clock import SimClock
from simulators.motion import DelayModel, Fix, Journey, MotionSettings, TripPlan
from simulators.network import SimNetwork, SimTrip
from simulators.stats import CityStats
from stop_gateway.announcements import Wording
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings

__all__ = ["Curb", "DriverPolicy", "SimStopGateway", "SimVehicle", "make_gateway"]

logger = logging.getLogger(__name__)
S = ReservationStatus
A = DriverEventType
EndpointFor = Callable[[str], BrokerEndpoint]


@dataclass
class Curb:
    """Riders waiting at stops and riding buses (what the drivers can see)."""

    waiting: dict[uuid.UUID, str] = field(default_factory=dict)
    aboard: dict[uuid.UUID, str] = field(default_factory=dict)

    def wait(self, rid: uuid.UUID, stop_id: str) -> None:
        self.waiting[rid] = stop_id

    def is_waiting(self, rid: uuid.UUID, stop_id: str) -> bool:
        return self.waiting.get(rid) == stop_id

    def board(self, rid: uuid.UUID, vehicle_id: str) -> None:
        self.waiting.pop(rid, None)
        self.aboard[rid] = vehicle_id

    def leave(self, rid: uuid.UUID) -> None:
        self.waiting.pop(rid, None)
        self.aboard.pop(rid, None)


@dataclass(frozen=True, slots=True)
class DriverPolicy:
    """How simulated drivers behave (times in simulated seconds)."""

    ack_delay_s: tuple[float, float] = (2.0, 12.0)
    cannot_stop_p: float = 0.0
    #: How long a driver waits at the stop for a rider who is not there before no_show.
    no_show_wait_s: float = 45.0
    #: The longest the bus waits at a stop for an open pick-up or drop-off.
    max_hold_s: float = 120.0


class SimStopGateway(StopGateway):
    """The real stop gateway; notes when it announces a bus arriving for a rider."""

    def __init__(self, settings: GatewaySettings, *, stats: CityStats, **kwargs: object) -> None:
        super().__init__(settings, **kwargs)  # type: ignore[arg-type]
        self.stats = stats
        self.sink = TextSink(name=settings.stop_id)

    def say(self, wording: Wording, key: str | None = None) -> None:
        if key is not None:
            with contextlib.suppress(ValueError):
                call = self.tracker.get(uuid.UUID(key))
                if call is not None and call.status in (S.ARRIVING, S.AT_STOP):
                    self.stats.arrival_announced(call.reservation_id, call.vehicle_id, self.stop_id)
        super().say(wording, key)


def make_gateway(
    stop_id: str, endpoint: BrokerEndpoint, stats: CityStats, *, root: str | None = None
) -> SimStopGateway:
    """A text-only gateway for ``stop_id`` (no TTS engine, no thread, no self-test)."""
    extra = {"root": root} if root else {}
    settings = GatewaySettings(
        stop_id=stop_id,
        broker_host=endpoint.host,
        broker_port=endpoint.port,
        audio_sink="text",
        self_test=False,
        health_interval_s=30.0,
        **extra,  # type: ignore[arg-type]
    )
    sink = TextSink(name=stop_id)
    gateway = SimStopGateway(settings, stats=stats, speaker=make_speaker(sink), endpoint=endpoint)
    gateway.sink = sink
    return gateway


@dataclass
class _Decision:
    ack_at: float
    cannot_stop: bool
    at_stop_since: float | None = None
    dropped_off: bool = False


class SimVehicle:
    """One bus: the real driver display, the motion model and a simulated driver."""

    def __init__(
        self,
        vehicle_id: str,
        block: list[SimTrip],
        *,
        network: SimNetwork,
        clock: SimClock,
        endpoint: BrokerEndpoint,
        stats: CityStats,
        curb: Curb,
        policy: DriverPolicy | None = None,
        motion: MotionSettings | None = None,
        delay: DelayModel | None = None,
        position_interval_s: float = 10.0,
        rng: random.Random | None = None,
        root: str | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.block = block
        self.network = network
        self.clock = clock
        self.stats = stats
        self.curb = curb
        self.policy = policy or DriverPolicy()
        self.motion = motion or MotionSettings()
        self.delay = delay or DelayModel()
        self.position_interval_s = position_interval_s
        self.rng = rng or random.Random(vehicle_id)
        extra = {"root": root} if root else {}
        settings = DisplaySettings(
            vehicle_id=vehicle_id,
            serve_screen=False,
            audio="text",
            broker_host=endpoint.host,
            broker_port=endpoint.port,
            health_interval_s=30.0,
            **extra,  # type: ignore[arg-type]
        )
        self.outbox = MemoryOutbox()
        self.display = DriverDisplay(settings, outbox=self.outbox, endpoint=endpoint)
        self.journey: Journey | None = None
        self.fix: Fix | None = None
        self._decisions: dict[uuid.UUID, _Decision] = {}
        self._hold_since: tuple[int, float] | None = None
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def __aenter__(self) -> Self:
        await self.outbox.__aenter__()
        await self.display.__aenter__()
        self._task = asyncio.create_task(self._drive(), name=f"sim-bus-{self.vehicle_id}")
        self._watch = asyncio.create_task(self._watch_alerts(), name=f"sim-eyes-{self.vehicle_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await cancel_and_wait(self._task, self._watch)
        await self.display.__aexit__(exc_type, exc, tb)
        await self.outbox.__aexit__(exc_type, exc, tb)

    @property
    def connected(self) -> bool:
        return self.display.connected

    # -- driving ------------------------------------------------------------------------
    async def _drive(self) -> None:
        tick = min(1.0, max(0.05, self.clock.real_s(2.0)))
        # Positions are QoS 0: one sent before the first connection would be lost.
        with contextlib.suppress(TimeoutError, MqttError):
            await self.display.runtime.mqtt.wait_connected(30)
        for n, trip in enumerate(self.block):
            plan = TripPlan(trip, self.network, self.motion, self.delay, self.rng)
            journey = Journey(plan)
            now = self.clock.now()
            wait = plan.start_t - 60 - now
            if wait > 0:
                self.journey = None
                await self.clock.sleep(wait)
            elif n > 0 and now > plan.stages[0].depart_t:
                # Late from the previous trip: start this one from its first stop.
                journey.held_s = now - plan.stages[0].arrive_t
            self.journey = journey
            last_key: tuple[int, VehicleStopStatus] | None = None
            last_sent = -1e18
            while True:
                t = self.clock.now()
                fix = journey.at(t, hold=self._wants_hold(t))
                if fix is None:
                    break
                self.fix = fix
                key = (fix.index, fix.status)
                if key != last_key:
                    logger.debug(
                        "vehicle %s: %s %s (trip %s)",
                        self.vehicle_id,
                        fix.status.value,
                        fix.stop_id,
                        trip.trip_id,
                    )
                if key != last_key or t - last_sent >= self.position_interval_s:
                    await self._publish(trip, fix, t)
                    last_key, last_sent = key, t
                try:
                    await self._drive_policy(t)
                except Exception:
                    logger.exception("vehicle %s: driver policy failed", self.vehicle_id)
                self._wake.clear()
                await wait_event(self._wake, tick)
        self.journey = None
        self.fix = None

    async def _watch_alerts(self) -> None:
        """The driver's eyes: note each alert as it lands and wake the driver."""
        seen = -1
        while True:
            seen = await self.display.changes.wait(seen)
            for view in self.display.state().views:
                self.stats.alerted(view.reservation_id)
            self._wake.set()

    async def _publish(self, trip: SimTrip, fix: Fix, t: float) -> None:
        position = VehiclePosition(
            route_id=trip.route_id,
            direction_id=1 if trip.direction_id else 0,
            trip_id=trip.trip_id,
            lat=fix.lat,
            lon=fix.lon,
            stop_id=fix.stop_id,
            current_stop_sequence=fix.stop_sequence,
            current_status=fix.status,
            timestamp=self.clock.epoch(t),
        )
        if fix.status is VehicleStopStatus.INCOMING_AT:
            self.stats.incoming(self.vehicle_id, fix.stop_id)
        try:
            await self.display.publish_position(position)
            self.stats.positions += 1
        except MqttError as exc:
            self.stats.errors["position"] += 1
            logger.warning("vehicle %s: position not sent: %s", self.vehicle_id, exc)

    # -- the driver ---------------------------------------------------------------------
    def _stopped_at(self, stop_id: str) -> bool:
        fix = self.fix
        return (
            fix is not None
            and fix.stop_id == stop_id
            and fix.status is VehicleStopStatus.STOPPED_AT
        )

    def _wants_hold(self, t: float) -> bool:
        fix = self.fix
        if fix is None or fix.status is not VehicleStopStatus.STOPPED_AT:
            self._hold_since = None
            return False
        open_here = any(
            view.alert.stop_id == fix.stop_id
            and (
                (
                    view.alert.kind == "pickup"
                    and bool(view.answers)
                    and A.CANNOT_STOP not in self._planned(view)
                )
                or (
                    view.alert.kind == "dropoff"
                    and self._dropoff_open(view.reservation_id, view.alert.status)
                )
            )
            for view in self.display.state().views
        )
        if not open_here:
            self._hold_since = None
            return False
        if self._hold_since is None or self._hold_since[0] != fix.index:
            self._hold_since = (fix.index, t)
        return t - self._hold_since[1] < self.policy.max_hold_s

    def _dropoff_open(self, rid: uuid.UUID, status: ReservationStatus) -> bool:
        decision = self._decisions.get(rid)
        return status is S.ALIGHTING and not (decision is not None and decision.dropped_off)

    def _planned(self, view: object) -> tuple[DriverEventType, ...]:
        rid = getattr(view, "reservation_id", None)
        decision = self._decisions.get(rid) if isinstance(rid, uuid.UUID) else None
        return (A.CANNOT_STOP,) if decision is not None and decision.cannot_stop else ()

    async def _answer(
        self, rid: uuid.UUID, answer: DriverEventType, reason: CannotStopReason | None = None
    ) -> None:
        try:
            await self.display.answer(rid, answer, reason)
        except AnswerError as exc:
            logger.debug("vehicle %s: %s not taken: %s", self.vehicle_id, answer, exc)

    async def _drive_policy(self, t: float) -> None:
        for view in self.display.state().views:
            rid = view.reservation_id
            alert = view.alert
            self.stats.alerted(rid)
            if not view.answers and alert.kind == "pickup":
                continue
            decision = self._decisions.get(rid)
            if decision is None:
                low, high = self.policy.ack_delay_s
                decision = _Decision(
                    ack_at=t + self.rng.uniform(low, high),
                    cannot_stop=alert.kind == "pickup"
                    and self.rng.random() < self.policy.cannot_stop_p,
                )
                self._decisions[rid] = decision
            if alert.kind == "pickup":
                if decision.cannot_stop and A.CANNOT_STOP in view.answers and t >= decision.ack_at:
                    await self._answer(rid, A.CANNOT_STOP, CannotStopReason.BUS_FULL)
                elif A.ACKNOWLEDGED in view.answers and t >= decision.ack_at:
                    await self._answer(rid, A.ACKNOWLEDGED)
                elif A.BOARDED in view.answers and self._stopped_at(alert.stop_id):
                    if decision.at_stop_since is None:
                        decision.at_stop_since = t
                    if self.curb.is_waiting(rid, alert.stop_id):
                        self.curb.board(rid, self.vehicle_id)
                        await self._answer(rid, A.BOARDED)
                    elif t - decision.at_stop_since >= self.policy.no_show_wait_s:
                        await self._answer(rid, A.NO_SHOW)
            elif (
                self._dropoff_open(rid, alert.status)
                and self._stopped_at(alert.stop_id)
                and A.ALIGHTED in view.answers
            ):
                decision.dropped_off = True
                self.curb.leave(rid)
                await self._answer(rid, A.ALIGHTED)
        if len(self._decisions) > 512:
            live = {v.reservation_id for v in self.display.state().views}
            self._decisions = {k: v for k, v in self._decisions.items() if k in live}


def vehicle_login(vehicle_id: str) -> str:
    return login_for(Owner.VEHICLE, vehicle_id)


def stop_login(stop_id: str) -> str:
    return login_for(Owner.STOP, stop_id)
