"""The bus motion model: where a vehicle on a GTFS trip is at a simulated time. Pure.

A :class:`TripPlan` turns a trip's stop times into stages (arrive/depart per stop) with
a delay model and a minimum dwell, and a path per segment (the trip's shape where the
feed has one, else a straight line). ``plan.fix_at(t)`` says where the bus is and what a
GTFS-Realtime VehiclePosition would report: ``STOPPED_AT`` a stop while it dwells,
``IN_TRANSIT_TO`` the next stop on the way, ``INCOMING_AT`` it in the last
``incoming_s`` seconds before arrival. A :class:`Journey` adds the driver's holds (the
bus waits at a stop for a rider), which delay the rest of the trip.

Times are simulated seconds after midnight of the service day, as in GTFS.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass

from broker_config.messages import VehicleStopStatus
from simulators.network import SimNetwork, SimTrip

__all__ = ["DelayModel", "Fix", "Journey", "MotionSettings", "Stage", "TripPlan", "distance_m"]

Point = tuple[float, float]


def distance_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres."""
    r = 6_371_000.0
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class DelayModel:
    """Lateness: ``initial_s`` at the first stop, then a random walk per segment.

    Each segment adds a normal draw (mean ``drift_s``, deviation ``jitter_s``); the bus
    is never earlier than ``max_early_s`` before its schedule.
    """

    initial_s: float = 0.0
    drift_s: float = 0.0
    jitter_s: float = 0.0
    max_early_s: float = 0.0

    def delays(self, stops: int, rng: random.Random) -> list[float]:
        delay = self.initial_s
        out = [max(-self.max_early_s, delay)]
        for _ in range(stops - 1):
            if self.jitter_s or self.drift_s:
                delay += rng.gauss(self.drift_s, self.jitter_s)
            delay = max(-self.max_early_s, delay)
            out.append(delay)
        return out


@dataclass(frozen=True, slots=True)
class MotionSettings:
    #: The shortest stop: a bus stops this long even when the timetable says 0.
    dwell_s: float = 20.0
    #: INCOMING_AT this many seconds before the arrival.
    incoming_s: float = 30.0
    #: The shortest time between two stops, whatever the timetable says.
    min_travel_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Stage:
    stop_id: str
    stop_sequence: int
    arrive_t: float
    depart_t: float


@dataclass(frozen=True, slots=True)
class Fix:
    """The vehicle's reportable state at one moment."""

    lat: float
    lon: float
    #: Index of the stop the status refers to in the trip's stop times.
    index: int
    stop_id: str
    stop_sequence: int
    status: VehicleStopStatus


class _Path:
    """A polyline with cumulative lengths, for interpolation by fraction."""

    def __init__(self, points: list[Point]) -> None:
        self.points = points
        self.cum = [0.0]
        for a, b in itertools.pairwise(points):
            self.cum.append(self.cum[-1] + distance_m(a, b))

    def at(self, fraction: float) -> Point:
        total = self.cum[-1]
        if total <= 0 or len(self.points) == 1:
            return self.points[0]
        target = min(max(fraction, 0.0), 1.0) * total
        i = max(1, bisect.bisect_left(self.cum, target))
        i = min(i, len(self.points) - 1)
        seg = self.cum[i] - self.cum[i - 1]
        f = 0.0 if seg <= 0 else (target - self.cum[i - 1]) / seg
        (a_lat, a_lon), (b_lat, b_lon) = self.points[i - 1], self.points[i]
        return (a_lat + (b_lat - a_lat) * f, a_lon + (b_lon - a_lon) * f)


def _segment_paths(trip: SimTrip, network: SimNetwork) -> list[_Path]:
    """One path per segment: along the shape where there is one, else a straight line."""
    coords = [
        (network.stops[st.stop_id].lat, network.stops[st.stop_id].lon) for st in trip.stop_times
    ]
    shape = network.shapes.get(trip.shape_id) if trip.shape_id else None
    if not shape or len(shape) < 2:
        return [_Path([a, b]) for a, b in itertools.pairwise(coords)]
    points = [(lat, lon) for lat, lon, _d in shape]
    dists = [d for _lat, _lon, d in shape]
    # Where each stop sits on the shape: by shape_dist_traveled when both have it,
    # else the nearest shape point after the previous stop's.
    anchors: list[int] = []
    start = 0
    for st, coord in zip(trip.stop_times, coords, strict=True):
        if st.shape_dist is not None and all(d is not None for d in dists):
            known = [float(d) for d in dists if d is not None]
            idx = max(start, min(len(points) - 1, bisect.bisect_left(known, st.shape_dist)))
        else:
            idx = min(range(start, len(points)), key=lambda i: distance_m(points[i], coord))
        anchors.append(idx)
        start = idx
    paths = []
    for k in range(len(coords) - 1):
        inner = points[anchors[k] + 1 : anchors[k + 1]]
        paths.append(_Path([coords[k], *inner, coords[k + 1]]))
    return paths


class TripPlan:
    """A trip as one vehicle will drive it (schedule + delays + dwell); see module doc."""

    def __init__(
        self,
        trip: SimTrip,
        network: SimNetwork,
        settings: MotionSettings | None = None,
        delay: DelayModel | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.trip = trip
        self.settings = settings or MotionSettings()
        delays = (delay or DelayModel()).delays(len(trip.stop_times), rng or random.Random(0))
        stages: list[Stage] = []
        last_depart: float | None = None
        for st, late in zip(trip.stop_times, delays, strict=True):
            arrive = st.arrival_s + late
            if last_depart is not None:
                arrive = max(arrive, last_depart + self.settings.min_travel_s)
            depart = max(st.departure_s + late, arrive + self.settings.dwell_s)
            stages.append(Stage(st.stop_id, st.stop_sequence, arrive, depart))
            last_depart = depart
        self.stages = stages
        self.paths = _segment_paths(trip, network)
        self._coords = [self.paths[0].points[0], *(p.points[-1] for p in self.paths)]

    @property
    def start_t(self) -> float:
        return self.stages[0].arrive_t

    @property
    def end_t(self) -> float:
        """When the bus leaves the last stop (the trip is over)."""
        return self.stages[-1].depart_t

    def _fix(self, index: int, point: Point, status: VehicleStopStatus) -> Fix:
        stage = self.stages[index]
        return Fix(point[0], point[1], index, stage.stop_id, stage.stop_sequence, status)

    def fix_at(self, t: float) -> Fix | None:
        """Where the bus is at ``t``; None once the trip is over."""
        stages = self.stages
        if t >= self.end_t:
            return None
        if t < stages[0].depart_t:
            return self._fix(0, self._coords[0], VehicleStopStatus.STOPPED_AT)
        departs = [s.depart_t for s in stages]
        # k: the last stop already left at t.
        k = bisect.bisect_right(departs, t) - 1
        nxt = stages[k + 1]
        if t >= nxt.arrive_t:
            return self._fix(k + 1, self._coords[k + 1], VehicleStopStatus.STOPPED_AT)
        travel = nxt.arrive_t - stages[k].depart_t
        fraction = (t - stages[k].depart_t) / travel if travel > 0 else 1.0
        status = (
            VehicleStopStatus.INCOMING_AT
            if nxt.arrive_t - t <= self.settings.incoming_s
            else VehicleStopStatus.IN_TRANSIT_TO
        )
        return self._fix(k + 1, self.paths[k].at(fraction), status)


class Journey:
    """A plan being driven: the driver may hold the bus at a stop, delaying the rest."""

    def __init__(self, plan: TripPlan) -> None:
        self.plan = plan
        #: Seconds the bus runs behind its plan because of holds.
        self.held_s = 0.0
        self.last: Fix | None = None

    def at(self, t: float, *, hold: bool = False) -> Fix | None:
        """The fix at ``t``; with ``hold`` a bus stopped at a stop stays there."""
        fix = self.plan.fix_at(t - self.held_s)
        last = self.last
        if (
            hold
            and last is not None
            and last.status is VehicleStopStatus.STOPPED_AT
            and (fix is None or fix.index != last.index or fix.status is not last.status)
        ):
            depart = self.plan.stages[last.index].depart_t
            self.held_s = t - depart + 1e-3
            fix = self.plan.fix_at(t - self.held_s)
        self.last = fix
        return fix
