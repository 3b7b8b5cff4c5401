"""A whole simulated city against a running platform (broker + API).

``async with City(network, config, endpoint_for=..., api_url=...) as city:`` starts one
real stop gateway per stop and one bus (real driver display + motion + driver) per
vehicle, each on its own MQTT connection and login, and a stream of riders booking
over HTTP. ``city.stats`` holds the figures; ``city.summary()`` is the terminal line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx

from broker_config.aio import cancel_and_wait
from broker_config.session import BrokerEndpoint
from broker_config.topics import Owner, login_for
from simulators.blocks import assign_blocks
from simulators.clock import SimClock, service_midnight
from simulators.devices import Curb, DriverPolicy, SimStopGateway, SimVehicle, make_gateway
from simulators.motion import DelayModel, MotionSettings
from simulators.network import SimNetwork
from simulators.riders import RideRequest, SimRider
from simulators.stats import CityStats, percentile

__all__ = ["City", "CityConfig", "vehicle_ids"]

logger = logging.getLogger(__name__)

EndpointFor = Callable[[str], BrokerEndpoint]


def vehicle_ids(count: int, prefix: str = "SIM-") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(1, count + 1)]


@dataclass
class CityConfig:
    date: dt.date
    #: Simulated seconds after the service day's midnight at which the city starts.
    start_s: float
    speed: float = 1.0
    vehicles: list[str] = field(default_factory=lambda: vehicle_ids(10))
    #: Riders per simulated hour (0: none; tests book themselves).
    riders_per_hour: float = 60.0
    #: Share of riders booking a stop a running bus is about to reach.
    targeted_share: float = 0.9
    #: When no running bus has a stop ahead: book anywhere (True) or skip the rider.
    untargeted_fallback: bool = True
    #: Real seconds before the first rider, so every bus has reported its position.
    warmup_s: float = 2.0
    no_show_p: float = 0.0
    position_interval_s: float = 10.0
    motion: MotionSettings = field(default_factory=MotionSettings)
    delay: DelayModel = field(default_factory=DelayModel)
    policy: DriverPolicy = field(default_factory=DriverPolicy)
    #: Only these stops get a gateway (None: every stop of the feed).
    stops: set[str] | None = None
    root: str | None = None
    seed: int = 1
    #: How riders follow their reservation: "poll" or "sse".
    rider_follow: str = "poll"
    rider_poll_s: float = 1.0
    #: Makes each bus (``SimVehicle``'s arguments): ``simulators.gtfs_rt.FeedVehicle`` for
    #: buses reported by an agency's GTFS-Realtime feed instead of their own MQTT positions.
    make_vehicle: Callable[..., SimVehicle] = SimVehicle


class City:
    """See the module docstring."""

    def __init__(
        self,
        network: SimNetwork,
        config: CityConfig,
        *,
        endpoint_for: EndpointFor,
        api_url: str,
    ) -> None:
        self.network = network
        self.config = config
        self.endpoint_for = endpoint_for
        self.api_url = api_url
        self.stats = CityStats()
        self.curb = Curb()
        self.rng = random.Random(config.seed)
        self.clock = SimClock(
            config.start_s,
            speed=config.speed,
            midnight=service_midnight(config.date, network.timezone),
        )
        self.gateways: dict[str, SimStopGateway] = {}
        self.vehicles: dict[str, SimVehicle] = {}
        self.riders: list[SimRider] = []
        self.client: httpx.AsyncClient | None = None
        self._stack = AsyncExitStack()
        self._rider_tasks: set[asyncio.Task[None]] = set()
        self._source: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        cfg = self.config
        stack = self._stack
        try:
            self.client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=self.api_url, timeout=15)
            )
            stop_ids = sorted(cfg.stops if cfg.stops is not None else self.network.stops)
            for stop_id in stop_ids:
                gateway = make_gateway(
                    stop_id,
                    self.endpoint_for(login_for(Owner.STOP, stop_id)),
                    self.stats,
                    root=cfg.root,
                )
                self.gateways[stop_id] = await stack.enter_async_context(gateway)
            blocks = assign_blocks(self.network.trips_on(cfg.date), cfg.vehicles, cfg.start_s)
            for vehicle_id in cfg.vehicles:
                vehicle = cfg.make_vehicle(
                    vehicle_id,
                    blocks[vehicle_id],
                    network=self.network,
                    clock=self.clock,
                    endpoint=self.endpoint_for(login_for(Owner.VEHICLE, vehicle_id)),
                    stats=self.stats,
                    curb=self.curb,
                    policy=cfg.policy,
                    motion=cfg.motion,
                    delay=cfg.delay,
                    position_interval_s=cfg.position_interval_s,
                    rng=random.Random(f"{cfg.seed}-{vehicle_id}"),
                    root=cfg.root,
                )
                self.vehicles[vehicle_id] = await stack.enter_async_context(vehicle)
            stack.push_async_callback(self._stop_riders)
            if cfg.riders_per_hour > 0:
                self._source = asyncio.create_task(self._rider_source(), name="sim-riders")
        except BaseException:
            await stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _stop_riders(self) -> None:
        tasks = [t for t in (self._source, *self._rider_tasks) if t is not None]
        await cancel_and_wait(*tasks)

    # -- riders -------------------------------------------------------------------------
    def book(self, request: RideRequest) -> SimRider:
        """Start a rider now (runs in the background); returns it."""
        assert self.client is not None  # noqa: S101 - inside the block
        rider = SimRider(
            self.client,
            request,
            stats=self.stats,
            curb=self.curb,
            follow=self.config.rider_follow,
            poll_s=self.config.rider_poll_s,
        )
        self.riders.append(rider)
        task = asyncio.create_task(self._run_rider(rider))
        self._rider_tasks.add(task)
        task.add_done_callback(self._rider_tasks.discard)
        return rider

    async def _run_rider(self, rider: SimRider) -> None:
        try:
            await rider.run()
        except Exception:
            self.stats.errors["rider"] += 1
            logger.exception("rider failed")

    async def _rider_source(self) -> None:
        rate = self.config.riders_per_hour / 3600.0
        await asyncio.sleep(self.config.warmup_s)
        while True:
            request = self.next_request()
            if request is not None:
                self.book(request)
            await self.clock.sleep(self.rng.expovariate(rate))

    def next_request(self) -> RideRequest | None:
        """A plausible ride: mostly ahead of a running bus, sometimes anywhere."""
        rng = self.rng
        shows = rng.random() >= self.config.no_show_p
        lang = rng.choice(["zh-TW", "en"])
        if rng.random() < self.config.targeted_share:
            running = [(v.journey, v.fix) for v in self.vehicles.values() if v.journey and v.fix]
            rng.shuffle(running)
            for journey, fix in running:
                if journey is None or fix is None:
                    continue
                stages = journey.plan.stages
                # The stop after the one the bus is at or heading to, or the next.
                first = fix.index + 1
                if first >= len(stages) - 1:
                    continue
                board = rng.randrange(first, min(len(stages) - 1, first + 2))
                dest = rng.randrange(board + 1, min(len(stages), board + 3))
                trip = journey.plan.trip
                return RideRequest(
                    stages[board].stop_id,
                    trip.route_id,
                    trip.direction_id,
                    stages[dest].stop_id,
                    lang,
                    shows,
                )
        trips = self.network.trips_on(self.config.date)
        if not trips or not self.config.untargeted_fallback:
            return None
        trip = rng.choice(trips)
        board = rng.randrange(0, len(trip.stop_times) - 1)
        dest = rng.randrange(board + 1, len(trip.stop_times))
        return RideRequest(
            trip.stop_times[board].stop_id,
            trip.route_id,
            trip.direction_id,
            trip.stop_times[dest].stop_id,
            lang,
            shows,
        )

    # -- reporting ----------------------------------------------------------------------
    def devices_online(self) -> tuple[int, int]:
        """(gateways online, displays online)."""
        gateways = sum(1 for g in self.gateways.values() if g.runtime.mqtt.connected)
        displays = sum(1 for v in self.vehicles.values() if v.connected)
        return gateways, displays

    def summary(self) -> str:
        """One status block for the terminal."""
        s = self.stats
        t = int(self.clock.now()) % (24 * 3600)
        states = ", ".join(f"{k} {n}" for k, n in s.by_state().items()) or "none yet"
        p50 = percentile(s.booking_to_alert_ms, 50)
        p95 = percentile(s.booking_to_alert_ms, 95)
        gateways, displays = self.devices_online()
        running = sum(1 for v in self.vehicles.values() if v.journey is not None)
        lat = "-" if p50 is None or p95 is None else f"p50 {p50:.0f} ms, p95 {p95:.0f} ms"
        return "\n".join(
            [
                f"模擬時間 simulated time {t // 3600:02d}:{t % 3600 // 60:02d} "
                f"(x{self.config.speed:g}); 行駛中公車 buses running {running}/"
                f"{len(self.vehicles)}",
                f"預約 reservations: {states}",
                f"預約到司機提醒 booking-to-alert: {lat}; 錯過 missed pickups {len(s.missed)}",
                f"上線裝置 devices online: 站牌 stops {gateways}/{len(self.gateways)}, "
                f"車機 displays {displays}/{len(self.vehicles)}",
            ]
        )
