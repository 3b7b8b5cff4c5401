"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan runs it.

Lifespan: database engine (tables created/migrated), network view, MQTT session with
retained birth/will, outbox relay, dispatcher, and the subscriptions to device events,
positions, status and health (device events through MQTT 5 shared subscriptions so
several API instances split them).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response

from broker_config.messages import ReservationStatus
from broker_config.registry import Credentials
from broker_config.session import BrokerEndpoint, MqttSession, SessionOptions
from broker_config.topics import Topics
from rider_api import __doc__ as package_doc
from rider_api import models  # noqa: F401 - registers every table
from rider_api.api.deps import StateDep
from rider_api.api.routes import network, ops, reservations, riders, voice
from rider_api.console.queries import alerts_pending_acknowledgement
from rider_api.console.router import router as console_router
from rider_api.core.limits import BodyLimitMiddleware
from rider_api.core.metrics import Metrics
from rider_api.core.problems import install_problem_handlers
from rider_api.core.security import hash_token
from rider_api.db.engine import WriteGate, checkpoint, make_async_engine, session_factory
from rider_api.db.migrate import upgrade as upgrade_schema
from rider_api.db.unit_of_work import ChangeSet, UnitsOfWork
from rider_api.dispatch.dispatcher import Dispatcher
from rider_api.mqtt.devices import DeviceBoard
from rider_api.mqtt.outbox import OutboxRelay
from rider_api.mqtt.reconcile import Reconciler
from rider_api.mqtt.subscriptions import subscribe_all
from rider_api.network.view import NetworkView
from rider_api.reservations.changes import Changes
from rider_api.reservations.notifier import ReservationNotifier
from rider_api.settings import ApiSettings, ConsoleSettings
from rider_api.state import AppState
from rider_api.web.router import router as web_router

__all__ = ["VERSION", "create_app"]

logger = logging.getLogger(__name__)
VERSION = "0.1.0"


def _mqtt_endpoint(settings: ApiSettings) -> BrokerEndpoint:
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    if password is None and settings.mqtt_credentials_file is not None:
        password = Credentials(settings.mqtt_credentials_file).password(settings.mqtt_username)
    return BrokerEndpoint(settings.mqtt_host, settings.mqtt_port, settings.mqtt_username, password)


async def _checkpoints(state: AppState, every_s: float = 5.0) -> None:
    """Keep SQLite's write-ahead log short from a worker thread (see db.checkpoint)."""
    url = state.settings.resolved_database_url()
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(checkpoint, url)
        except sqlite3.Error as exc:
            logger.warning("SQLite checkpoint failed (will retry): %s", exc)


async def _watch_network(state: AppState) -> None:
    """Pick up ``bushail-api network import`` made by another process, without a restart."""
    while True:
        await asyncio.sleep(state.settings.network_check_s)
        try:
            if await state.refresh_network():
                logger.info("network reloaded: %d stops", len(state.network.stops))
        except Exception:
            logger.exception("network reload failed; keeping the current network")


def _listen_after_commit(state: AppState) -> None:
    """What every commit tells the rest of the server, registered once."""
    units, metrics, notifier, relay = state.unit_of_work, state.metrics, state.notifier, state.relay
    if relay is not None:
        units.after_commit(lambda changes: relay.wake() if changes.outbox else None)
    units.after_commit(state.dispatcher.sync)

    def count_transitions(changes: ChangeSet) -> None:
        for _res, old, new, _cause in changes.history:
            metrics.transition(old, new)
        for kind in changes.incidents:
            metrics.incidents.labels(kind=kind).inc()

    def tell_live_streams(changes: ChangeSet) -> None:
        for reservation_id in changes.reservations:
            notifier.publish(reservation_id, {"id": str(reservation_id)})

    units.after_commit(count_transitions)
    units.after_commit(tell_live_streams)


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def running(
    settings: ApiSettings, console: ConsoleSettings | None = None
) -> AsyncIterator[AppState]:
    """Everything the API runs, as one ``async with`` block (used by the lifespan)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url()
    await asyncio.to_thread(upgrade_schema, url)
    async with AsyncExitStack() as stack:
        engine = make_async_engine(url)
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        async with sessions() as session:
            network = await NetworkView.load(session)
        topics = Topics(settings.mqtt_root)
        changes = Changes(topics, network)
        metrics = Metrics()
        units = UnitsOfWork(sessions, WriteGate(engine))
        dispatcher = Dispatcher(
            settings=settings, units=units, changes=changes, network=network, metrics=metrics
        )
        # Loaded before the broker session opens: the server's session is persistent, and
        # events queued for it while it was away arrive as soon as it connects.
        await stack.enter_async_context(dispatcher)
        mqtt: MqttSession | None = None
        relay: OutboxRelay | None = None
        reconciler: Reconciler | None = None
        if settings.mqtt_enabled:
            options = SessionOptions(
                client_id=f"bushail-server-{settings.instance}",
                root=settings.mqtt_root,
                status_topic=topics.server_status(settings.instance),
                version=VERSION,
            )
            endpoint = _mqtt_endpoint(settings)
            mqtt = await stack.enter_async_context(MqttSession(endpoint, options))
            mqtt.on_connection_change(lambda up: metrics.broker_connected.set(1 if up else 0))
            relay = OutboxRelay(sessions, mqtt, write_gate=units.gate)
            reconciler = Reconciler(topics=topics, units=units, changes=changes, endpoint=endpoint)
        state = AppState(
            settings=settings,
            console=console or ConsoleSettings(),
            engine=engine,
            sessions=sessions,
            unit_of_work=units,
            topics=topics,
            network=network,
            changes=changes,
            notifier=ReservationNotifier(),
            devices=DeviceBoard(topics),
            metrics=metrics,
            dispatcher=dispatcher,
            operator_token_hashes=frozenset(
                hash_token(t.get_secret_value()) for t in settings.operator_tokens
            ),
            mqtt=mqtt,
            relay=relay,
            reconciler=reconciler,
        )
        _listen_after_commit(state)
        state.voice.index(network)
        if mqtt is not None and relay is not None and reconciler is not None:
            await subscribe_all(state, mqtt)
            await stack.enter_async_context(relay)
            # After every connection (the first one included) the broker may have lost or
            # restored retained messages: put them back in step with the database.
            await stack.enter_async_context(reconciler)
            mqtt.on_connection_change(lambda up: reconciler.request() if up else None)
            if mqtt.connected:
                reconciler.request()
        duties = [asyncio.create_task(_watch_network(state), name="network-watch")]
        if engine.dialect.name == "sqlite":
            duties.append(asyncio.create_task(_checkpoints(state), name="sqlite-checkpoint"))
        stack.push_async_callback(_cancel_all, duties)
        yield state


def create_app(
    settings: ApiSettings | None = None, console: ConsoleSettings | None = None
) -> FastAPI:
    settings = settings or ApiSettings()
    console = console or ConsoleSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, console) as state:
            app.state.bushail = state
            yield

    app = FastAPI(
        title="BusHail rider API",
        version=VERSION,
        description=package_doc or "",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(riders.router)
    app.include_router(reservations.router)
    app.include_router(ops.router)
    app.include_router(network.router)
    app.include_router(voice.router)
    app.include_router(web_router)
    app.include_router(console_router)

    @app.get("/healthz", tags=["system"])
    async def healthz(state: StateDep) -> dict[str, object]:
        """Liveness, and whether the broker is connected."""
        return {
            "status": "ok",
            "broker_connected": bool(state.mqtt and state.mqtt.connected),
            "stops": len(state.network.stops),
        }

    @app.get("/metrics", tags=["system"], response_class=PlainTextResponse)
    async def metrics(state: StateDep) -> Response:
        """Prometheus metrics."""
        m = state.metrics
        counts: dict[str, int] = dict.fromkeys((s.value for s in ReservationStatus), 0)
        for tracked in state.dispatcher.tracked.values():
            counts[tracked.status.value] += 1
        for status_value, n in counts.items():
            m.reservations.labels(status=status_value).set(n)
        if state.relay is not None:
            m.outbox_backlog.set(await state.relay.backlog())
        async with state.sessions() as session:
            m.alerts_unacknowledged.set(await alerts_pending_acknowledgement(session))
        for kind in ("stop", "vehicle"):
            m.devices_online.labels(kind=kind).set(state.devices.online_count(kind))
        return Response(m.render(), media_type="text/plain; version=0.0.4")

    return app
