"""What a run reports: one scenario's counts, and the benchmark's table of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulators.faults.const import DatabaseKind, Fault


@dataclass(frozen=True, slots=True)
class Several:
    """What a run with several API instances counts besides (``simulators.cluster``)."""

    instances: int
    #: The seed the moment of an instance's fault was drawn from.
    seed: int
    #: The instance an API fault hit, and whether it led ("api2, leader").
    hit: str | None
    #: Copies of calls and alerts a subscriber got, and distinct (topic, seq) among them.
    deliveries: int
    distinct_deliveries: int
    #: Extra copies of a (topic, seq) with no fault between them: must be 0.
    duplicate_deliveries: int
    #: (topic, seq) published again after a fault (a kill, a lost broker): a crash may.
    republished: int
    #: Different messages under one (topic, seq): must be 0.
    seq_conflicts: int
    #: From the leader's death to a survivor's ``leader: true`` (None: no leader died, or
    #: none took over while watched).
    takeover_s: float | None
    #: Live instances saying they lead at the end (1 when the election works).
    leaders_at_end: int | None
    #: HTTP requests (retries included) each instance was sent, by name: none may be 0.
    requests: tuple[tuple[str, int], ...] = ()

    @property
    def clean(self) -> bool:
        return (
            self.duplicate_deliveries == 0
            and self.seq_conflicts == 0
            and self.leaders_at_end == 1
            and len(self.requests) == self.instances
            and all(n > 0 for _name, n in self.requests)
        )


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
    #: History rows beyond one per (reservation, status).
    duplicated_transitions: int = 0
    several: Several | None = None

    @property
    def instances(self) -> int:
        return self.several.instances if self.several is not None else 1

    @property
    def clean(self) -> bool:
        counts = (self.lost, self.duplicated, self.stuck, self.duplicated_transitions)
        return not any(counts) and (self.several is None or self.several.clean)

    def describe(self, limit: int = 40) -> str:
        """A line of counts, then the problems (the first ``limit`` of them)."""
        head = (
            f"{self.fault} on {self.database}: {self.bookings} bookings, {self.events} events, "
            f"lost {self.lost}, duplicated {self.duplicated}, stuck {self.stuck}, "
            f"duplicated transitions {self.duplicated_transitions}"
        )
        lines = [head]
        if (m := self.several) is not None:
            takeover = "-" if m.takeover_s is None else f"{m.takeover_s:.2f} s"
            lines.append(
                f"  {m.instances} instances, seed {m.seed}, hit: {m.hit or '-'}; deliveries "
                f"{m.deliveries} ({m.distinct_deliveries} distinct topic/seq): "
                f"{m.duplicate_deliveries} duplicates, {m.republished} again after a fault, "
                f"{m.seq_conflicts} seq conflicts; take-over {takeover}; "
                f"{m.leaders_at_end} leader(s) at the end; HTTP requests per instance: "
                + ", ".join(f"{name} {n}" for name, n in m.requests)
            )
        lines += [f"  - {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


def _cells(r: FaultReport, several: bool) -> tuple[str, ...]:
    if not several:
        counts = (r.bookings, r.events, r.lost, r.duplicated, r.stuck)
        return (str(r.fault), r.database, *map(str, counts), f"{r.seconds:.1f} s")
    m = r.several
    counted = "-" if m is None else f"{m.deliveries} ({m.distinct_deliveries})"
    deliveries = (
        "-" if m is None else f"{m.duplicate_deliveries} / {m.republished} / {m.seq_conflicts}"
    )
    takeover = "-" if m is None or m.takeover_s is None else f"{m.takeover_s:.2f} s"
    return (
        str(r.fault),
        r.database,
        str(r.instances),
        *map(str, (r.bookings, r.events, r.lost, r.duplicated, r.duplicated_transitions)),
        counted,
        deliveries,
        str(r.stuck),
        takeover,
        f"{r.seconds:.1f} s",
    )


HEADER = ("fault", "database", "bookings", "events", "lost", "duplicated", "stuck", "time")
HEADER_SEVERAL = (
    "fault",
    "database",
    "instances",
    "bookings",
    "events",
    "lost",
    "duplicated",
    "dup. transitions",
    "deliveries (distinct topic/seq)",
    "dup. deliveries / again after a fault / seq conflicts",
    "stuck",
    "take-over",
    "time",
)


def format_table(reports: Sequence[FaultReport]) -> str:
    """The benchmark's table: one row per fault and database (with the multi-instance
    columns when any run had several instances)."""
    several = any(r.several is not None for r in reports)
    header = HEADER_SEVERAL if several else HEADER
    rows = [_cells(r, several) for r in reports]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]

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
