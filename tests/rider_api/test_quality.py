"""Service quality of a scripted day equals the hand-computed figures."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from broker_config.messages import ReservationStatus
from rider_api.console.quality import (
    BookingRecord,
    HistoryEntry,
    IncidentRecord,
    compute_quality,
    percentile,
    quality_csv_text,
)
from rider_api.models import Incident, Reservation, ReservationEvent
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer

S = ReservationStatus
TPE = ZoneInfo("Asia/Taipei")
OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def at(hhmmss: str, day: int = 10) -> datetime:
    """A Taipei local time on 2025-03-{day}, as an aware UTC datetime."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return datetime(2025, 3, day, h, m, s, tzinfo=TPE).astimezone(UTC)


# (name, route, final status, vehicle, created, [(status, time)...])
DAY: list[tuple[str, str, S, str | None, datetime, list[tuple[S, datetime]]]] = [
    ("A", "R1", S.COMPLETED, "V1", at("08:05:00"), [
        (S.PENDING, at("08:05:00")), (S.ASSIGNED, at("08:05:10")),
        (S.ACKNOWLEDGED, at("08:05:40")), (S.AT_STOP, at("08:11:00")),
        (S.BOARDED, at("08:12:00")), (S.COMPLETED, at("08:30:00")),
    ]),
    ("B", "R1", S.COMPLETED, "V2", at("08:20:00"), [
        (S.PENDING, at("08:20:00")), (S.ASSIGNED, at("08:20:05")),
        (S.ACKNOWLEDGED, at("08:21:05")), (S.MISSED, at("08:25:00")),
        (S.ASSIGNED, at("08:25:10")), (S.ACKNOWLEDGED, at("08:25:20")),
        (S.AT_STOP, at("08:31:00")), (S.BOARDED, at("08:31:30")),
        (S.COMPLETED, at("08:50:00")),
    ]),
    ("C", "R1", S.NO_SHOW, "V2", at("09:10:00"), [
        (S.PENDING, at("09:10:00")), (S.ASSIGNED, at("09:10:00")),
        (S.ACKNOWLEDGED, at("09:12:00")), (S.AT_STOP, at("09:14:00")),
        (S.NO_SHOW, at("09:15:00")),
    ]),
    ("D", "R2", S.CANCELLED, None, at("09:30:00"), [
        (S.PENDING, at("09:30:00")), (S.CANCELLED, at("09:31:00")),
    ]),
    ("E", "R2", S.EXPIRED, "V3", at("17:00:00"), [
        (S.PENDING, at("17:00:00")), (S.ASSIGNED, at("17:00:00")),
        (S.MISSED, at("17:05:00")), (S.PENDING, at("17:05:01")),
        (S.EXPIRED, at("17:40:00")),
    ]),
    ("F", "R1", S.RIDING, "V1", at("17:50:00"), [
        (S.PENDING, at("17:50:00")), (S.ASSIGNED, at("17:50:00")),
        (S.ACKNOWLEDGED, at("17:50:20")), (S.AT_STOP, at("17:54:00")),
        (S.BOARDED, at("17:55:00")), (S.RIDING, at("17:55:10")),
    ]),
    # 00:30 on the 11th in Taipei is still the 10th in UTC: it belongs to the 11th.
    ("G", "R1", S.COMPLETED, "V1", at("00:30:00", day=11), [
        (S.PENDING, at("00:30:00", 11)), (S.ASSIGNED, at("00:30:00", 11)),
        (S.ACKNOWLEDGED, at("00:30:45", 11)), (S.BOARDED, at("00:36:00", 11)),
        (S.COMPLETED, at("00:50:00", 11)),
    ]),
]  # fmt: skip
INCIDENTS = [
    ("missed", at("08:25:00"), "R1", "V1", "S1", "bus_full"),
    ("help", at("09:00:00"), None, None, "S2", None),
    ("no_show", at("09:15:00"), "R1", "V2", "S1", None),
    ("missed", at("17:05:00"), "R2", "V3", "S9", "stop_blocked"),
]


def records() -> tuple[list[BookingRecord], list[IncidentRecord]]:
    bookings = [
        BookingRecord(
            reservation_id=name,
            route_id=route,
            status=status,
            created_at=created,
            history=tuple(HistoryEntry(s, t) for s, t in steps),
            vehicle_id=vehicle,
        )
        for name, route, status, vehicle, created, steps in DAY
    ]
    incidents = [
        IncidentRecord(kind=k, at=t, route_id=r, vehicle_id=v, stop_id=s, reason=why)
        for k, t, r, v, s, why in INCIDENTS
    ]
    return bookings, incidents


# Hand-computed: ended A B C D E G (F still riding), served A B G.
# Acknowledgement times: A 30, B 60 and 10, C 120, F 20, G 45 (E never acknowledged).
EXPECTED_OVERALL = {
    "bookings": 7,
    "ended": 6,
    "served": 3,
    "served_share": 0.5,
    "ack_count": 6,
    "ack_p50_s": 30.0,  # sorted 10 20 30 45 60 120: rank ceil(3) = 3
    "ack_p95_s": 120.0,  # rank ceil(5.7) = 6
    "missed": 2,
    "no_shows": 1,
    "help": 1,
    "unacknowledged": 0,
}
EXPECTED_DAYS = {
    # 10th: A-F; ended A-E; served A B; acks 10 20 30 60 120
    "2025-03-10": (6, 5, 2, 0.4, 5, 30.0, 120.0, 2, 1, 1),
    "2025-03-11": (1, 1, 1, 1.0, 1, 45.0, 45.0, 0, 0, 0),
}
EXPECTED_HOURS = {
    0: (1, 1, 1, 1.0, 1, 45.0, 45.0, 0, 0, 0),
    8: (2, 2, 2, 1.0, 3, 30.0, 60.0, 1, 0, 0),  # acks 10 30 60
    9: (2, 2, 0, 0.0, 1, 120.0, 120.0, 0, 1, 1),
    17: (2, 1, 0, 0.0, 1, 20.0, 20.0, 1, 0, 0),
}
FIELDS = (
    "bookings",
    "ended",
    "served",
    "served_share",
    "ack_count",
    "ack_p50_s",
    "ack_p95_s",
    "missed",
    "no_shows",
    "help",
)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([40.0, 10.0, 30.0, 20.0], 50) == 20.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_scripted_day_matches_hand_computed_figures() -> None:
    bookings, incidents = records()
    report = compute_quality(bookings, incidents, tz=TPE)
    o = report.overall
    assert {k: (getattr(o, k)) for k in EXPECTED_OVERALL} == EXPECTED_OVERALL
    assert {d: tuple(getattr(f, k) for k in FIELDS) for d, f in report.by_day.items()} == (
        EXPECTED_DAYS
    )
    assert {h: tuple(getattr(f, k) for k in FIELDS) for h, f in report.by_hour.items()} == (
        EXPECTED_HOURS
    )
    assert report.missed_by_route == {"R1": 1, "R2": 1}
    assert report.missed_by_vehicle == {"V1": 1, "V3": 1}
    assert report.no_shows_by_route == {"R1": 1}
    assert report.no_shows_by_vehicle == {"V2": 1}


def test_no_bookings_gives_no_share() -> None:
    report = compute_quality([], [], tz=TPE)
    assert report.overall.served_share is None
    assert report.overall.ack_p50_s is None
    assert report.by_day == {}


def test_csv_holds_every_scope() -> None:
    bookings, incidents = records()
    rows = list(
        csv.DictReader(io.StringIO(quality_csv_text(compute_quality(bookings, incidents, tz=TPE))))
    )
    overall = next(r for r in rows if r["scope"] == "overall")
    assert overall["served_share"] == "0.5"
    assert overall["ack_p95_s"] == "120.0"
    day = next(r for r in rows if r["scope"] == "day" and r["key"] == "2025-03-11")
    assert day["bookings"] == "1"
    assert {(r["key"], r["missed"]) for r in rows if r["scope"] == "vehicle" and r["missed"]} == {
        ("V1", "1"),
        ("V3", "1"),
    }


async def insert_day(api: ApiServer) -> None:
    rider = await api.rider()
    async with api.state.sessions() as session, session.begin():
        for name, route, status, vehicle, created, steps in DAY:
            rid = uuid.uuid5(uuid.NAMESPACE_URL, name)
            session.add(
                Reservation(
                    id=rid,
                    rider_id=uuid.UUID(rider["rider_id"]),
                    status=status,
                    stop_id="S1" if route == "R1" else "S9",
                    route_id=route,
                    direction_id=0,
                    vehicle_id=vehicle,
                    created_at=created,
                    updated_at=steps[-1][1],
                    status_since=steps[-1][1],
                    expires_at=created + timedelta(hours=1),
                )
            )
            await session.flush()
            for step, t in steps:
                session.add(
                    ReservationEvent(reservation_id=rid, status=step, at=t, cause="scripted")
                )
        for k, t, r, v, s, why in INCIDENTS:
            session.add(Incident(kind=k, at=t, route_id=r, vehicle_id=v, stop_id=s, reason=why))


@pytest.mark.timeout(60)
async def test_quality_endpoints_from_database_rows(api: ApiServer) -> None:
    await insert_day(api)
    params = {"start": "2025-03-10", "end": "2025-03-11"}
    r = await api.client.get("/ops/quality.json", params=params, headers=OPS)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["overall"] == EXPECTED_OVERALL
    assert {d: tuple(f[k] for k in FIELDS) for d, f in data["by_day"].items()} == EXPECTED_DAYS
    assert data["missed_by_route"] == {"R1": 1, "R2": 1}
    # One day only: G (the 11th) and its figures are left out.
    r = await api.client.get(
        "/ops/quality.json", params={"start": "2025-03-10", "end": "2025-03-10"}, headers=OPS
    )
    assert r.json()["overall"]["bookings"] == 6
    r = await api.client.get("/ops/quality.csv", params=params, headers=OPS)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text.splitlines()[1].startswith("overall,,7,6,3,0.5,6,30.0,120.0,2,1,1,0")
    r = await api.client.get("/ops/quality", params={**params, "lang": "en"}, headers=OPS)
    assert r.status_code == 200
    assert "Share served" in r.text
    assert "<svg" in r.text
    r = await api.client.get("/ops/quality", params=params, headers=OPS)
    assert "服務率" in r.text
