"""The agency feed's vehicle ids to BusHail vehicle ids.

Identity by default: a feed's ``vehicle.id`` is the bus's BusHail id (its driver display's
login ``vehicle.{id}``). Where they differ, a mapping from settings
(``gtfs_rt_vehicle_map``) and/or a CSV file (``gtfs_rt_vehicle_map_file``: a header line
``feed_vehicle_id,vehicle_id`` then one bus a line) says which is which; the settings'
entries win over the file's. An id BusHail cannot use (not ``[A-Za-z0-9_.-]{1,64}``)
maps to nothing: the entity is counted as ``bad_vehicle_id`` and ignored.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from broker_config.const import ID_PATTERN

__all__ = ["MappingFileError", "VehicleMapping", "read_mapping_file"]


class MappingFileError(ValueError):
    """The vehicle mapping file cannot be used (its message says where and why)."""


class VehicleMapping:
    """``bushail_id(feed_id)``: the BusHail id of a feed's vehicle, or None."""

    def __init__(self, pairs: Mapping[str, str] | None = None) -> None:
        self._pairs = dict(pairs or {})

    def __len__(self) -> int:
        return len(self._pairs)

    def bushail_id(self, feed_id: str) -> str | None:
        vehicle_id = self._pairs.get(feed_id, feed_id)
        return vehicle_id if ID_PATTERN.fullmatch(vehicle_id) else None


def read_mapping_file(path: Path) -> dict[str, str]:
    """The pairs of a ``feed_vehicle_id,vehicle_id`` CSV (blocking: call it off the loop)."""
    pairs: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"feed_vehicle_id", "vehicle_id"} - set(reader.fieldnames or ())
            if missing:
                raise MappingFileError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for line, row in enumerate(reader, start=2):
                feed_id = (row.get("feed_vehicle_id") or "").strip()
                vehicle_id = (row.get("vehicle_id") or "").strip()
                if not feed_id or not vehicle_id:
                    continue
                if not ID_PATTERN.fullmatch(vehicle_id):
                    raise MappingFileError(
                        f"{path}, line {line}: {vehicle_id!r} is not a BusHail vehicle id"
                    )
                pairs[feed_id] = vehicle_id
    except OSError as exc:
        raise MappingFileError(f"{path}: {exc.strerror or exc}") from exc
    return pairs
