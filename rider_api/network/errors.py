"""Errors of the GTFS import: every problem names its file, line and field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FeedError", "FeedProblem", "UngroupedFeed"]


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

    def __init__(self, problems: Sequence[FeedProblem], *, truncated: bool = False) -> None:
        if not problems:
            raise ValueError("FeedError needs at least one problem")
        self.problems = tuple(problems)
        #: True when reading stopped at a limit: the feed may have more problems.
        self.truncated = truncated
        message = str(self.problems[0])
        more = len(self.problems) - 1
        if truncated:
            message += f" (and {more} more problems listed; stopped looking after {more + 1})"
        elif more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
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


class UngroupedFeed(Exception):
    """A file comes back to a trip (or shape) after another: the import is read again
    holding every trip until the end of the file. Never leaves the importer."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__(f"{file} line {line}: rows of one trip or shape are not together")
        self.file = file
        self.line = line
