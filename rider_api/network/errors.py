"""Errors of the GTFS import: every problem names its file, line and field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FeedError", "FeedProblem"]


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """One thing wrong with a feed; ``line`` is the CSV line (the header is line 1)."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.field:
            where += f", field {self.field}"
        return f"{where}: {self.message}"


class FeedError(ValueError):
    """The feed cannot be imported; nothing was written. ``problems`` lists every problem
    found (up to a limit); the message shows the first."""

    def __init__(self, problems: Sequence[FeedProblem]) -> None:
        if not problems:
            raise ValueError("FeedError needs at least one problem")
        self.problems = tuple(problems)
        message = str(self.problems[0])
        if len(self.problems) > 1:
            message += f" (and {len(self.problems) - 1} more problem(s))"
        super().__init__(message)

    @property
    def file(self) -> str:
        return self.problems[0].file

    @property
    def line(self) -> int | None:
        return self.problems[0].line

    @property
    def field(self) -> str | None:
        return self.problems[0].field
