"""The multi-instance scenario's constants."""

from __future__ import annotations

#: The issue's bound: a dead instance's timed duties are taken over within this long.
TAKEOVER_BOUND_S = 10.0
#: How long the scenario watches the survivors for a new leader after the kill.
TAKEOVER_WATCH_S = 15.0
#: The server's acknowledgement timeout in the scenario: short, so that reminders fall due
#: around the kill (they are the timed duty whose take-over is measured).
ACK_TIMEOUT_S = 3.0
#: The driver never answers alerts for this stop: their reminders must come.
UNANSWERED_STOP = "S3"
#: The read-only login of the subscriber counting deliveries.
DELIVERIES_MONITOR = "deliveries"
#: The read-only login the benchmark watches the vehicle's alerts with.
BENCH_MONITOR = "bench-watch"


def instance_names(count: int) -> list[str]:
    """``api1`` .. ``api{count}``: each instance's name (its logins are ``server.{name}``
    and ``monitor.{name}``)."""
    if count < 1:
        raise ValueError("at least one API instance")
    return [f"api{i}" for i in range(1, count + 1)]
