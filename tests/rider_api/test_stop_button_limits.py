"""A stuck or hostile button at a stop cannot flood the operators: per-stop bounds.

The real API and the real Mosquitto; the presses are StopEvents published from the
stop's own login, as its gateway would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, func, select

from broker_config.messages import ButtonAction, StopEvent, utcnow
from broker_config.session import MqttSession
from broker_config.topics import Topics
from rider_api.models import Incident, ProcessedEvent, Reservation
from tests.conftest import ConnectFn
from tests.rider_api.conftest import ApiFactory, ApiServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(90)


class Stop:
    """A stop's login pressing buttons; remembers every event it sent."""

    def __init__(self, stop_id: str, session: MqttSession, topics: Topics) -> None:
        self.stop_id = stop_id
        self.session = session
        self.topics = topics
        self.sent: list[uuid.UUID] = []

    async def press(self, action: ButtonAction, times: int = 1, **fields: Any) -> None:
        for _ in range(times):
            event = StopEvent(id=uuid.uuid4(), action=action, at=utcnow(), **fields)
            await self.session.publish(self.topics.stop_events(self.stop_id), event, qos=1)
            self.sent.append(event.id)


async def _applied(api: ApiServer, ids: Iterable[uuid.UUID]) -> None:
    """Wait until the server has applied (recorded as processed) every one of ``ids``."""
    wanted = set(ids)

    async def count() -> int:
        async with api.state.sessions() as session:
            query = select(func.count()).where(col(ProcessedEvent.id).in_(wanted))
            return int((await session.exec(query)).one())

    await eventually(count, lambda n: n == len(wanted), what=f"{len(wanted)} events applied")


async def _help_incidents(api: ApiServer, stop_id: str) -> list[Incident]:
    async with api.state.sessions() as session:
        query = select(Incident).where(
            col(Incident.kind) == "help", col(Incident.stop_id) == stop_id
        )
        return list((await session.exec(query.order_by(col(Incident.id)))).all())


async def test_a_burst_of_help_presses_opens_one_incident_per_window(
    make_api: ApiFactory, connect: ConnectFn, topics: Topics
) -> None:
    api = await make_api(stop_help_window_s=60)
    s2 = Stop("S2", await connect("stop.S2"), topics)
    s3 = Stop("S3", await connect("stop.S3"), topics)

    await s2.press(ButtonAction.HELP, 20)
    await _applied(api, s2.sent)  # every press acknowledged and recorded ...
    (first,) = await _help_incidents(api, "S2")  # ... one incident
    # The window is per stop: another stop's call for help is its own incident.
    await s3.press(ButtonAction.HELP)
    await _applied(api, s3.sent)
    assert len(await _help_incidents(api, "S3")) == 1

    # The window is the stop's last help incident's age: move it past the window.
    async with api.state.unit_of_work() as uow:
        incident = await uow.session.get(Incident, first.id)
        assert incident is not None
        incident.at = incident.at - timedelta(seconds=61)
    await s2.press(ButtonAction.HELP, 3)
    await _applied(api, s2.sent)
    incidents = await _help_incidents(api, "S2")
    assert incidents[0].id == first.id
    assert len(incidents) == 2


async def test_without_a_window_every_help_press_is_an_incident(
    make_api: ApiFactory, connect: ConnectFn, topics: Topics
) -> None:
    api = await make_api(stop_help_window_s=0)
    s2 = Stop("S2", await connect("stop.S2"), topics)
    await s2.press(ButtonAction.HELP, 3)
    await _applied(api, s2.sent)
    assert len(await _help_incidents(api, "S2")) == 3


async def test_book_presses_are_bounded_by_the_stops_booking_limits(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    """Each stop books as its own rider (one per language): the rider limits bound it."""
    assert api.state.settings.max_bookings_per_minute_per_rider == 10
    s2 = Stop("S2", await connect("stop.S2"), topics)
    book: dict[str, Any] = {"route_id": "R1", "direction_id": 0}

    async def at_s2() -> list[Reservation]:
        async with api.state.sessions() as session:
            query = select(Reservation).where(col(Reservation.stop_id) == "S2")
            return list((await session.exec(query)).all())

    # A stuck book button: one booking (one per route and stop); the rest are refused.
    await s2.press(ButtonAction.BOOK, 20, **book)
    await _applied(api, s2.sent)
    assert len(await at_s2()) == 1
    # Book and cancel, again and again: at most 10 bookings a minute.
    await s2.press(ButtonAction.CANCEL)
    for _ in range(12):
        await s2.press(ButtonAction.BOOK, **book)
        await s2.press(ButtonAction.CANCEL)
    await _applied(api, s2.sent)
    booked = await at_s2()
    assert len(booked) == 10
    assert {r.status for r in booked} == {"cancelled"}
    # The limits are per language: the stop's English rider has its own.
    await s2.press(ButtonAction.BOOK, lang="en", **book)
    await _applied(api, s2.sent)
    assert len(await at_s2()) == 11
