"""Dispatcher numbers: the position fast path, and position -> `arriving` StopCall latency.

1. Throughput: a synthetic city held in memory (50 routes x 2 directions x 20 stops,
   trips with stop times), 1,000 vehicles driving their routes and 200 active
   reservations. Each encoded VehiclePosition message, received with its topic parsed
   (as the MQTT session hands it over), goes through what the server's position
   subscription does with it: decode the payload, ``Dispatcher.on_position``
   (FleetView.update, then the rules). The Actions the rules return (``Dispatcher.act``:
   assign, arriving, at_stop, eta, missed) are mirrored in memory and counted instead of
   written, so the figure is the fast path that every position pays; the printed action
   count says how many positions would have reached the database.
2. Latency: the real API in this process (uvicorn, a temporary SQLite, the demo feed)
   and the managed Mosquitto on loopback. Per round: the bus stops two stops before a
   booked stop, the booking is assigned, then the bus publishes INCOMING_AT the stop;
   the time runs from that publish to the StopCall with status ``arriving`` reaching a
   ``stop.X`` subscriber. Then the booking is cancelled.

    .venv/bin/python -m bench.bench_dispatch [--positions 60000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from pydantic import SecretStr

from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.messages import (
    Localized,
    ReservationStatus,
    StopCall,
    VehiclePosition,
    VehicleStopStatus,
    decode,
    encode,
    utcnow,
)
from broker_config.registry import DeviceRegistry, read_gtfs_stop_ids
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import Topics
from rider_api.app import create_app
from rider_api.core.metrics import Metrics
from rider_api.db.engine import WriteGate, make_async_engine, session_factory
from rider_api.db.migrate import upgrade
from rider_api.db.unit_of_work import ChangeSet, UnitsOfWork
from rider_api.dispatch.dispatcher import Dispatcher
from rider_api.dispatch.rules import WAITING_STATUSES, Action, ActionKind
from rider_api.models import Reservation
from rider_api.network.importer import import_feed
from rider_api.network.view import DirectionInfo, NetworkView, StopInfo, TripInfo, TripStop
from rider_api.reservations.changes import Changes
from rider_api.serve import InProcessServer
from rider_api.settings import ApiSettings
from rider_api.state import AppState

S = ReservationStatus
STATUS = VehicleStopStatus
FEED = Path(__file__).resolve().parent.parent / "rider_api" / "data" / "taipei_demo"
ROUTES, STOPS_PER_DIRECTION, VEHICLES, RESERVATIONS = 50, 20, 1000, 200
SEGMENT_S, DWELL_S = 120, 20
BENCH_VEHICLE = "BENCH-1"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- 1. throughput -----------------------------------------------------------------------
def synthetic_network() -> NetworkView:
    """50 routes, both directions, 20 stops each, 4 trips per direction."""
    net = NetworkView(timezone="Asia/Taipei")
    for r in range(ROUTES):
        route_id = f"R{r:02d}"
        stop_ids = [f"{route_id}-S{i:02d}" for i in range(STOPS_PER_DIRECTION)]
        for i, sid in enumerate(stop_ids):
            lat, lon = 25.0 + r * 0.01, 121.4 + i * 0.005
            net.stops[sid] = StopInfo(sid, Localized.same(sid), None, lat, lon)
        for d, order in ((0, stop_ids), (1, stop_ids[::-1])):
            net.directions[(route_id, d)] = DirectionInfo(
                route_id,
                d,
                Localized.same(order[-1]),
                tuple(order),
                {s: i for i, s in enumerate(order)},
            )
            for k in range(4):
                trip_id = f"{route_id}-{d}-{k}"
                start = 6 * 3600 + k * 1800
                stops = tuple(
                    TripStop(
                        i + 1, sid, start + i * SEGMENT_S, start + i * SEGMENT_S + DWELL_S, None
                    )
                    for i, sid in enumerate(order)
                )
                net.trips[trip_id] = TripInfo(trip_id, route_id, d, "ALL", stops)
                net.trips_by_direction.setdefault((route_id, d), []).append(trip_id)
    return net


def position_messages(net: NetworkView, topics: Topics, count: int) -> list[ReceivedMessage]:
    """Encoded positions, round-robin over the fleet; each vehicle drives its route.

    A vehicle passes every stop in three messages (IN_TRANSIT_TO halfway, INCOMING_AT,
    STOPPED_AT) and starts over at the first stop after the last.
    """
    keys = sorted(net.directions)
    phases = (STATUS.IN_TRANSIT_TO, STATUS.INCOMING_AT, STATUS.STOPPED_AT)
    fleet = []
    for v in range(VEHICLES):
        route_id, d = keys[v % len(keys)]
        step = (v // len(keys)) * 6  # spread the buses along their route
        fleet.append((f"V{v:04d}", route_id, d, step))
    out: list[ReceivedMessage] = []
    ts = time.time()
    for n in range(count):
        vehicle_id, route_id, d, step0 = fleet[n % VEHICLES]
        step = step0 + n // VEHICLES
        direction = net.directions[(route_id, d)]
        index = (step // 3) % STOPS_PER_DIRECTION
        status = phases[step % 3]
        stop = net.stops[direction.stop_ids[index]]
        lat, lon = stop.lat, stop.lon
        if status is STATUS.IN_TRANSIT_TO and index > 0:
            prev = net.stops[direction.stop_ids[index - 1]]
            lat, lon = (lat + prev.lat) / 2, (lon + prev.lon) / 2
        pos = VehiclePosition(
            route_id=route_id,
            direction_id=d,
            trip_id=f"{route_id}-{d}-{step // (3 * STOPS_PER_DIRECTION) % 4}",
            lat=lat,
            lon=lon,
            stop_id=stop.stop_id,
            current_stop_sequence=index + 1,
            current_status=status,
            timestamp=ts + n * 0.001,
        )
        topic = topics.vehicle_position(vehicle_id)
        parsed = topics.parse(topic)
        out.append(ReceivedMessage(topic, encode(pos), 0, False, parsed, time.monotonic()))
    return out


class MirroredDispatcher(Dispatcher):
    """The real dispatcher and rules; the Actions it would write are mirrored in memory.

    A vehicle at the stop counts as a boarding without destination: the reservation
    completes and a new one is booked elsewhere, so 200 stay active.
    """

    def __init__(
        self, *, settings: ApiSettings, units: UnitsOfWork, network: NetworkView, rng: random.Random
    ) -> None:
        super().__init__(
            settings=settings,
            units=units,
            changes=Changes(Topics(), network),
            network=network,
            metrics=Metrics(),
        )
        self.rows: dict[uuid.UUID, Reservation] = {}
        self.actions: collections.Counter[str] = collections.Counter()
        self.rng = rng

    def book(self) -> None:
        route_id, d = self.rng.choice(sorted(self.network.directions))
        direction = self.network.directions[(route_id, d)]
        stop_id = direction.stop_ids[self.rng.randrange(1, STOPS_PER_DIRECTION - 1)]
        res = Reservation(
            rider_id=uuid.uuid4(),
            stop_id=stop_id,
            route_id=route_id,
            direction_id=d,
            expires_at=utcnow() + dt.timedelta(hours=2),
        )
        self._store(res)

    def _store(self, res: Reservation) -> None:
        if res.status.is_final:
            self.rows.pop(res.id, None)
        else:
            self.rows[res.id] = res
        changes = ChangeSet()
        changes.touched[res.id] = res
        self.sync(changes)

    async def act(self, action: Action) -> None:
        """In place of a unit of work: the row kept in memory, written as ``apply`` would."""
        res = self.rows.get(action.reservation_id)
        if res is None:
            return
        self.actions[action.kind.value] += 1
        kind = action.kind
        if kind is ActionKind.ASSIGN:
            if res.status not in WAITING_STATUSES:
                return
            res.status, res.vehicle_id, res.eta_s = S.ASSIGNED, action.vehicle_id, action.eta_s
        elif kind is ActionKind.ARRIVING:
            res.status, res.eta_s = S.ARRIVING, action.eta_s
        elif kind is ActionKind.AT_STOP:
            res.status = S.COMPLETED
            self.book()
        elif kind is ActionKind.ETA:
            res.eta_s = action.eta_s
        elif kind in (ActionKind.MISSED, ActionKind.OFF_ROUTE):
            res.status, res.vehicle_id, res.eta_s = S.PENDING, None, None
        self._store(res)


def _check_indexes(dispatcher: Dispatcher) -> None:
    """The per-vehicle and per-route indexes still describe ``tracked`` exactly."""
    by_vehicle: dict[str, set[uuid.UUID]] = collections.defaultdict(set)
    by_route: dict[tuple[str, int], set[uuid.UUID]] = collections.defaultdict(set)
    for t in dispatcher.tracked.values():
        if t.vehicle_id is not None:
            by_vehicle[t.vehicle_id].add(t.id)
        by_route[(t.route_id, t.direction_id)].add(t.id)
    if {k: set(v) for k, v in dispatcher._by_vehicle.items()} != by_vehicle or {
        k: set(v) for k, v in dispatcher._by_route.items()
    } != by_route:
        raise RuntimeError("dispatcher indexes out of step with tracked reservations")


async def throughput(count: int, workdir: Path) -> None:
    net = synthetic_network()
    topics = Topics()
    settings = ApiSettings(state_dir=workdir / "tp", mqtt_enabled=False)
    engine = make_async_engine(f"sqlite:///{workdir / 'unused.db'}")  # never opened
    dispatcher = MirroredDispatcher(
        settings=settings,
        units=UnitsOfWork(session_factory(engine), WriteGate(engine)),
        network=net,
        rng=random.Random(4),
    )

    async def on_message(msg: ReceivedMessage) -> None:
        """What the server's position subscription does (rider_api/mqtt/subscriptions.py)."""
        if msg.parsed is None:
            return
        await dispatcher.on_position(msg.parsed.device_id, decode(VehiclePosition, msg.payload))

    for _ in range(RESERVATIONS):
        dispatcher.book()
    messages = position_messages(net, topics, count + VEHICLES)
    # One round for every vehicle first so the fleet view is full when timing starts.
    for msg in messages[:VEHICLES]:
        await on_message(msg)
    dispatcher.actions.clear()
    started = time.perf_counter()
    for msg in messages[VEHICLES:]:
        await on_message(msg)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    _check_indexes(dispatcher)
    acted = sum(dispatcher.actions.values())
    by_kind = ", ".join(f"{k}={n}" for k, n in sorted(dispatcher.actions.items()))
    print(
        f"positions: {count} in {elapsed:.2f} s = {count / elapsed:,.0f}/s "
        f"({VEHICLES} vehicles, {ROUTES} routes x 2 directions x {STOPS_PER_DIRECTION} stops, "
        f"{len(dispatcher.tracked)} active reservations; target >= 5,000/s)"
    )
    print(f"positions that decided a reservation change: {acted} ({acted / count:.1%}): {by_kind}")


# -- 2. latency --------------------------------------------------------------------------
async def latency(rounds: int, workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'api.db'}"
    upgrade(url)
    import_feed(url, FEED)
    registry = DeviceRegistry(stops=read_gtfs_stop_ids(FEED), vehicles={BENCH_VEHICLE})
    async with ManagedBroker(BrokerSettings(state_dir=workdir / "broker", port=0), registry) as b:
        settings = ApiSettings(
            state_dir=workdir / "api",
            database_url=url,
            mqtt_port=b.port,
            mqtt_credentials_file=b.state_dir / "credentials.json",
            operator_tokens=[SecretStr("bench")],
            max_bookings_per_minute_per_rider=100_000,
        )
        async with InProcessServer(create_app(settings)) as server:
            state = server.state
            assert state.mqtt is not None
            await state.mqtt.wait_connected(10)
            await _rounds(state, b, server.port, rounds)


async def _rounds(state: AppState, broker: ManagedBroker, port: int, rounds: int) -> None:
    net, topics = state.network, Topics()
    direction = next(
        d for _k, d in sorted(net.directions.items()) if len(d.stop_ids) >= 4 and d.route_id
    )
    start_stop, stop_id = direction.stop_ids[0], direction.stop_ids[2]
    seen: dict[tuple[str, str], float] = {}
    changed = asyncio.Event()

    async def on_call(msg: ReceivedMessage) -> None:
        if not msg.payload:
            return
        call = decode(StopCall, msg.payload)
        seen.setdefault((str(call.reservation_id), call.status.value), time.perf_counter())
        changed.set()

    stalls: collections.Counter[str] = collections.Counter()

    async def until(rid: str, status: str) -> float:
        """When the StopCall came; a relay asleep after 1 s is woken once and counted."""
        for bound in (1.0, 5.0):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(bound):
                    while (rid, status) not in seen:
                        changed.clear()
                        await changed.wait()
                return seen[(rid, status)]
            stalls[status] += 1
            if state.relay is not None:
                state.relay.wake()
        raise TimeoutError(f"no {status} StopCall for {rid}")

    dispatcher = state.dispatcher
    assert dispatcher is not None
    async with (
        MqttSession(
            broker.endpoint(f"stop.{stop_id}"), SessionOptions(clean_start=True)
        ) as gateway,
        MqttSession(
            broker.endpoint(f"vehicle.{BENCH_VEHICLE}"), SessionOptions(clean_start=True)
        ) as bus,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        await gateway.wait_connected(10)
        await bus.wait_connected(10)
        await gateway.subscribe(topics.stop_calls_filter(stop_id), on_call)
        r = await client.post("/v1/riders", json={"display_name": "bench", "language": "en"})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}

        async def drive(at: str, status: VehicleStopStatus) -> float:
            stop = net.stops[at]
            pos = VehiclePosition(
                route_id=direction.route_id,
                direction_id=1 if direction.direction_id == 1 else 0,
                lat=stop.lat,
                lon=stop.lon,
                stop_id=at,
                current_stop_sequence=direction.positions[at] + 1,
                current_status=status,
                timestamp=time.time(),
            )
            t0 = time.perf_counter()
            await bus.publish(topics.vehicle_position(BENCH_VEHICLE), pos, qos=0)
            return t0

        samples: list[float] = []
        committed: list[float] = []
        for _ in range(rounds):
            await drive(start_stop, STATUS.STOPPED_AT)
            async with asyncio.timeout(5):
                while (v := dispatcher.fleet.vehicles.get(BENCH_VEHICLE)) is None or (
                    v.position.stop_id != start_stop
                ):
                    await asyncio.sleep(0.001)
            body = {
                "stop_id": stop_id,
                "route_id": direction.route_id,
                "direction_id": direction.direction_id,
            }
            r = await client.post("/v1/reservations", json=body, headers=headers)
            if r.json()["status"] != "assigned":
                raise RuntimeError(f"booking not assigned: {r.json()}")
            rid = r.json()["id"]
            await until(rid, "assigned")
            async with state.notifier.listen(uuid.UUID(rid)) as changes:
                t0 = await drive(stop_id, STATUS.INCOMING_AT)
                # The notifier is told right after the dispatcher's commit.
                async with asyncio.timeout(5):
                    while dispatcher.tracked[uuid.UUID(rid)].status is not S.ARRIVING:
                        await changes.get()
                committed.append((time.perf_counter() - t0) * 1000)
                stalled = stalls["arriving"]
                arrived = await until(rid, "arriving")
                if stalls["arriving"] == stalled:
                    samples.append((arrived - t0) * 1000)
            await client.delete(f"/v1/reservations/{rid}", headers=headers)
            await until(rid, "cancelled")
    print(
        f"position INCOMING_AT -> StopCall 'arriving' at stop.{stop_id}: {len(samples)} rounds, "
        f"median={statistics.median(samples):.1f} ms p99={_percentile(samples, 0.99):.1f} ms "
        f"max={max(samples):.1f} ms (in-process API on SQLite, Mosquitto on loopback)"
    )
    print(
        f"  of which position -> transition committed: median={statistics.median(committed):.1f}"
        f" ms p99={_percentile(committed, 0.99):.1f} ms (the rest: outbox relay and broker)"
    )
    if stalls:
        print(
            "  outbox relay asleep with messages due (> 1 s, woken by the bench; arriving"
            f" rounds not in the figures): {dict(stalls)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        asyncio.run(throughput(args.positions, work))
        if args.rounds > 0:
            asyncio.run(latency(args.rounds, work))


if __name__ == "__main__":
    main()
