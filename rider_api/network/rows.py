"""Validating a GTFS table row by row: field errors and duplicate keys become problems."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rider_api.network.feed import Row, Table
from rider_api.network.fields import FieldError, Problems

__all__ = ["RowValidator"]


class RowValidator:
    """Runs row parsers over tables, collecting every problem at its file and line."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def each(self, table: Table, parse: Callable[[int, Row], None]) -> None:
        """Call ``parse`` on every row, turning a FieldError into a problem at its line."""
        self.each_row(table.file, table.rows, parse)

    def each_row(
        self, file: str, rows: Iterable[tuple[int, Row]], parse: Callable[[int, Row], None]
    ) -> None:
        """:meth:`each` over rows as they are read (a file that is not held in memory)."""
        for line, row in rows:
            try:
                parse(line, row)
            except FieldError as exc:
                self.problems.add(file, line, exc.field, exc.message)

    def unique(
        self, file: str, seen: set[Any] | dict[Any, Any], key: Any, line: int, name: str
    ) -> bool:
        """False (and a problem) if ``key`` was seen; a set remembers it, a dict is the
        caller's output, filled by the caller."""
        if key in seen:
            self.problems.add(file, line, name, f"duplicate {name} {key!r}")
            return False
        if isinstance(seen, set):
            seen.add(key)
        return True
