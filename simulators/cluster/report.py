"""What a multi-instance run reports: its counts as one printable row, and a table of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulators.cluster.const import TAKEOVER_BOUND_S

__all__ = ["InstancesReport", "format_table"]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


@dataclass(frozen=True, slots=True)
class InstancesReport:
    """One run: N instances, the leader killed with ``kill -9`` under load.

    Must be zero: ``lost_reservations`` (answered 201, not in the database), ``lost``,
    ``duplicated`` and ``stuck`` (the fault audit: retained state, devices, events, unsent
    outbox rows and events still held by devices), ``duplicated_transitions`` (history
    rows per (reservation, status) beyond one), ``duplicate_deliveries`` (extra copies of
    a (topic, seq) on one side of the kill), ``seq_conflicts`` (different messages under
    one (topic, seq)), ``duties_late``. ``republished`` counts the
    (topic, seq) published before the kill and again after it, which a crash may cause.
    """

    instances: int
    seed: int
    killed: str | None
    #: The killed instance said it was the leader.
    killed_leader: bool
    bookings: int
    cancels: int
    events: int
    lost_reservations: int
    lost: int
    duplicated: int
    duplicated_transitions: int
    deliveries: int
    distinct_deliveries: int
    duplicate_deliveries: int
    republished: int
    seq_conflicts: int
    stuck: int
    unsent_outbox: int
    pending_events: int
    #: Kill -> a survivor reports ``leader: true`` (None: none did while watched).
    takeover_s: float | None
    #: Live instances reporting ``leader: true`` at the end (None: they do not say).
    leaders_at_end: int | None
    duties: int
    duties_of_dead: int
    duties_in_gap: int
    duties_late: int
    duty_max_late_s: float | None
    seconds: float
    #: HTTP requests sent to each instance (retries included), by name.
    requests: tuple[tuple[str, int], ...]
    problems: tuple[str, ...]
    bound_s: float = TAKEOVER_BOUND_S

    @property
    def clean(self) -> bool:
        zeros = (
            self.lost_reservations,
            self.lost,
            self.duplicated,
            self.duplicated_transitions,
            self.duplicate_deliveries,
            self.seq_conflicts,
            self.stuck,
            self.duties_late,
        )
        return (
            not any(zeros)
            and self.killed_leader
            and self.takeover_s is not None
            and self.takeover_s < self.bound_s
            and self.leaders_at_end == 1
        )

    def row(self) -> tuple[str, ...]:
        """The table's cells for this run."""
        return (
            str(self.instances),
            str(self.seed),
            str(self.bookings),
            str(self.events),
            str(self.lost_reservations),
            str(self.duplicated_transitions),
            f"{self.duplicate_deliveries} / {self.republished} / {self.seq_conflicts}",
            f"{self.unsent_outbox} / {self.pending_events}",
            _seconds(self.takeover_s),
            f"{self.duties_of_dead} ({self.duties_in_gap} in gap)",
            _seconds(self.duty_max_late_s),
            f"{self.lost} / {self.duplicated} / {self.stuck}",
        )

    def describe(self, limit: int = 40) -> str:
        """A paragraph of counts, then the problems (the first ``limit``)."""
        leader = "the leader" if self.killed_leader else "not known to lead"
        takeover = (
            "no survivor reported leadership"
            if self.takeover_s is None
            else f"a survivor led {self.takeover_s:.2f} s later"
        )
        lines = [
            f"{self.instances} instances, seed {self.seed}: kill -9 of {self.killed} ({leader}); "
            f"{takeover}; {self.leaders_at_end} leader(s) at the end",
            f"  {self.bookings} bookings ({self.cancels} cancelled), {self.events} device events; "
            f"reservations lost {self.lost_reservations}, duplicated transitions "
            f"{self.duplicated_transitions}; HTTP requests per instance: "
            + ", ".join(f"{name} {n}" for name, n in self.requests),
            f"  deliveries {self.deliveries} ({self.distinct_deliveries} distinct topic/seq): "
            f"{self.duplicate_deliveries} duplicates in the normal case, {self.republished} "
            f"published again after the kill, {self.seq_conflicts} seq conflicts (different "
            "messages under one seq)",
            f"  unsent outbox rows {self.unsent_outbox}, events pending on devices "
            f"{self.pending_events}; audit: lost {self.lost}, duplicated {self.duplicated}, "
            f"stuck {self.stuck}",
            f"  timed duties {self.duties}: {self.duties_of_dead} were the dead leader's "
            f"({self.duties_in_gap} fell due before the take-over), latest "
            f"{_seconds(self.duty_max_late_s)} after falling due; {self.duties_late} late "
            f"(> {self.bound_s:g} s) or never done",
            *(f"  - {p}" for p in self.problems[:limit]),
        ]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


HEADER = (
    "instances",
    "seed",
    "bookings",
    "events",
    "lost",
    "dup. transitions",
    "dup. deliveries / after kill / seq conflicts",
    "unsent / pending",
    "take-over",
    "dead's duties",
    "latest duty",
    "audit lost / dup. / stuck",
)


def format_table(reports: Sequence[InstancesReport]) -> str:
    """One row per run, as a Markdown table."""
    rows = [r.row() for r in reports]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(HEADER)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(row) for row in rows)])
