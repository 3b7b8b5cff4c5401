"""Parsing one GTFS field at a time; a bad value raises FieldError naming the field."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Mapping

from broker_config.errors import InvalidIdError
from broker_config.topics import validate_id
from rider_api.network.errors import FeedError, FeedProblem

__all__ = [
    "FieldError",
    "Problems",
    "gtfs_date",
    "gtfs_id",
    "gtfs_time",
    "integer",
    "number",
    "optional_integer",
    "optional_number",
    "parse_time",
    "required",
]

Row = Mapping[str, str]

_TIME = re.compile(r"(\d{1,3}):([0-5]\d):([0-5]\d)")
_DATE = re.compile(r"\d{8}")


class FieldError(Exception):
    """A value of one field is wrong; the loader adds file and line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Problems:
    """Collects the problems of a feed; stops early once there are ``limit`` of them."""

    def __init__(self, limit: int = 50) -> None:
        self.items: list[FeedProblem] = []
        self.limit = limit

    def add(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self.items.append(FeedProblem(file, line, field, message))
        if len(self.items) >= self.limit:
            raise FeedError(self.items, truncated=True)

    def raise_if_any(self) -> None:
        if self.items:
            raise FeedError(self.items)


def required(row: Row, field: str) -> str:
    value = row.get(field, "")
    if not value:
        raise FieldError(field, "a value is required")
    return value


def gtfs_id(row: Row, field: str) -> str:
    """A required id that may stand in an MQTT topic (``[A-Za-z0-9_.-]{1,64}``)."""
    value = required(row, field)
    try:
        return validate_id(value, field)
    except InvalidIdError as exc:
        raise FieldError(field, str(exc)) from exc


def optional_number(
    row: Row, field: str, *, low: float = -math.inf, high: float = math.inf
) -> float | None:
    raw = row.get(field, "")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise FieldError(field, f"{raw!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise FieldError(field, f"{raw} is outside {low:g}..{high:g}")
    return value


def number(row: Row, field: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    value = optional_number(row, field, low=low, high=high)
    if value is None:
        raise FieldError(field, "a value is required")
    return value


def optional_integer(
    row: Row, field: str, *, allowed: Collection[int] | None = None, low: int = 0
) -> int | None:
    raw = row.get(field, "")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise FieldError(field, f"{raw!r} is not a whole number") from None
    if allowed is not None and value not in allowed:
        choices = ", ".join(str(v) for v in sorted(allowed))
        raise FieldError(field, f"{raw!r} is not one of {choices}")
    if value < low:
        raise FieldError(field, f"{raw!r} is below {low}")
    return value


def integer(
    row: Row,
    field: str,
    *,
    allowed: Collection[int] | None = None,
    default: int | None = None,
    low: int = 0,
) -> int:
    value = optional_integer(row, field, allowed=allowed, low=low)
    if value is None:
        if default is None:
            raise FieldError(field, "a value is required")
        return default
    return value


def gtfs_time(row: Row, field: str) -> int | None:
    """Seconds after the service day's start; hours may pass 24 (trips after midnight)."""
    raw = row.get(field, "")
    if not raw:
        return None
    seconds = parse_time(raw)
    if seconds is None:
        raise FieldError(field, f"{raw!r} is not a time (H:MM:SS; hours may pass 24)")
    return seconds


def parse_time(raw: str) -> int | None:
    """Seconds of an ``H:MM:SS`` time (hours may pass 24), None if ``raw`` is not one."""
    match = _TIME.fullmatch(raw)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds)


def gtfs_date(row: Row, field: str) -> dt.date:
    raw = required(row, field)
    if _DATE.fullmatch(raw):
        try:
            return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        except ValueError:
            pass
    raise FieldError(field, f"{raw!r} is not a date (YYYYMMDD)")
