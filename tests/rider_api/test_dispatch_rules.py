"""The dispatch rules of docs/dispatch.md, one test per table row (pure: no broker, no database).

Each parametrised case is named after its row (``row/variant`` where a row has several
cases). The network: route R, direction 0 runs A -> B -> C -> D (direction 1 back) on a
line of longitude; trip T arrives at stop i at i * 120 s and leaves 20 s later. The
booked stop is C unless a row says otherwise, so from A (stopped) the ETA is 220 s,
from B (stopped) 100 s, and halfway between B and C (incoming at C) 50 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.messages import (
    Localized,
    ReservationStatus,
    VehiclePosition,
    VehicleStopStatus,
)
from broker_config.topics import Topics
from rider_api.core.metrics import Metrics
from rider_api.db.engine import WriteGate
from rider_api.db.unit_of_work import UnitOfWork, UnitsOfWork
from rider_api.dispatch.dispatcher import Dispatcher, snapshot
from rider_api.dispatch.fleet import VehicleState
from rider_api.dispatch.rules import (
    SERVICE_END_GRACE_S,
    Action,
    ActionKind,
    Tracked,
    assigned_rule,
    assignment_rule,
    cannot_stop_rule,
    eta_changed,
    service_day_end,
    timer_due,
    timer_rule,
    waiting_rule,
)
from rider_api.models import Incident, Reservation
from rider_api.network.view import DirectionInfo, NetworkView, StopInfo, TripInfo, TripStop
from rider_api.reservations.changes import Changes
from rider_api.reservations.lifecycle import IllegalTransitionError
from rider_api.settings import ApiSettings

S = ReservationStatus
K = ActionKind
STATUS = VehicleStopStatus
ORDER = ("A", "B", "C", "D")
LAT = {"A": 25.00, "B": 25.01, "C": 25.02, "D": 25.03}
LON = 121.5
RID = uuid.UUID("00000000-0000-4000-8000-000000000001")
NOW = dt.datetime(2024, 5, 6, 4, 0, tzinfo=dt.UTC)
NOON_S = 12 * 3600
THRESHOLD_S, WARNING_S, ACK_TIMEOUT_S = 30, 60, 45.0


def make_network() -> NetworkView:
    net = NetworkView()
    for sid, lat in LAT.items():
        net.stops[sid] = StopInfo(sid, Localized.same(sid), None, lat, LON)
    for d, order in ((0, ORDER), (1, ORDER[::-1])):
        net.directions[("R", d)] = DirectionInfo(
            "R", d, Localized.same(order[-1]), order, {s: i for i, s in enumerate(order)}
        )
    stops = tuple(TripStop(i + 1, sid, i * 120, i * 120 + 20, None) for i, sid in enumerate(ORDER))
    net.trips["T"] = TripInfo("T", "R", 0, "ALL", stops)
    net.trips_by_direction[("R", 0)] = ["T"]
    return net


NET = make_network()


def bus(
    stop_id: str,
    status: VehicleStopStatus = STATUS.STOPPED_AT,
    *,
    vid: str = "V1",
    direction_id: Literal[0, 1] = 0,
    ts: float = 1000.0,
    lat: float | None = None,
    trip_id: str | None = "T",
) -> VehicleState:
    """A vehicle's state as the fleet view holds it after this position."""
    order = ORDER if direction_id == 0 else ORDER[::-1]
    pos = VehiclePosition(
        route_id="R",
        direction_id=direction_id,
        trip_id=trip_id if direction_id == 0 else None,
        lat=LAT[stop_id] if lat is None else lat,
        lon=LON,
        stop_id=stop_id,
        current_stop_sequence=order.index(stop_id) + 1,
        current_status=status,
        timestamp=ts,
    )
    return VehicleState(vid, pos, order.index(stop_id), 0.0)


def res(
    status: ReservationStatus = S.ASSIGNED,
    *,
    vehicle_id: str | None = "V1",
    stop_id: str = "C",
    destination: str | None = None,
    eta_s: int | None = None,
    expires_at: dt.datetime = NOW + dt.timedelta(hours=1),
    alerted_at: dt.datetime | None = None,
    ack_overdue: bool = False,
    excluded: frozenset[str] = frozenset(),
) -> Tracked:
    return Tracked(
        RID,
        status,
        stop_id,
        "R",
        0,
        destination,
        vehicle_id,
        eta_s,
        expires_at,
        alerted_at,
        None,
        ack_overdue,
        excluded,
    )


def act(kind: ActionKind, cause: str, vehicle_id: str | None = "V1", **kw: Any) -> Action:
    return Action(kind, RID, cause, vehicle_id, **kw)


# -- assigned rule: a position of the reservation's own bus ---------------------------------
ASSIGNED_ROWS = [
    pytest.param(
        res(S.ACKNOWLEDGED),
        bus("B", direction_id=1),
        act(K.OFF_ROUTE, "bus V1 now runs another route or direction", reason="left"),
        id="off-route-pickup",
    ),
    pytest.param(
        res(S.RIDING, stop_id="A", destination="D"),
        bus("C", direction_id=1),
        act(K.TRIP_OVER, "bus V1 finished the trip"),
        id="off-route-riding",
    ),
    pytest.param(res(S.BOARDED), bus("C", direction_id=1), None, id="off-route-other"),
    pytest.param(
        res(S.ARRIVING),
        bus("D", STATUS.IN_TRANSIT_TO),
        act(K.MISSED, "bus V1 left the stop without a boarding", reason="left"),
        id="passed-the-stop",
    ),
    pytest.param(
        res(S.ARRIVING),
        bus("C"),
        act(K.AT_STOP, "bus V1 is at the stop", eta_s=0),
        id="at-the-stop/arriving",
    ),
    pytest.param(
        res(S.ASSIGNED),
        bus("C"),
        act(K.AT_STOP, "bus V1 is at the stop", eta_s=0),
        id="at-the-stop/assigned",
    ),
    pytest.param(res(S.AT_STOP), bus("C"), None, id="already-at-the-stop"),
    pytest.param(
        res(S.ASSIGNED),
        bus("C", STATUS.INCOMING_AT, lat=25.015),
        act(K.ARRIVING, "bus V1 is arriving", eta_s=50),
        id="arriving-at-the-stop",
    ),
    pytest.param(
        res(S.ACKNOWLEDGED),
        bus("B"),
        act(K.ARRIVING, "bus V1 is arriving", eta_s=100),
        id="arriving-one-stop-before",
    ),
    pytest.param(
        res(S.ASSIGNED, eta_s=None),
        bus("A"),
        act(K.ETA, "bus V1: new ETA", eta_s=220),
        id="eta-changed",
    ),
    pytest.param(
        res(S.ARRIVING, eta_s=100),
        bus("C", STATUS.INCOMING_AT, lat=25.015),
        act(K.ETA, "bus V1: new ETA", eta_s=50),
        id="eta-changed/arriving-at-the-stop",
    ),
    pytest.param(res(S.ASSIGNED, eta_s=230), bus("A"), None, id="eta-unchanged"),
    pytest.param(
        res(S.RIDING, stop_id="A", destination="C"),
        bus("D", STATUS.INCOMING_AT),
        act(K.LEFT_DESTINATION, "bus V1 left the destination"),
        id="left-destination",
    ),
    pytest.param(
        res(S.ALIGHTING, stop_id="B", destination="D"),
        bus("A"),
        act(K.LEFT_DESTINATION, "bus V1 left the destination"),
        id="next-trip-after-destination",
    ),
    pytest.param(
        res(S.RIDING, stop_id="A", destination="D"),
        bus("C"),
        act(K.APPROACH_DESTINATION, "bus V1 is approaching the destination"),
        id="approaching-destination/one-stop-before",
    ),
    pytest.param(
        res(S.RIDING, stop_id="A", destination="D"),
        bus("D", STATUS.INCOMING_AT),
        act(K.APPROACH_DESTINATION, "bus V1 is approaching the destination"),
        id="approaching-destination/at-it",
    ),
    pytest.param(
        res(S.RIDING, stop_id="A", destination="D"), bus("B"), None, id="riding-on/riding"
    ),
    pytest.param(
        res(S.ALIGHTING, stop_id="A", destination="D"),
        bus("D"),
        None,
        id="riding-on/alighting-at-it",
    ),
]


@pytest.mark.parametrize(("tracked", "vehicle", "expected"), ASSIGNED_ROWS)
def test_assigned_rule(tracked: Tracked, vehicle: VehicleState, expected: Action | None) -> None:
    got = assigned_rule(tracked, vehicle, NET, eta_refresh_threshold_s=THRESHOLD_S)
    assert got == expected


# -- refresh rule ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "refresh"),
    [
        pytest.param(None, 100, True, id="appeared"),
        pytest.param(100, None, True, id="disappeared"),
        pytest.param(100, 130, True, id="changed-by-threshold/up"),
        pytest.param(130, 100, True, id="changed-by-threshold/down"),
        pytest.param(310, 295, True, id="crossed-5-min"),
        pytest.param(185, 175, True, id="crossed-3-min"),
        pytest.param(65, 55, True, id="crossed-1-min"),
        pytest.param(295, 310, False, id="up-across-a-mark"),
        pytest.param(100, 110, False, id="small-change"),
        pytest.param(None, None, False, id="small-change/none-to-none"),
    ],
)
def test_refresh_rule(old: int | None, new: int | None, refresh: bool) -> None:
    assert eta_changed(old, new, THRESHOLD_S) is refresh


# -- waiting rule: a position of another bus on the route ------------------------------------
#: V1 stopped at A (220 s from C), V2 stopped at B (100 s).
FLEET = (bus("A"), bus("B", vid="V2"))
ASSIGN_V2 = Action(
    K.ASSIGN, RID, "bus V2 assigned, about 1 min away", "V2", eta_s=100, stop_sequence=3
)
ASSIGN_V1 = Action(
    K.ASSIGN, RID, "bus V1 assigned, about 3 min away", "V1", eta_s=220, stop_sequence=3
)


@pytest.mark.parametrize(
    ("tracked", "vehicle", "expected"),
    [
        pytest.param(res(S.ASSIGNED, vehicle_id="V2"), bus("A"), None, id="not-waiting"),
        pytest.param(
            res(S.PENDING, vehicle_id=None), bus("B", direction_id=1), None, id="other-route"
        ),
        pytest.param(res(S.MISSED), bus("A"), None, id="missed-by-this-vehicle"),
        pytest.param(
            res(S.PENDING, vehicle_id=None, excluded=frozenset({"V1"})),
            bus("A"),
            None,
            id="excluded-vehicle",
        ),
        pytest.param(res(S.PENDING, vehicle_id=None), bus("D"), None, id="passed-the-stop"),
        pytest.param(
            res(S.PENDING, vehicle_id=None), bus("C"), None, id="passed-the-stop/stopped-at-it"
        ),
        # V1 reports, but V2 is the better bus: the choice runs over all candidates.
        pytest.param(res(S.PENDING, vehicle_id=None), bus("A"), ASSIGN_V2, id="could-take-it"),
        pytest.param(
            res(S.MISSED, vehicle_id="V3"), bus("A"), ASSIGN_V2, id="could-take-it/missed"
        ),
    ],
)
def test_waiting_rule(tracked: Tracked, vehicle: VehicleState, expected: Action | None) -> None:
    assert waiting_rule(tracked, vehicle, NET, FLEET, warning_s=WARNING_S) == expected


# -- assignment rule -----------------------------------------------------------------------------
PENDING = res(S.PENDING, vehicle_id=None)


@pytest.mark.parametrize(
    ("tracked", "candidates", "warning_s", "expected"),
    [
        pytest.param(res(S.ASSIGNED), FLEET, WARNING_S, None, id="not-waiting"),
        pytest.param(PENDING, FLEET, WARNING_S, ASSIGN_V2, id="smallest-eta-with-warning"),
        pytest.param(
            PENDING, FLEET, 150, ASSIGN_V1, id="smallest-eta-with-warning/too-near-skipped"
        ),
        pytest.param(
            PENDING,
            (bus("B", vid="V2", trip_id=None),),
            WARNING_S,
            replace(ASSIGN_V2, stop_sequence=2),
            id="smallest-eta-with-warning/no-trip-place-in-route",
        ),
        pytest.param(PENDING, FLEET, 300, ASSIGN_V2, id="nearest-when-none-leaves-warning"),
        pytest.param(
            PENDING,
            (bus("B", ts=1000.0), bus("B", vid="V2", ts=2000.0)),
            WARNING_S,
            ASSIGN_V2,
            id="equal-eta-fresher-wins",
        ),
        pytest.param(
            res(S.PENDING, vehicle_id=None, excluded=frozenset({"V2"})),
            FLEET,
            WARNING_S,
            ASSIGN_V1,
            id="excluded-not-chosen",
        ),
        pytest.param(
            res(S.MISSED, vehicle_id="V2"), FLEET, WARNING_S, ASSIGN_V1, id="just-missed-not-chosen"
        ),
        pytest.param(
            PENDING, (bus("A"), bus("C", vid="V3")), 300, ASSIGN_V1, id="passed-not-chosen"
        ),
        pytest.param(PENDING, (), WARNING_S, None, id="no-candidate-pending"),
        pytest.param(
            PENDING, (bus("D", vid="V3"),), WARNING_S, None, id="no-candidate-pending/passed"
        ),
        pytest.param(
            res(S.MISSED, vehicle_id="V2"),
            (bus("B", vid="V2"),),
            WARNING_S,
            act(K.REQUEUE, "no other bus approaching: waiting", None),
            id="no-candidate-missed",
        ),
    ],
)
def test_assignment_rule(
    tracked: Tracked, candidates: Sequence[VehicleState], warning_s: int, expected: Action | None
) -> None:
    assert assignment_rule(tracked, candidates, NET, warning_s=warning_s) == expected


# -- timer rule ----------------------------------------------------------------------------------
EXPIRED = act(K.EXPIRE, "not served within its lifetime", None)
OVERDUE = act(K.ACK_OVERDUE, "driver has not acknowledged: alert re-sent")
SERVICE_ENDED = act(K.SERVICE_ENDED, "service ended for the day", None)
ALERTED = NOW - dt.timedelta(seconds=ACK_TIMEOUT_S)


END = NOW - dt.timedelta(seconds=300)  # the last bus of the booking's service day


@pytest.mark.parametrize(
    ("tracked", "service_end", "expected"),
    [
        pytest.param(
            res(S.PENDING, vehicle_id=None, expires_at=NOW), None, EXPIRED, id="expired/pending"
        ),
        pytest.param(
            res(S.AT_STOP, expires_at=NOW),
            None,
            replace(EXPIRED, vehicle_id="V1"),
            id="expired/at-stop",
        ),
        pytest.param(
            res(S.RIDING, destination="D", expires_at=NOW - dt.timedelta(hours=1)),
            None,
            None,
            id="riding-never-expires",
        ),
        pytest.param(res(S.ASSIGNED, alerted_at=ALERTED), None, OVERDUE, id="ack-overdue"),
        pytest.param(
            res(S.ASSIGNED, alerted_at=ALERTED, ack_overdue=True),
            None,
            None,
            id="ack-already-flagged",
        ),
        pytest.param(
            res(S.ASSIGNED, alerted_at=ALERTED + dt.timedelta(seconds=1)),
            None,
            None,
            id="ack-not-due",
        ),
        pytest.param(
            res(S.PENDING, vehicle_id=None),
            END - dt.timedelta(seconds=1),
            SERVICE_ENDED,
            id="service-ended",
        ),
        pytest.param(res(S.PENDING, vehicle_id=None), END, None, id="service-not-ended"),
        pytest.param(res(S.PENDING, vehicle_id=None), None, None, id="no-service"),
    ],
)
def test_timer_rule(
    tracked: Tracked, service_end: dt.datetime | None, expected: Action | None
) -> None:
    got = timer_rule(
        tracked,
        now=NOW,
        ack_timeout_s=ACK_TIMEOUT_S,
        service_end=lambda _res: service_end,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("tracked", "service_end"),
    [
        pytest.param(res(S.PENDING, vehicle_id=None), None, id="pending/expiry"),
        pytest.param(res(S.PENDING, vehicle_id=None), END, id="pending/service-end"),
        pytest.param(
            res(S.PENDING, vehicle_id=None), NOW + dt.timedelta(hours=2), id="pending/expiry-first"
        ),
        pytest.param(res(S.ASSIGNED, alerted_at=ALERTED), None, id="assigned/ack"),
        pytest.param(
            res(S.ASSIGNED, alerted_at=ALERTED, ack_overdue=True), None, id="assigned/flagged"
        ),
        pytest.param(res(S.ASSIGNED), None, id="assigned/not-alerted"),
        pytest.param(res(S.ARRIVING, alerted_at=ALERTED), None, id="arriving"),
        pytest.param(res(S.RIDING, destination="D"), None, id="riding"),
    ],
)
def test_timer_due_is_the_first_moment_the_timer_rule_acts(
    tracked: Tracked, service_end: dt.datetime | None
) -> None:
    def rule(at: dt.datetime) -> Action | None:
        return timer_rule(
            tracked, now=at, ack_timeout_s=ACK_TIMEOUT_S, service_end=lambda _r: service_end
        )

    due = timer_due(tracked, ack_timeout_s=ACK_TIMEOUT_S, service_end=lambda _r: service_end)
    if due is None:
        assert rule(NOW + dt.timedelta(days=3650)) is None
        return
    assert rule(due - dt.timedelta(microseconds=1)) is None
    assert rule(due) is not None


class Departures:
    """A timetable: the last departure at the stop per day of the week (Monday 0)."""

    def __init__(self, by_weekday: dict[int, int]) -> None:
        self.by_weekday = by_weekday

    def last_departure_s(
        self, route_id: str, direction_id: int, stop_id: str, day: dt.date
    ) -> int | None:
        return self.by_weekday.get(day.weekday())


TAIPEI = dt.timezone(dt.timedelta(hours=8))
H = 3600


def local(day: int, hour: float) -> dt.datetime:
    """May 2024: the 6th is a Monday."""
    return dt.datetime(2024, 5, day, tzinfo=TAIPEI) + dt.timedelta(hours=hour)


@pytest.mark.parametrize(
    ("departures", "booked_at", "expected"),
    [
        pytest.param({0: 22 * H}, local(6, 20), local(6, 22), id="service-day/same-day"),
        pytest.param(
            {0: 25 * H + 1800, 1: 25 * H + 1800},
            local(6, 23),
            local(7, 1.5),
            id="service-day/last-bus-after-midnight",
        ),
        pytest.param(
            {0: 25 * H + 1800, 1: 25 * H + 1800},
            local(7, 1),
            local(7, 1.5),
            id="service-day/booked-after-midnight-before-yesterdays-last-bus",
        ),
        pytest.param(
            {0: 25 * H + 1800, 1: 25 * H + 1800},
            local(7, 2),
            local(8, 1.5),
            id="service-day/booked-after-yesterdays-last-bus",
        ),
        pytest.param({1: 22 * H}, local(6, 20), None, id="service-day/no-service"),
    ],
)
def test_service_day_end(
    departures: dict[int, int], booked_at: dt.datetime, expected: dt.datetime | None
) -> None:
    got = service_day_end(Departures(departures), TAIPEI, booked_at, "R", 0, "C")
    assert got == expected


def test_a_booking_before_midnight_ends_after_the_last_bus_past_midnight() -> None:
    """The case that stayed active before: last bus at 25:30, checked at 01:36."""
    timetable = Departures({0: 25 * H + 1800, 1: 25 * H + 1800})
    booking = replace(res(S.PENDING, vehicle_id=None), created_at=local(6, 23))

    def end(r: Tracked) -> dt.datetime | None:
        assert r.created_at is not None
        return service_day_end(timetable, TAIPEI, r.created_at, "R", 0, "C")

    at = local(7, 1.5) + dt.timedelta(seconds=SERVICE_END_GRACE_S + 60)
    later = replace(booking, expires_at=at + dt.timedelta(hours=1))
    got = timer_rule(later, now=at, ack_timeout_s=ACK_TIMEOUT_S, service_end=end)
    assert got == SERVICE_ENDED
    not_yet = timer_rule(later, now=local(7, 1.4), ack_timeout_s=ACK_TIMEOUT_S, service_end=end)
    assert not_yet is None


# -- driver taps ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reason", "code"),
    [
        pytest.param("bus_full", "bus_full", id="cannot-stop"),
        pytest.param(None, "other", id="cannot-stop/no-reason"),
    ],
)
def test_cannot_stop_rule(reason: str | None, code: str) -> None:
    expected = act(K.MISSED, f"driver cannot stop: {code}", reason=code)
    assert cannot_stop_rule(RID, "V1", reason) == expected


# -- applying an Action (a real dispatcher and Changes, a session that only collects rows) --------
class CollectingSession:
    def __init__(self) -> None:
        self.added: list[object] = []

    def add(self, row: object) -> None:
        self.added.append(row)


@pytest.fixture
def dispatcher(tmp_path: Path) -> Dispatcher:
    engine = create_async_engine("sqlite+aiosqlite://")  # never connected
    return Dispatcher(
        settings=ApiSettings(state_dir=tmp_path, mqtt_enabled=False),
        units=UnitsOfWork(async_sessionmaker(engine, class_=AsyncSession), WriteGate(engine)),
        changes=Changes(Topics(), NET),
        network=NET,
        metrics=Metrics(),
    )


def stored(status: ReservationStatus, **kw: Any) -> Reservation:
    values: dict[str, Any] = {
        "id": RID,
        "rider_id": uuid.uuid4(),
        "stop_id": "C",
        "route_id": "R",
        "direction_id": 0,
        "status": status,
        "expires_at": NOW + dt.timedelta(hours=1),
        "vehicle_id": "V1",
    }
    return Reservation(**(values | kw))


def unit_of_work() -> tuple[UnitOfWork, CollectingSession]:
    session = CollectingSession()
    return UnitOfWork(cast(AsyncSession, session)), session


def history(uow: UnitOfWork) -> list[tuple[str, str]]:
    return [(new.value, cause) for _res, _old, new, cause in uow.changes.history]


def incidents(session: CollectingSession) -> list[tuple[str, str | None, str | None]]:
    return [(i.kind, i.vehicle_id, i.reason) for i in session.added if isinstance(i, Incident)]


@pytest.mark.parametrize(
    ("kind", "before", "after"),
    [
        pytest.param(K.APPROACH_DESTINATION, S.RIDING, S.ALIGHTING, id="APPROACH_DESTINATION"),
        pytest.param(K.TRIP_OVER, S.RIDING, S.COMPLETED, id="TRIP_OVER"),
        pytest.param(K.LEFT_DESTINATION, S.ALIGHTING, S.COMPLETED, id="LEFT_DESTINATION"),
        pytest.param(K.EXPIRE, S.PENDING, S.EXPIRED, id="EXPIRE"),
        pytest.param(K.SERVICE_ENDED, S.PENDING, S.EXPIRED, id="SERVICE_ENDED"),
    ],
)
async def test_apply_transition(
    dispatcher: Dispatcher, kind: ActionKind, before: ReservationStatus, after: ReservationStatus
) -> None:
    r = stored(before, destination_stop_id="D")
    uow, _ = unit_of_work()
    await dispatcher.apply(uow, r, act(kind, "the cause"))
    assert history(uow) == [(after.value, "the cause")]


@pytest.mark.parametrize(
    ("kind", "before", "after", "eta_s"),
    [
        pytest.param(K.ARRIVING, S.ACKNOWLEDGED, S.ARRIVING, 50, id="ARRIVING"),
        pytest.param(K.AT_STOP, S.ARRIVING, S.AT_STOP, 0, id="AT_STOP"),
    ],
)
async def test_apply_transition_with_its_eta(
    dispatcher: Dispatcher,
    kind: ActionKind,
    before: ReservationStatus,
    after: ReservationStatus,
    eta_s: int,
) -> None:
    r = stored(before, eta_s=120)
    uow, _ = unit_of_work()
    await dispatcher.apply(uow, r, act(kind, "the cause", eta_s=eta_s))
    assert history(uow) == [(after.value, "the cause")]
    assert r.eta_s == eta_s


async def test_apply_eta_refreshes_without_a_transition(dispatcher: Dispatcher) -> None:
    r = stored(S.ASSIGNED, eta_s=None)
    uow, _ = unit_of_work()
    await dispatcher.apply(uow, r, act(K.ETA, "bus V1: new ETA", eta_s=220))
    assert (r.status, r.eta_s, history(uow)) == (S.ASSIGNED, 220, [])
    assert uow.changes.outbox
    assert RID in uow.changes.touched


async def test_apply_assign(dispatcher: Dispatcher) -> None:
    r = stored(S.PENDING, vehicle_id=None)
    uow, _ = unit_of_work()
    await dispatcher.apply(uow, r, ASSIGN_V2)
    assert history(uow) == [("assigned", "bus V2 assigned, about 1 min away")]
    assert (r.vehicle_id, r.eta_s, r.stop_sequence) == ("V2", 100, 3)
    assert r.alerted_at is not None


async def test_apply_assign_skips_a_reservation_no_longer_waiting(dispatcher: Dispatcher) -> None:
    r = stored(S.ASSIGNED)
    uow, _ = unit_of_work()
    await dispatcher.apply(uow, r, ASSIGN_V2)
    assert (r.vehicle_id, history(uow)) == ("V1", [])


async def test_apply_requeue(dispatcher: Dispatcher) -> None:
    r = stored(S.MISSED)
    uow, _ = unit_of_work()
    await dispatcher.apply(uow, r, act(K.REQUEUE, "no other bus approaching: waiting", None))
    assert history(uow) == [("pending", "no other bus approaching: waiting")]
    assert r.vehicle_id is None


@pytest.mark.parametrize("kind", [K.MISSED, K.OFF_ROUTE], ids=["MISSED", "OFF_ROUTE"])
async def test_apply_miss_records_excludes_and_requeues(
    dispatcher: Dispatcher, kind: ActionKind
) -> None:
    r = stored(S.ARRIVING)
    uow, session = unit_of_work()
    await dispatcher.apply(uow, r, act(kind, "bus V1 left", reason="left"))
    assert history(uow) == [
        ("missed", "bus V1 left"),
        ("pending", "no other bus approaching: waiting"),
    ]
    assert (r.reason, r.missed_count, r.vehicle_id) == ("left", 1, None)
    assert incidents(session) == [("missed", "V1", "left")]
    assert dispatcher.tracked[RID].excluded == {"V1"}


async def test_apply_miss_alerts_the_next_bus_in_the_same_transaction(
    dispatcher: Dispatcher,
) -> None:
    for vehicle in (bus("D", STATUS.IN_TRANSIT_TO), bus("B", vid="V2")):
        dispatcher.fleet.update(vehicle.vehicle_id, vehicle.position, now=time.monotonic())
    r = stored(S.ASSIGNED)
    uow, _ = unit_of_work()
    await dispatcher.apply(uow, r, act(K.MISSED, "bus V1 left", reason="left"))
    assert history(uow) == [
        ("missed", "bus V1 left"),
        ("assigned", "bus V2 assigned, about 1 min away"),
    ]
    assert (r.vehicle_id, r.reason) == ("V2", "left")


async def test_apply_ack_overdue_flags_once_and_records(dispatcher: Dispatcher) -> None:
    r = stored(S.ASSIGNED)
    uow, session = unit_of_work()
    await dispatcher.apply(uow, r, OVERDUE)
    assert (r.ack_overdue, history(uow)) == (True, [])
    assert incidents(session) == [("unacknowledged", "V1", None)]
    assert uow.changes.outbox


async def test_apply_ack_overdue_skips_a_reservation_no_longer_assigned(
    dispatcher: Dispatcher,
) -> None:
    r = stored(S.ARRIVING)
    uow, session = unit_of_work()
    await dispatcher.apply(uow, r, OVERDUE)
    assert (r.ack_overdue, incidents(session), uow.changes.outbox) == (False, [], False)


async def test_apply_raises_when_the_stored_status_no_longer_allows_it(
    dispatcher: Dispatcher,
) -> None:
    uow, _ = unit_of_work()
    with pytest.raises(IllegalTransitionError):
        await dispatcher.apply(uow, stored(S.RIDING), act(K.ARRIVING, "late", eta_s=30))


# -- deciding from the in-memory views ---------------------------------------------------------
def test_a_position_decides_for_its_own_and_the_waiting_reservations(
    dispatcher: Dispatcher,
) -> None:
    own = stored(S.ACKNOWLEDGED)
    waiting = stored(S.PENDING, id=uuid.uuid4(), vehicle_id=None, stop_id="D")
    for r in (own, waiting):
        dispatcher._put(snapshot(r))
    vehicle = dispatcher.fleet.update("V1", bus("B").position, now=time.monotonic())
    assert vehicle is not None
    actions = dispatcher.decide(vehicle)
    assert [(a.kind, a.reservation_id, a.vehicle_id, a.eta_s) for a in actions] == [
        (K.ARRIVING, RID, "V1", 100),
        (K.ASSIGN, waiting.id, "V1", 220),
    ]


# -- the timers: only what is due --------------------------------------------------------------
def _assigned(alerted_at: dt.datetime) -> Tracked:
    return replace(res(S.ASSIGNED, alerted_at=alerted_at), id=uuid.uuid4())


async def test_a_tick_acts_on_the_due_reservations_only_and_again_on_a_failure(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher.settings.ack_timeout_s = ACK_TIMEOUT_S
    due = [_assigned(ALERTED) for _ in range(3)]
    later = [_assigned(NOW) for _ in range(500)]
    for tracked in [*later, *due]:
        dispatcher._put(tracked)
    looked_at: list[uuid.UUID] = []
    real_rule = timer_rule

    def counting_rule(tracked: Tracked, **kw: Any) -> Action | None:
        looked_at.append(tracked.id)
        return real_rule(tracked, **kw)

    acted: list[uuid.UUID] = []
    failing = due[0].id

    async def act(action: Action) -> None:
        acted.append(action.reservation_id)
        if action.reservation_id == failing:
            raise RuntimeError("the database went away")
        dispatcher._put(replace(dispatcher.tracked[action.reservation_id], ack_overdue=True))

    monkeypatch.setattr("rider_api.dispatch.rules.timer_rule", counting_rule)
    monkeypatch.setattr(dispatcher, "act", act)
    await dispatcher.tick(NOW)
    assert sorted(looked_at) == sorted(t.id for t in due)  # not the 500 not yet due
    assert sorted(acted) == sorted(t.id for t in due)
    # The failed one is looked at a second later; the flagged ones are done.
    looked_at.clear()
    acted.clear()
    await dispatcher.tick(NOW + dt.timedelta(seconds=0.5))
    assert acted == []
    await dispatcher.tick(NOW + dt.timedelta(seconds=1))
    assert acted == [failing]


async def test_a_tick_judges_a_reservation_by_its_latest_snapshot(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher.settings.ack_timeout_s = ACK_TIMEOUT_S
    first = _assigned(ALERTED)
    dispatcher._put(first)
    dispatcher._put(replace(first, alerted_at=NOW))  # re-alerted since: due 45 s later
    acted: list[Action] = []

    async def act(action: Action) -> None:
        acted.append(action)
        dispatcher._drop(action.reservation_id)

    monkeypatch.setattr(dispatcher, "act", act)
    await dispatcher.tick(NOW)
    assert acted == []
    await dispatcher.tick(NOW + dt.timedelta(seconds=ACK_TIMEOUT_S))
    assert [a.kind for a in acted] == [K.ACK_OVERDUE]
    for _ in range(200):  # stale entries do not pile up
        dispatcher._put(replace(first, alerted_at=NOW))
    assert len(dispatcher._due) <= 2 * len(dispatcher.tracked) + 64


async def test_a_burst_of_actions_lets_waiting_work_in_between(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One position can imply dozens of actions; a rider's request that arrives meanwhile
    is not kept waiting for all of them, even where a unit of work never suspends."""
    order: list[str] = []

    class Stored(CollectingSession):
        async def get(self, _model: object, rid: uuid.UUID, **_kw: object) -> Reservation:
            return stored(S.ACKNOWLEDGED, id=rid)

    @contextlib.asynccontextmanager
    async def units() -> AsyncIterator[UnitOfWork]:  # as on SQLite: no suspension
        yield UnitOfWork(cast(AsyncSession, Stored()))
        order.append("action")

    async def request() -> None:
        order.append("request")

    burst = [act(K.ARRIVING, "bus V1 is arriving", eta_s=50) for _ in range(5)]
    burst = [replace(a, reservation_id=uuid.uuid4()) for a in burst]
    monkeypatch.setattr(dispatcher, "units", units)
    monkeypatch.setattr(dispatcher, "decide", lambda _vehicle: burst)
    waiting = asyncio.get_running_loop().create_task(request())
    await dispatcher.evaluate(bus("B"))
    await waiting
    assert order.count("action") == 5
    assert order[-1] == "action", order  # the request went in between, not after all
