"""What a run reports: one scenario's counts, and the benchmark's table of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulators.faults.const import DatabaseKind, Fault


@dataclass(frozen=True, slots=True)
class FaultReport:
    """One scenario's counts; ``problems`` says what each lost/duplicated/stuck item is."""

    fault: Fault
    database: DatabaseKind
    bookings: int
    events: int
    lost: int
    duplicated: int
    stuck: int
    seconds: float
    settle_seconds: float
    problems: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.stuck == 0

    def describe(self, limit: int = 40) -> str:
        """A line of counts, then the problems (the first ``limit`` of them)."""
        head = (
            f"{self.fault} on {self.database}: {self.bookings} bookings, {self.events} events, "
            f"lost {self.lost}, duplicated {self.duplicated}, stuck {self.stuck}"
        )
        lines = [head, *(f"  - {p}" for p in self.problems[:limit])]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


def format_table(reports: Sequence[FaultReport]) -> str:
    """The benchmark's table: one row per fault and database."""
    header = ("fault", "database", "bookings", "events", "lost", "duplicated", "stuck", "time")
    rows = [
        (
            str(r.fault),
            r.database,
            str(r.bookings),
            str(r.events),
            str(r.lost),
            str(r.duplicated),
            str(r.stuck),
            f"{r.seconds:.1f} s",
        )
        for r in reports
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i >= 2 else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
