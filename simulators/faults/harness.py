"""Broker, database, API process and devices of one scenario, and what fault scripts use."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self, TypeVar

import httpx
from sqlalchemy import Engine

from broker_config.aio import cancel_and_wait
from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.device.audio import TextSink
from broker_config.device.speech import make_speaker
from broker_config.errors import MqttError
from broker_config.messages import ButtonAction, DriverEventType, ReservationStatus
from broker_config.registry import DeviceRegistry
from broker_config.topics import Owner, login_for
from driver_display.display import AnswerError, DriverDisplay
from driver_display.outbox import SqliteOutbox
from driver_display.settings import DisplaySettings
from rider_api.db.engine import make_sync_engine
from simulators.faults.audit import Made, Observed, Tally, audit
from simulators.faults.const import (
    COMBOS,
    MONITORS,
    PRESS_STOP,
    PROCESS_STOP,
    STOPS,
    VEHICLE,
    DatabaseKind,
    Fault,
)
from simulators.faults.database import prepare_database, scratch_database
from simulators.faults.feed import bus_position
from simulators.faults.observe import read_database, read_retained
from simulators.faults.processes import ApiProcess, GatewayProcess
from simulators.faults.riders import Booking, Riders
from simulators.faults.waiting import Progress
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)
S = ReservationStatus
T = TypeVar("T")
#: Which API instance a fault hits: the one that leads, or one that does not.
Role = Literal["leader", "follower"]
#: The single API's instance name (its login is ``server.api``).
SINGLE_INSTANCE = "api"


@dataclass(frozen=True, slots=True)
class Options:
    bookings: int
    settle_s: float
    concurrency: int


class Harness:
    """Broker, database, API process and devices of one scenario, as one ``async with``."""

    def __init__(
        self,
        fault: Fault | None,
        *,
        database: DatabaseKind,
        workdir: Path,
        options: Options,
        postgres_url: str | None,
    ) -> None:
        self.fault = fault
        self.database = database
        self.workdir = workdir
        self.options = options
        self.postgres_url = postgres_url
        self.n = options.bookings
        self.taps: list[tuple[uuid.UUID, uuid.UUID]] = []
        self.presses: collections.Counter[str] = collections.Counter()
        self.notes: list[str] = []
        self._stack = contextlib.AsyncExitStack()
        self._engine: Engine | None = None
        self._gps: asyncio.Task[None] | None = None
        # Set in __aenter__:
        self.broker: ManagedBroker
        self.api: ApiProcess
        self.riders: Riders
        self.display: DriverDisplay
        self.gateway: StopGateway
        self.gateway_process: GatewayProcess | None = None

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        work = self.workdir
        url = await self._stack.enter_async_context(
            scratch_database(self.database, work, self.postgres_url)
        )
        await asyncio.to_thread(prepare_database, url, work / "feed")
        self._engine = make_sync_engine(url)
        self._stack.callback(self._engine.dispose)
        settings = BrokerSettings(state_dir=work / "broker", port=0)
        broker = ManagedBroker(settings, self.registry())
        # Runs after the broker has stopped: its last lines, for whoever reads the run.
        self._stack.callback(
            lambda: (work / "broker.log").write_text("\n".join(broker.log_lines) + "\n")
        )
        self.broker = await self._stack.enter_async_context(broker)
        await self._start_api(url)
        riders = await self.riders.sign_up(math.ceil(self.n / len(COMBOS)))
        self.riders.plan(self.n, riders)
        await self._start_devices()

    def registry(self) -> DeviceRegistry:
        """The logins the broker knows: the stops, V1, the server and the monitors."""
        return DeviceRegistry(stops=set(STOPS), vehicles={VEHICLE}, monitors=set(MONITORS))

    def api_env(self, url: str) -> dict[str, str]:
        """The API's environment (the same for every instance of a multi-instance run)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUSHAIL_")}
        env.update(
            {
                "BUSHAIL_API_DATABASE_URL": url,
                "BUSHAIL_API_STATE_DIR": str(self.workdir / "api"),
                "BUSHAIL_API_MQTT_PORT": str(self.broker.port),
                "BUSHAIL_API_MQTT_CREDENTIALS_FILE": str(
                    self.broker.state_dir / "credentials.json"
                ),
                "BUSHAIL_API_OPERATOR_TOKENS": '["fault-operator"]',
                "BUSHAIL_API_MAX_ACTIVE_RESERVATIONS_PER_RIDER": str(len(COMBOS)),
                "BUSHAIL_API_MAX_BOOKINGS_PER_MINUTE_PER_RIDER": "1000",
                # Every scripted rider signs up from 127.0.0.1.
                "BUSHAIL_API_SIGN_UP_LIMIT": "100000",
                # Every press is its own incident, so presses can be counted one by one.
                "BUSHAIL_API_STOP_HELP_WINDOW_S": "0",
                # The driver answers when the script says: keep the server's timers out.
                "BUSHAIL_API_ACK_TIMEOUT_S": "3600",
            }
        )
        return env

    @property
    def answer_within_s(self) -> float:
        """How long a rider retries one request before giving up on it."""
        return max(60.0, self.options.settle_s * 2)

    async def _start_api(self, url: str) -> None:
        """The API process, and the riders who book through it."""
        self.api = ApiProcess(env=self.api_env(url), log_path=self.workdir / "api.log")
        self._stack.push_async_callback(self.api.stop)
        await self.api.start()
        self.riders = Riders(self.api, answer_within_s=self.answer_within_s)
        self._stack.push_async_callback(self.riders.aclose)

    async def _start_devices(self) -> None:
        work = self.workdir
        broker = self.broker
        display_settings = DisplaySettings(
            vehicle_id=VEHICLE,
            serve_screen=False,
            audio="text",
            broker_port=broker.port,
            state_dir=work / "display",
        )
        outbox = await self._stack.enter_async_context(
            SqliteOutbox(display_settings.outbox_path(VEHICLE))
        )
        endpoint = broker.endpoint(login_for(Owner.VEHICLE, VEHICLE))
        self.display = await self._stack.enter_async_context(
            DriverDisplay(display_settings, outbox=outbox, endpoint=endpoint)
        )
        gateway_settings = GatewaySettings(
            stop_id=PRESS_STOP, broker_port=broker.port, audio_sink="text", self_test=False
        )
        self.gateway = await self._stack.enter_async_context(
            StopGateway(
                gateway_settings,
                speaker=make_speaker(TextSink(name=PRESS_STOP)),
                endpoint=broker.endpoint(login_for(Owner.STOP, PRESS_STOP)),
            )
        )
        await self.display.runtime.mqtt.wait_connected(10)
        await self.gateway.wait_connected(10)
        self._gps = asyncio.create_task(self._drive(), name="fault-gps")
        self._stack.push_async_callback(self._stop_gps)
        if self.fault in (Fault.GATEWAY_KILL, Fault.GATEWAY_KILL_PENDING):
            self.gateway_process = await self._stack.enter_async_context(
                GatewayProcess(stop_id=PROCESS_STOP, broker=broker, log_dir=work)
            )

    async def _drive(self) -> None:
        """V1's GPS: its position every second (QoS 0: lost while the broker is away)."""
        while True:
            with contextlib.suppress(MqttError):
                await self.display.publish_position(bus_position())
            await asyncio.sleep(1.0)

    async def _stop_gps(self) -> None:
        if self._gps is not None:
            await cancel_and_wait(self._gps)

    # -- what fault scripts use --------------------------------------------------------------
    @property
    def progress(self) -> Progress:
        return self.riders.progress

    @property
    def instances(self) -> int:
        """How many API instances serve (one here; see ``simulators.cluster``)."""
        return 1

    def server_names(self) -> list[str]:
        """Every API instance's name (its broker login is ``server.{name}``)."""
        return [SINGLE_INSTANCE]

    async def moment(self, progress: Progress) -> None:
        """Until the moment an API fault strikes: halfway through the bookings."""
        await progress.reached(self.at(1 / 2))

    async def stop_api(self, *, kill: bool, role: Role = "leader") -> None:
        """SIGTERM (or ``kill -9``) of one API instance: here the only one, the leader."""
        if role != "leader":
            raise ValueError("one API instance: it leads")
        await (self.api.kill() if kill else self.api.stop())

    async def stop_all_apis(self) -> None:
        """SIGTERM of every API instance."""
        await self.api.stop()

    async def start_apis(self) -> None:
        """Start again every API instance that was stopped, each answering when this returns."""
        await self.api.start()

    @contextlib.asynccontextmanager
    async def burst(self) -> AsyncIterator[Progress]:
        """The booking burst runs while the block does; leaving waits for its end."""
        task = asyncio.create_task(self.riders.run(self.options.concurrency), name="fault-bookings")
        try:
            yield self.riders.progress
        except BaseException:
            await cancel_and_wait(task)
            raise
        await task

    def at(self, fraction: float) -> int:
        """The number of answered bookings at which a step of the script happens."""
        return max(1, min(self.n, round(self.n * fraction)))

    async def wait_alerts(self, timeout: float = 30.0) -> None:
        """Until every answered booking the driver is to acknowledge shows on the display."""
        wanted = {
            b.reservation_id for b in self.riders.bookings if b.tap_target and b.reservation_id
        }
        display = self.display
        seen = -1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            missing = {rid for rid in wanted if display.store.view(rid) is None}
            if not missing:
                return
            left = deadline - loop.time()
            if left <= 0:
                some = ", ".join(sorted(map(str, missing))[:3])
                self.notes.append(f"{len(missing)} alert(s) never reached the display ({some} ...)")
                return
            with contextlib.suppress(TimeoutError):
                seen = await asyncio.wait_for(display.changes.wait(seen), left)

    def driver_answers(self, booking: Booking) -> bool:
        """Whether the driver acknowledges ``booking``'s alert (here: every one)."""
        return True

    async def tap_assigned(self) -> int:
        """The driver acknowledges every card still waiting for it; returns the taps."""
        ours = {
            b.reservation_id
            for b in self.riders.bookings
            if b.tap_target and self.driver_answers(b)
        }
        tapped = {rid for _e, rid in self.taps}
        made = 0
        for view in self.display.state().views:
            rid = view.reservation_id
            if (
                rid in ours
                and rid not in tapped
                and view.alert.status is S.ASSIGNED
                and DriverEventType.ACKNOWLEDGED in view.answers
            ):
                try:
                    event = await self.display.answer(rid, DriverEventType.ACKNOWLEDGED)
                except AnswerError:
                    continue  # the card changed under the driver's finger
                self.taps.append((event.id, rid))
                made += 1
        return made

    async def press(self, count: int) -> None:
        """A rider presses help at S2 ``count`` times."""
        for _ in range(count):
            await self.gateway.press(ButtonAction.HELP)
            self.presses[PRESS_STOP] += 1

    async def press_along(self, every: int, press: Callable[[], Awaitable[None]]) -> None:
        """Press once each time ``every`` more bookings have been answered."""
        for k in range(every, self.n + 1, every):
            await self.progress.reached(k)
            await press()

    async def hold(self, block: contextlib.AbstractAsyncContextManager[T]) -> T:
        """Enter ``block`` until the harness ends (through the settling audit)."""
        return await self._stack.enter_async_context(block)

    # -- the end ----------------------------------------------------------------------------
    def made(self) -> Made:
        presses = dict(self.presses)
        if self.gateway_process is not None:
            presses[PROCESS_STOP] = self.gateway_process.presses_taken()
        return Made(tuple(self.riders.bookings), tuple(self.taps), presses, tuple(self.notes))

    async def observe(self) -> Observed:
        assert self._engine is not None  # noqa: S101 - set at start
        rows, history, unsent, processed, helps = await asyncio.to_thread(
            read_database, self._engine
        )
        retained = await read_retained(self.broker)
        pending = {
            f"display {VEHICLE}": self.display.unsent,
            f"gateway {PRESS_STOP}": self.gateway.sender.pending_count,
        }
        calls = {c.reservation_id: c.status for c in self.gateway.tracker.active()}
        alerts = {v.reservation_id: v.alert.status for v in self.display.state().views}
        return Observed(rows, history, unsent, processed, helps, retained, pending, calls, alerts)

    async def _api_connected(self) -> bool:
        try:
            health = (await self.riders.client.get("/healthz")).json()
        except (httpx.HTTPError, ValueError):
            return False
        return bool(health.get("broker_connected"))

    async def settle(self) -> Tally:
        """Audit until everything agrees, or ``settle_s`` has passed: the last audit."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.settle_s
        waiting_for = ""
        while True:
            try:
                tally = audit(self.made(), await self.observe(), self.broker.topics)
                if not await self._api_connected():
                    tally.stuck.append("the API says it is not connected to the broker")
            except (MqttError, TimeoutError, OSError) as exc:
                tally = Tally(stuck=[f"could not observe: {exc}"])
            if tally.clean or loop.time() >= deadline:
                return tally
            # What the settling waits for, each time it changes (why a run settles slowly).
            first = next(iter(tally.lost + tally.duplicated + tally.stuck))
            if first != waiting_for:
                waiting_for = first
                logger.info(
                    "settling: lost %d, duplicated %d, stuck %d; first: %s",
                    tally.count("lost"),
                    tally.count("duplicated"),
                    tally.count("stuck"),
                    first,
                )
            await asyncio.sleep(0.25)
