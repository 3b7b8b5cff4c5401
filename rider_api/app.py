"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan runs it.

Lifespan: database engine (tables created/migrated), network view, MQTT session with
retained birth/will, outbox relay, dispatcher, and the subscriptions to device events,
positions, status and health (each instance subscribes on its own login, no shared
subscription a device could join: every instance hears each device event and applies
it once across instances by its id), Web Push and the GTFS-Realtime feeds.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from broker_config.aio import cancel_and_wait
from broker_config.messages import ReservationStatus
from broker_config.registry import Credentials
from broker_config.session import BrokerEndpoint, MqttSession, SessionOptions
from broker_config.topics import Topics, monitor_login
from rider_api import __doc__ as package_doc
from rider_api import models  # noqa: F401 - registers every table
from rider_api.api.deps import OperatorDep, StateDep
from rider_api.api.rate_limits import client_limits
from rider_api.api.routes import (
    gtfs_rt,
    network,
    ops,
    push,
    reports,
    reservations,
    riders,
    voice,
)
from rider_api.cluster.coordinator import RemoteChange, coordinator_for
from rider_api.console.queries import alerts_pending_acknowledgement
from rider_api.console.router import router as console_router
from rider_api.console.sessions import OperatorSessions
from rider_api.console.throttle import LoginThrottle
from rider_api.core.limits import BodyLimitMiddleware
from rider_api.core.metrics import Metrics
from rider_api.core.private_files import private_dir
from rider_api.core.problems import install_problem_handlers
from rider_api.core.security import hash_token
from rider_api.core.web_security import OriginCheckMiddleware, SecurityHeadersMiddleware
from rider_api.db.engine import WriteGate, checkpoint, make_async_engine, session_factory
from rider_api.db.migrate import upgrade as upgrade_schema
from rider_api.db.unit_of_work import ChangeSet, UnitsOfWork
from rider_api.dispatch.dispatcher import Dispatcher
from rider_api.feeds.hub import TransitFeeds
from rider_api.mqtt.devices import DeviceBoard
from rider_api.mqtt.outbox import OutboxRelay
from rider_api.mqtt.reconcile import Reconciler
from rider_api.mqtt.subscriptions import subscribe_all
from rider_api.network.view import NetworkView
from rider_api.push.service import WebPush
from rider_api.reservations.changes import Changes
from rider_api.reservations.notifier import ReservationNotifier
from rider_api.settings import ApiSettings, ConsoleSettings
from rider_api.state import AppState
from rider_api.web.rate_limits import install_page_limits
from rider_api.web.router import router as web_router

__all__ = ["VERSION", "create_app"]

logger = logging.getLogger(__name__)
VERSION = "0.1.0"


def _mqtt_endpoint(settings: ApiSettings, *, monitor: bool = False) -> BrokerEndpoint:
    """The server's own login, or (``monitor``) its read-only login for reconcile scans."""
    if monitor:
        username = settings.mqtt_monitor_username or monitor_login(settings.instance)
        secret = settings.mqtt_monitor_password
    else:
        username, secret = settings.mqtt_login, settings.mqtt_password
    password = secret.get_secret_value() if secret else None
    if password is None and settings.mqtt_credentials_file is not None:
        password = Credentials(settings.mqtt_credentials_file).password(username)
    ca_file = settings.mqtt_ca_file
    return BrokerEndpoint(
        settings.mqtt_host,
        settings.mqtt_port,
        username,
        password,
        # A CA file given with TLS left off is a slip: never fall back to plain text.
        tls=settings.mqtt_tls or ca_file is not None,
        ca_file=str(ca_file) if ca_file is not None else None,
    )


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
    if state.push is not None:
        # Before the dispatcher's index is updated: it tells the ETA before this commit.
        units.after_commit(state.push.after_commit)
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


def _follow_the_cluster(state: AppState) -> None:
    """What this instance does on taking or losing the lead, and on others' commits."""
    coordinator, dispatcher, relay = state.coordinator, state.dispatcher, state.relay

    async def on_leadership(leading: bool) -> None:
        await dispatcher.lead(leading)
        if relay is not None:
            await (relay.start() if leading else relay.stop())
        if leading and state.reconciler is not None and state.mqtt and state.mqtt.connected:
            state.reconciler.request()

    async def on_remote_change(change: RemoteChange) -> None:
        await dispatcher.refresh(change.reservations)
        for reservation_id in change.reservations or ():
            state.notifier.publish(reservation_id, {"id": str(reservation_id)})
        if change.outbox and relay is not None and coordinator.leader:
            relay.wake()

    coordinator.on_leadership(on_leadership)
    coordinator.on_remote_change(on_remote_change)


@asynccontextmanager
async def running(
    settings: ApiSettings, console: ConsoleSettings | None = None
) -> AsyncIterator[AppState]:
    """Everything the API runs, as one ``async with`` block (used by the lifespan)."""
    private_dir(settings.state_dir)
    url = settings.resolved_database_url()
    async with AsyncExitStack() as stack:
        # First: a second instance where only one may run stops here, before any work.
        coordinator = await stack.enter_async_context(
            coordinator_for(url, settings.instance, poll_s=settings.cluster_poll_s)
        )
        await coordinator.migrate(functools.partial(upgrade_schema, url))
        engine = make_async_engine(
            url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        async with sessions() as session:
            network = await NetworkView.load(session)
        topics = Topics(settings.mqtt_root)
        changes = Changes(topics, network)
        metrics = Metrics()
        units = UnitsOfWork(sessions, WriteGate(engine))
        units.before_commit(coordinator.before_commit)
        dispatcher = Dispatcher(
            settings=settings, units=units, changes=changes, network=network, metrics=metrics
        )
        dispatcher.leading = False  # until the coordinator says so
        changes.trip_of = dispatcher.trip_of
        # Loaded before the broker session opens: the server's session is persistent, and
        # events queued for it while it was away arrive as soon as it connects.
        await stack.enter_async_context(dispatcher)
        mqtt: MqttSession | None = None
        relay: OutboxRelay | None = None
        reconciler: Reconciler | None = None
        if settings.mqtt_enabled:
            options = SessionOptions(
                # The broker binds client ids to logins; asking for the same keeps the
                # session's name right on a broker that does not.
                client_id=settings.mqtt_login,
                root=settings.mqtt_root,
                status_topic=topics.server_status(settings.instance),
                version=VERSION,
            )
            endpoint = _mqtt_endpoint(settings)
            mqtt = await stack.enter_async_context(MqttSession(endpoint, options))
            mqtt.on_connection_change(lambda up: metrics.broker_connected.set(1 if up else 0))
            relay = OutboxRelay(sessions, mqtt, write_gate=units.gate)
            reconciler = Reconciler(
                topics=topics,
                units=units,
                changes=changes,
                endpoint=_mqtt_endpoint(settings, monitor=True),
            )
        web_push: WebPush | None = None
        if settings.push_enabled:
            web_push = await WebPush.start(
                settings=settings,
                sessions=sessions,
                units=units,
                network=lambda: changes.network,
                # A lambda: the dispatcher replaces its index when it takes the lead.
                before=lambda reservation_id: dispatcher.tracked.get(reservation_id),
            )
            await stack.enter_async_context(web_push)
        console = console or ConsoleSettings()
        devices = DeviceBoard(topics)
        feeds = TransitFeeds(
            settings=settings,
            dispatcher=dispatcher,
            network=lambda: changes.network,
            devices=devices,
            sessions=sessions,
            topics=topics,
            metrics=metrics,
        )
        state = AppState(
            settings=settings,
            console=console,
            engine=engine,
            sessions=sessions,
            unit_of_work=units,
            topics=topics,
            network=network,
            changes=changes,
            notifier=ReservationNotifier(),
            devices=devices,
            metrics=metrics,
            dispatcher=dispatcher,
            operator_token_hashes=frozenset(
                hash_token(t.get_secret_value()) for t in settings.operator_tokens
            ),
            mqtt=mqtt,
            relay=relay,
            reconciler=reconciler,
            operator_sessions=OperatorSessions(units, console),
            login_throttle=LoginThrottle(console),
            limits=client_limits(settings),
            coordinator=coordinator,
            push=web_push,
            feeds=feeds,
        )
        _listen_after_commit(state)
        state.voice.index(network)
        if mqtt is not None and relay is not None and reconciler is not None:
            await subscribe_all(state, mqtt)
            stack.push_async_callback(relay.stop)
            # After every connection of the leader (the first one included) the broker may
            # have lost or restored retained messages: put them back in step with the
            # database.
            await stack.enter_async_context(reconciler)
            mqtt.on_connection_change(
                lambda up: reconciler.request() if up and coordinator.leader else None
            )
        _follow_the_cluster(state)
        # Every instance polls the agency feeds into its own fleet view (docs/gtfs-rt.md).
        await stack.enter_async_context(feeds)
        await coordinator.join()
        duties = [asyncio.create_task(_watch_network(state), name="network-watch")]
        if engine.dialect.name == "sqlite":
            duties.append(asyncio.create_task(_checkpoints(state), name="sqlite-checkpoint"))
        stack.push_async_callback(cancel_and_wait, *duties)
        if settings.freeze_heap_at_start:
            gc.collect()
            gc.freeze()
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
        # Off in production (``api_docs``): a map of every route for whoever asks.
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    install_problem_handlers(app)
    install_page_limits(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # Added last, so run first: a cross-site request is refused before its body is read,
    # and every answer (the refusal, a 413, an error, a stream) carries the headers.
    app.add_middleware(
        OriginCheckMiddleware,
        trusted_origins=settings.trusted_origins,
        https=settings.behind_tls_proxy,
    )
    app.add_middleware(
        SecurityHeadersMiddleware,
        docs_paths=(app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url),
        https=settings.behind_tls_proxy,
    )
    app.include_router(riders.router)
    app.include_router(reservations.router)
    app.include_router(ops.router)
    app.include_router(network.router)
    app.include_router(voice.router)
    app.include_router(reports.router)
    app.include_router(push.router)
    app.include_router(gtfs_rt.router)
    app.include_router(web_router)
    app.include_router(console_router)

    @app.get("/healthz", tags=["system"], response_model=None)
    async def healthz(state: StateDep) -> dict[str, object] | JSONResponse:
        """Liveness, whether the broker is connected, and whether this instance leads.

        503 when the database does not answer within a second: a proxy then sends the
        requests to another instance."""
        try:
            async with asyncio.timeout(1.0), state.sessions() as session:
                await session.exec(select(1))
        except (TimeoutError, OSError, SQLAlchemyError) as exc:
            logger.warning("healthz: the database does not answer: %s", exc)
            return JSONResponse(
                {"status": "database unreachable", "instance": state.settings.instance},
                status_code=503,
            )
        return {
            "status": "ok",
            "instance": state.settings.instance,
            "leader": state.coordinator.leader,
            "broker_connected": bool(state.mqtt and state.mqtt.connected),
            "stops": len(state.network.stops),
        }

    @app.get("/metrics", tags=["system"], response_class=PlainTextResponse)
    async def metrics(state: StateDep, _operator: OperatorDep) -> Response:
        """Prometheus metrics, for operators: scrape with ``Authorization: Bearer <operator
        token>`` (docs/operations.md)."""
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
