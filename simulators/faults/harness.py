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

import httpx
from sqlalchemy import Engine

from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.const import SERVER_SHARE_GROUP
from broker_config.device.audio import TextSink
from broker_config.device.speech import make_speaker
from broker_config.errors import MqttError
from broker_config.messages import ButtonAction, DriverEventType, ReservationStatus
from broker_config.registry import DeviceRegistry
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import Owner, TopicKind, login_for
from driver_display.display import AnswerError, DriverDisplay
from driver_display.outbox import SqliteOutbox
from driver_display.settings import DisplaySettings
from rider_api.db.engine import make_sync_engine
from simulators.faults.audit import Made, Observed, Tally, audit
from simulators.faults.const import (
    COMBOS,
    PRESS_STOP,
    PROCESS_STOP,
    SERVER_CLIENT_ID,
    STOPS,
    VEHICLE,
    DatabaseKind,
    Fault,
)
from simulators.faults.database import prepare_database, scratch_database
from simulators.faults.feed import bus_position
from simulators.faults.observe import read_database, read_retained
from simulators.faults.processes import ApiProcess, GatewayProcess
from simulators.faults.riders import Riders
from simulators.faults.waiting import Progress, until
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)
S = ReservationStatus


@dataclass(frozen=True, slots=True)
class Options:
    bookings: int
    settle_s: float
    concurrency: int


class _Rogue:
    """A session fighting the server for its client id."""

    def __init__(self, session: MqttSession) -> None:
        self.session = session

    async def took_over(self, times: int, *, at_most_s: float) -> None:
        """Until the rogue has connected (throwing the server out) ``times`` times in all,
        or ``at_most_s`` has passed (the war's length is the fault's timing)."""

        async def enough() -> bool | None:
            return True if self.session.connect_count >= times else None

        with contextlib.suppress(TimeoutError):
            await until(enough, timeout=at_most_s, what="takeovers")


class Harness:
    """Broker, database, API process and devices of one scenario, as one ``async with``."""

    def __init__(
        self,
        fault: Fault,
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

    async def __aenter__(self) -> Harness:
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
        registry = DeviceRegistry(stops=set(STOPS), vehicles={VEHICLE})
        settings = BrokerSettings(state_dir=work / "broker", port=0)
        broker = ManagedBroker(settings, registry)
        # Runs after the broker has stopped: its last lines, for whoever reads the run.
        self._stack.callback(
            lambda: (work / "broker.log").write_text("\n".join(broker.log_lines) + "\n")
        )
        self.broker = await self._stack.enter_async_context(broker)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUSHAIL_")}
        env.update(
            {
                "BUSHAIL_API_DATABASE_URL": url,
                "BUSHAIL_API_STATE_DIR": str(work / "api"),
                "BUSHAIL_API_MQTT_PORT": str(self.broker.port),
                "BUSHAIL_API_MQTT_CREDENTIALS_FILE": str(
                    self.broker.state_dir / "credentials.json"
                ),
                "BUSHAIL_API_OPERATOR_TOKENS": '["fault-operator"]',
                "BUSHAIL_API_MAX_ACTIVE_RESERVATIONS_PER_RIDER": str(len(COMBOS)),
                "BUSHAIL_API_MAX_BOOKINGS_PER_MINUTE_PER_RIDER": "1000",
                # Every press is its own incident, so presses can be counted one by one.
                "BUSHAIL_API_STOP_HELP_WINDOW_S": "0",
                # The driver answers when the script says: keep the server's timers out.
                "BUSHAIL_API_ACK_TIMEOUT_S": "3600",
            }
        )
        self.api = ApiProcess(env=env, log_path=work / "api.log")
        self._stack.push_async_callback(self.api.stop)
        await self.api.start()
        self.riders = Riders(self.api, answer_within_s=max(60.0, self.options.settle_s * 2))
        self._stack.push_async_callback(self.riders.aclose)
        riders = await self.riders.sign_up(math.ceil(self.n / len(COMBOS)))
        self.riders.plan(self.n, riders)
        await self._start_devices()

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
            self._gps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gps

    # -- what fault scripts use --------------------------------------------------------------
    @property
    def progress(self) -> Progress:
        return self.riders.progress

    @contextlib.asynccontextmanager
    async def burst(self) -> AsyncIterator[Progress]:
        """The booking burst runs while the block does; leaving waits for its end."""
        task = asyncio.create_task(self.riders.run(self.options.concurrency), name="fault-bookings")
        try:
            yield self.riders.progress
        except BaseException:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
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

    async def tap_assigned(self) -> int:
        """The driver acknowledges every card still waiting for it; returns the taps."""
        ours = {b.reservation_id for b in self.riders.bookings if b.tap_target}
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

    @contextlib.asynccontextmanager
    async def rogue_with_server_client_id(self) -> AsyncIterator[_Rogue]:
        """A stop's login connecting as the server's client id, with a clean start, again
        each time the server takes it back, while the block runs."""
        options = SessionOptions(
            client_id=SERVER_CLIENT_ID,
            clean_start=True,
            session_expiry_s=0,
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
        )
        rogue = MqttSession(self.broker.endpoint(login_for(Owner.STOP, "S5")), options)
        async with rogue:
            yield _Rogue(rogue)
        logger.info("the rogue took the server's client id %d time(s)", rogue.connect_count)

    async def rogue_share(self) -> MqttSession:
        """A stop's login joining shared groups on the server's filters, and the filters."""
        rogue = await self._stack.enter_async_context(
            MqttSession(self.broker.endpoint(login_for(Owner.STOP, "S5")), SessionOptions())
        )
        await rogue.wait_connected(10)
        topics = self.broker.topics

        async def swallow(msg: ReceivedMessage) -> None:
            logger.warning("the rogue received %s", msg.topic)

        filters = [topics.all_of(TopicKind.STOP_EVENTS), topics.all_of(TopicKind.VEHICLE_EVENTS)]
        for group in (SERVER_SHARE_GROUP, "api", "bushail"):
            filters += [f"$share/{group}/{f}" for f in filters[:2]]
        for topic_filter in filters:
            try:
                await rogue.subscribe(topic_filter, swallow)
            except MqttError as exc:
                logger.info("the broker refused the rogue %s: %s", topic_filter, exc)
        return rogue

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
        while True:
            try:
                tally = audit(self.made(), await self.observe(), self.broker.topics)
                if not await self._api_connected():
                    tally.stuck.append("the API says it is not connected to the broker")
            except (MqttError, TimeoutError, OSError) as exc:
                tally = Tally(stuck=[f"could not observe: {exc}"])
            if tally.clean or loop.time() >= deadline:
                return tally
            await asyncio.sleep(0.25)
