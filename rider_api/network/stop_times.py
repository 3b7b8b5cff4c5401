"""Reading stop_times.txt as a stream: validated, completed rows, one trip at a time.

A city's stop_times.txt has millions of rows, so it is read row by row and each trip's
rows are handed on (sorted, times filled in) as soon as the trip is complete, which is
when the next trip's rows begin: GTFS does not ask for a trip's rows to be together, but
feeds list them so. A feed that comes back to a trip after another raises
:class:`~rider_api.network.errors.UngroupedFeed`, and the importer reads it again holding
every trip until the end of the file (the memory then grows with the feed).

Rows are checked by a fast path for the common, valid row; a row it cannot take is
parsed by the field parsers of :mod:`rider_api.network.fields`, which name what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from rider_api.network.errors import UngroupedFeed
from rider_api.network.feed import Row, TableStream
from rider_api.network.fields import (
    FieldError,
    Problems,
    gtfs_id,
    gtfs_time,
    integer,
    optional_number,
    parse_time,
)
from rider_api.network.patterns import Patterns, fill_times

__all__ = ["StopTimesReader"]

#: A StopTime row in the table's column order: (trip_id, stop_sequence, stop_id,
#: arrival_s, departure_s, shape_dist_traveled); both times are set once the trip is
#: complete.
StopTimeRow = tuple[str, int, str, int | None, int | None, float | None]

#: Distinct time strings remembered (a day has 86,400 seconds; feeds write each one way).
_TIME_CACHE = 200_000
_MISSING_ENDS = "the first and last stop of a trip need times"


class _NotFast(Exception):
    """The fast path cannot take this row: the field parsers will say why."""


class _Trip:
    """One trip's rows while it is read."""

    __slots__ = ("last_sequence", "lines", "ordered", "rows", "sequences", "trip_id", "untimed")

    def __init__(self, trip_id: str = "") -> None:
        self.trip_id = trip_id
        self.rows: list[StopTimeRow] = []
        self.lines: list[int] = []
        self.last_sequence = -1
        #: Rows came in stop_sequence order (then no sequence can be a duplicate).
        self.ordered = True
        #: A row lacks a time: the trip's times are filled in when it is complete.
        self.untimed = False
        self.sequences: set[int] | None = None

    def add_sequence(self, sequence: int) -> bool:
        """From the first row out of order on: False if the trip already has ``sequence``."""
        if self.sequences is None:
            self.ordered = False
            self.sequences = {row[1] for row in self.rows}
        if sequence in self.sequences:
            return False
        self.sequences.add(sequence)
        return True


class StopTimesReader:
    """Validates stop_times.txt and yields its StopTime rows, trip by trip.

    ``trip_ids`` and ``stop_ids`` are the ids of every row of trips.txt and stops.txt
    (even rows with a bad field: a reference to one is not reported again);
    ``stop_names`` has the stops that are written, ``unplaced_stops`` those left out;
    ``trips`` the valid trips, whose headsigns are filled in from their last stop where
    missing. Every reference is checked here, as the database's foreign keys would.
    Rows are yielded only while the feed has no problem: after one, the file is read to
    the end to list the others, and nothing is yielded.
    """

    def __init__(
        self,
        problems: Problems,
        *,
        trips: dict[str, dict[str, Any]],
        trip_ids: set[str],
        stop_ids: set[str],
        unplaced_stops: dict[str, int],
        stop_names: dict[str, tuple[str, str]],
        grouped: bool = True,
    ) -> None:
        self.problems = problems
        self.trip_ids = trip_ids
        self.stop_ids = stop_ids
        self.unplaced_stops = unplaced_stops
        self.stop_names = stop_names
        self.grouped = grouped
        self.patterns = Patterns(trips, stop_names)
        #: Rows yielded.
        self.count = 0
        self._file = "stop_times.txt"
        # Trips whose first or last stop has no time: reported only if the feed has no
        # other problem (as when trips were completed after the whole file was read).
        self._missing_ends: list[int] = []
        self._times: dict[str, int | None] = {"": None}

    def rows(self, stream: TableStream) -> Iterator[StopTimeRow]:
        """The StopTime rows of ``stream``, each trip's sorted by stop_sequence."""
        self._file = file = stream.file
        i_trip, i_arrival, i_departure, i_stop, i_sequence = (
            stream.columns.index(name)
            for name in ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence")
        )
        i_dist = stream.index("shape_dist_traveled")
        # The fast path takes the stops that are written (the database is not asked).
        trip_ids, stop_ids, times = self.trip_ids, self.stop_names, self._times
        problems, reader, width = self.problems, stream.reader, stream.width
        held: dict[str, _Trip] = {}  # when not grouped
        done: set[str] = set()
        # The current trip's id, and as written in the row that began it: values are
        # compared as written and stripped only when they differ (csv leaves them bare).
        current: str | None = None
        current_raw: str | None = None
        trip = _Trip()
        rows, lines = trip.rows, trip.lines
        with stream.errors():
            for values in reader:
                if len(values) < width and stream.complete(values) is None:
                    continue
                if (raw := values[i_trip]) != current_raw:
                    trip_id = raw.strip()
                    if trip_id != current:
                        if trip_id not in trip_ids:
                            self._parse(stream, values)  # a problem: it names the field
                            continue
                        if self.grouped:
                            if current is not None:
                                yield from self._complete(trip)
                            if trip_id in done:
                                raise UngroupedFeed(file, reader.line_num)
                            done.add(trip_id)
                            trip = _Trip(trip_id)
                        else:
                            trip = held.setdefault(trip_id, _Trip(trip_id))
                        rows, lines = trip.rows, trip.lines
                        current = trip_id
                    current_raw = raw
                try:
                    stop_id = values[i_stop]
                    if stop_id not in stop_ids:
                        stop_id = stop_id.strip()
                        if stop_id not in stop_ids:
                            raise _NotFast
                    sequence = int(values[i_sequence])
                    if sequence < 0:
                        raise _NotFast
                    arrival = times.get(raw := values[i_arrival], -1)
                    if arrival == -1:
                        arrival = self._time(raw)
                    departure = times.get(raw := values[i_departure], -1)
                    if departure == -1:
                        departure = self._time(raw)
                    dist = None
                    if i_dist is not None and (raw := values[i_dist]):
                        dist = float(raw)
                        if not 0.0 <= dist < math.inf:
                            raise _NotFast
                except (_NotFast, ValueError):
                    parsed = self._parse(stream, values)
                    if parsed is None:
                        continue
                    stop_id, sequence, arrival, departure, dist = parsed
                if (
                    sequence <= trip.last_sequence or trip.sequences is not None
                ) and not trip.add_sequence(sequence):
                    key = (trip.trip_id, sequence)
                    line = reader.line_num
                    problems.add(file, line, "stop_sequence", f"duplicate stop_sequence {key!r}")
                    continue
                trip.last_sequence = sequence
                if arrival is None or departure is None:
                    trip.untimed = True
                rows.append((trip.trip_id, sequence, stop_id, arrival, departure, dist))
                lines.append(reader.line_num)
        if self.grouped:
            if current is not None:
                yield from self._complete(trip)
        else:
            for trip in held.values():
                yield from self._complete(trip)

    def finish(self) -> None:
        """Raise FeedError if the feed has problems (a trip without end times included)."""
        self.problems.raise_if_any()
        for line in self._missing_ends:
            self.problems.add(self._file, line, "arrival_time", _MISSING_ENDS)
        self.problems.raise_if_any()

    def _complete(self, trip: _Trip) -> list[StopTimeRow]:
        """The trip's rows, in order and timed; none once the feed has a problem."""
        rows = trip.rows
        if self.problems.items or self._missing_ends or not rows:
            return []  # the import fails: what is left is finding the other problems
        if trip.untimed or not trip.ordered:
            stop_times = [
                (line, s, stop_id, a, d, x)
                for line, (_t, s, stop_id, a, d, x) in zip(trip.lines, rows, strict=True)
            ]
            arrivals, departures, missing = fill_times(stop_times)
            if missing:
                if len(self._missing_ends) < self.problems.limit:
                    self._missing_ends.extend(missing)
                return []
            rows = [
                (trip.trip_id, s, stop_id, a, d, x)
                for (_l, s, stop_id, _a, _d, x), a, d in zip(
                    stop_times, arrivals, departures, strict=True
                )
            ]
        self.patterns.add(trip.trip_id, [row[2] for row in rows])
        self.count += len(rows)
        return rows

    def _time(self, raw: str) -> int | None:
        """A time as written (surrounding spaces allowed), remembered; _NotFast if bad."""
        text = raw.strip()
        seconds = parse_time(text) if text else None
        if text and seconds is None:
            raise _NotFast
        if len(self._times) < _TIME_CACHE:
            self._times[raw] = seconds
        return seconds

    def _parse(
        self, stream: TableStream, values: list[str]
    ) -> tuple[str, int, int | None, int | None, float | None] | None:
        """The row through the field parsers; None (and a problem) if a field is wrong."""
        try:
            return self._fields(stream.row(values))
        except FieldError as exc:
            self.problems.add(stream.file, stream.reader.line_num, exc.field, exc.message)
            return None

    def _fields(self, row: Row) -> tuple[str, int, int | None, int | None, float | None]:
        trip_id = gtfs_id(row, "trip_id")
        if trip_id not in self.trip_ids:
            raise FieldError("trip_id", f"unknown trip {trip_id!r} (not in trips.txt)")
        stop_id = gtfs_id(row, "stop_id")
        if stop_id not in self.stop_ids:
            raise FieldError("stop_id", f"unknown stop {stop_id!r} (not in stops.txt)")
        if stop_id in self.unplaced_stops:
            raise FieldError(
                "stop_id",
                f"stop {stop_id!r} has no place (location_type "
                f"{self.unplaced_stops[stop_id]}): a trip stops at a stop or platform",
            )
        sequence = integer(row, "stop_sequence")
        arrival = gtfs_time(row, "arrival_time")
        departure = gtfs_time(row, "departure_time")
        dist = optional_number(row, "shape_dist_traveled", low=0)
        return stop_id, sequence, arrival, departure, dist
