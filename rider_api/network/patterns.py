"""Stop times per trip: fill in missing times, derive each route's stop order and headsign."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

__all__ = ["Patterns", "StopTimeIn", "fill_times"]

#: One stop_times.txt row while its trip is being assembled: (line, stop_sequence,
#: stop_id, arrival_s, departure_s, shape_dist_traveled).
StopTimeIn = tuple[int, int, str, int | None, int | None, float | None]


def fill_times(
    stop_times: list[StopTimeIn],
) -> tuple[list[int | None], list[int | None], list[int]]:
    """Sort one trip's stops (in place) and give every stop a time.

    Returns (arrivals, departures, lines): a stop with only one of its times gets it for
    both; stops without times get evenly spaced ones between their timed neighbours.
    ``lines`` are those of the first and last stop if they have no time (then nothing is
    interpolated): a trip's ends need times.
    """
    stop_times.sort(key=_sequence)
    arrivals = [a if a is not None else d for _l, _s, _id, a, d, _x in stop_times]
    departures = [d if d is not None else a for _l, _s, _id, a, d, _x in stop_times]
    missing = [
        stop_times[i][0] for i in (0, -1) if arrivals[i] is None
    ]  # one stop: both ends, as before
    if missing:
        return arrivals, departures, missing
    if None in arrivals:
        _interpolate(arrivals, departures)
    return arrivals, departures, []


class Patterns:
    """Per route and direction: the headsign most trips show, and the stop order of the
    trip with the most stops (the first such trip in trips.txt). Fed one whole trip at a
    time, in any order; holds one stop list per route and direction."""

    def __init__(
        self, trips: dict[str, dict[str, Any]], stop_names: dict[str, tuple[str, str]]
    ) -> None:
        self._trips = trips
        self._stop_names = stop_names
        self._order = {trip_id: i for i, trip_id in enumerate(trips)}
        self._longest: dict[tuple[str, int], tuple[int, int, tuple[str, ...]]] = {}
        self._headsigns: dict[tuple[str, int], Counter[tuple[str, str]]] = defaultdict(Counter)
        #: (trip_id, headsign_zh, headsign_en) of trips named after their last stop.
        self.named_by_last_stop: list[tuple[str, str, str]] = []

    def add(self, trip_id: str, stop_ids: Sequence[str]) -> None:
        """One trip's stops, in order (a trip with no stops is left out)."""
        if not stop_ids:
            return
        trip = self._trips[trip_id]
        if not trip["headsign_zh"]:
            trip["headsign_zh"], trip["headsign_en"] = self._stop_names[stop_ids[-1]]
            self.named_by_last_stop.append((trip_id, trip["headsign_zh"], trip["headsign_en"]))
        key = (trip["route_id"], trip["direction_id"])
        self._headsigns[key][(trip["headsign_zh"], trip["headsign_en"])] += 1
        order = self._order[trip_id]
        best = self._longest.get(key)
        if (
            best is None
            or len(stop_ids) > best[0]
            or (len(stop_ids) == best[0] and order < best[1])
        ):
            self._longest[key] = (len(stop_ids), order, tuple(stop_ids))

    def rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """RouteDirection and RouteStop rows, by route and direction."""
        directions: list[dict[str, Any]] = []
        route_stops: list[dict[str, Any]] = []
        for key in sorted(self._longest):
            route_id, direction_id = key
            (zh, en), _n = self._headsigns[key].most_common(1)[0]
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
                    "stop_id": stop_id,
                }
                for i, stop_id in enumerate(self._longest[key][2])
            )
        return directions, route_stops


def _sequence(stop_time: StopTimeIn) -> int:
    return stop_time[1]


def _interpolate(arrivals: list[int | None], departures: list[int | None]) -> None:
    """Give stops without times evenly spaced times between their timed neighbours."""
    last_timed = 0
    for i in range(1, len(arrivals)):
        departure = departures[last_timed]
        arrival = arrivals[i]
        if arrival is None or departure is None:
            continue
        gap = i - last_timed
        for k in range(1, gap):
            t = departure + round((arrival - departure) * k / gap)
            arrivals[last_timed + k] = t
            departures[last_timed + k] = t
        last_timed = i
