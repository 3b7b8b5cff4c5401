"""Stop times per trip: fill in missing times, derive each route's stop order and headsign."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from rider_api.network.fields import Problems

__all__ = ["StopTimeIn", "derive_patterns", "fill_times"]


@dataclass
class StopTimeIn:
    """One stop_times.txt row while its trip is being assembled."""

    line: int
    stop_sequence: int
    stop_id: str
    arrival_s: int | None
    departure_s: int | None
    dist: float | None


def fill_times(
    file: str, by_trip: dict[str, list[StopTimeIn]], problems: Problems
) -> list[dict[str, Any]]:
    """Sort each trip's stops and interpolate the times of stops that have none."""
    out: list[dict[str, Any]] = []
    for trip_id, stop_times in by_trip.items():
        stop_times.sort(key=lambda st: st.stop_sequence)
        for st in stop_times:
            st.arrival_s = st.arrival_s if st.arrival_s is not None else st.departure_s
            st.departure_s = st.departure_s if st.departure_s is not None else st.arrival_s
        for end in (stop_times[0], stop_times[-1]):
            if end.arrival_s is None:
                problems.add(
                    file,
                    end.line,
                    "arrival_time",
                    "the first and last stop of a trip need times",
                )
        if stop_times[0].arrival_s is None or stop_times[-1].arrival_s is None:
            continue
        _interpolate(stop_times)
        out.extend(
            {
                "trip_id": trip_id,
                "stop_sequence": st.stop_sequence,
                "stop_id": st.stop_id,
                "arrival_s": st.arrival_s,
                "departure_s": st.departure_s,
                "shape_dist_traveled": st.dist,
            }
            for st in stop_times
        )
    return out


def derive_patterns(
    trips: dict[str, dict[str, Any]],
    by_trip: dict[str, list[StopTimeIn]],
    stop_names: dict[str, tuple[str, str]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per route and direction: the headsign most trips show, and the stop order of the
    trip with the most stops (the first such trip in trips.txt)."""
    longest: dict[tuple[str, int], str] = {}
    headsigns: dict[tuple[str, int], Counter[tuple[str, str]]] = defaultdict(Counter)
    for trip_id, trip in trips.items():
        stop_times = by_trip.get(trip_id, [])
        if not stop_times:
            continue
        if not trip["headsign_zh"]:
            last = stop_names[stop_times[-1].stop_id]
            trip["headsign_zh"], trip["headsign_en"] = last
        key = (trip["route_id"], trip["direction_id"])
        headsigns[key][(trip["headsign_zh"], trip["headsign_en"])] += 1
        if key not in longest or len(stop_times) > len(by_trip[longest[key]]):
            longest[key] = trip_id
    directions: list[dict[str, Any]] = []
    route_stops: list[dict[str, Any]] = []
    for key in sorted(longest):
        route_id, direction_id = key
        (zh, en), _n = headsigns[key].most_common(1)[0]
        directions.append(
            {
                "route_id": route_id,
                "direction_id": direction_id,
                "headsign_zh": zh,
                "headsign_en": en,
            }
        )
        route_stops.extend(
            {
                "route_id": route_id,
                "direction_id": direction_id,
                "position": i,
                "stop_id": st.stop_id,
            }
            for i, st in enumerate(by_trip[longest[key]])
        )
    return directions, route_stops


def _interpolate(stop_times: list[StopTimeIn]) -> None:
    """Give stops without times evenly spaced times between their timed neighbours."""
    last_timed = 0
    for i in range(1, len(stop_times)):
        departure = stop_times[last_timed].departure_s
        arrival = stop_times[i].arrival_s
        if arrival is None or departure is None:
            continue
        gap = i - last_timed
        for k in range(1, gap):
            t = departure + round((arrival - departure) * k / gap)
            stop_times[last_timed + k].arrival_s = t
            stop_times[last_timed + k].departure_s = t
        last_timed = i
