"""Which vehicle drives which trip: a greedy block builder. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from simulators.network import SimTrip

__all__ = ["assign_blocks"]


def assign_blocks(
    trips: Sequence[SimTrip],
    vehicles: Sequence[str],
    start_s: float,
    *,
    layover_s: float = 120.0,
    horizon_s: float = 36 * 3600,
) -> dict[str, list[SimTrip]]:
    """Give each vehicle a sequence of trips that do not overlap.

    Trips already running at ``start_s`` come first, the most recently started first
    (they have the most road left), then trips in start order; each goes to the free
    vehicle that has waited least (best fit), or is left out when every vehicle is busy.
    Vehicles are not positioned between trips: a bus appears at its next first stop.
    """
    running = sorted((t for t in trips if t.start_s <= start_s < t.end_s), key=lambda t: -t.start_s)
    later = sorted(
        (t for t in trips if start_s < t.start_s <= start_s + horizon_s),
        key=lambda t: (t.start_s, t.trip_id),
    )
    order = {v: i for i, v in enumerate(vehicles)}
    free_at = dict.fromkeys(vehicles, start_s)
    blocks: dict[str, list[SimTrip]] = {v: [] for v in vehicles}
    for trip in [*running, *later]:
        begin = max(trip.start_s, start_s)
        fitting = [v for v, t in free_at.items() if t <= begin]
        if not fitting:
            continue
        chosen = max(fitting, key=lambda v: (free_at[v], -order[v]))
        blocks[chosen].append(trip)
        free_at[chosen] = trip.end_s + layover_s
    return blocks
