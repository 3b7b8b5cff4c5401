"""The scenario's constants: the little network, its devices, and the faults."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Literal

DatabaseKind = Literal["sqlite", "postgresql"]

STOPS = ("S1", "S2", "S3", "S4", "S5")
VEHICLE = "V1"
#: The stop whose gateway runs in this process (help presses, and its calls are checked).
PRESS_STOP = "S2"
#: The stop whose gateway runs as a process (the gateway faults).
PROCESS_STOP = "S3"
#: Each rider books these (stop, direction), one active booking per stop and route being
#: the rule; V1 stands at S1 in direction 0, direction 1 has no bus.
COMBOS: tuple[tuple[str, int], ...] = (("S2", 0), ("S3", 0), ("S4", 0), ("S5", 1))
#: Combos V1 is assigned for, still ``assigned``: the driver acknowledges these.
TAP_COMBOS = frozenset({("S3", 0), ("S4", 0)})
#: Read-only logins of the harness: the audit's scan, the gateway process's watcher,
#: the rogue scenario's watcher of the server's status.
AUDIT_MONITOR = "audit"
GATEWAY_WATCH = "gateway-watch"
ROGUE_WATCH = "rogue-watch"
MONITORS = (AUDIT_MONITOR, GATEWAY_WATCH, ROGUE_WATCH)


class Fault(enum.StrEnum):
    BROKER_KILL = "broker-kill"
    BROKER_RESTART = "broker-restart"
    API_KILL = "api-kill"
    API_RESTART = "api-restart"
    API_KILL_FOLLOWER = "api-kill-follower"
    API_RESTART_FOLLOWER = "api-restart-follower"
    GATEWAY_KILL = "gateway-kill"
    GATEWAY_KILL_PENDING = "gateway-kill-pending"
    TAP_BROKER_DOWN = "tap-broker-down"
    TAP_API_DOWN = "tap-api-down"
    PRESS_BOTH_DOWN = "press-both-down"
    ROGUE_SHARE = "rogue-share"
    ROGUE_CLIENT_ID = "rogue-client-id"


#: What each fault does, in one line (the benchmark's --help).
FAULT_TEXT: dict[Fault, str] = {
    Fault.BROKER_KILL: "kill -9 of Mosquitto a third into the bookings, back at two thirds",
    Fault.BROKER_RESTART: "Mosquitto restarted (SIGTERM, start) halfway through the bookings",
    Fault.API_KILL: "kill -9 of the API halfway through the bookings, then started again "
    "(several instances: of the leader, at a seeded moment, with taps and presses meanwhile)",
    Fault.API_RESTART: "the API restarted (SIGTERM, start) halfway through the bookings "
    "(several instances: the leader, as api-kill)",
    Fault.API_KILL_FOLLOWER: "several instances only: kill -9 of an instance that does not "
    "lead, at a seeded moment, with taps and presses meanwhile, then started again",
    Fault.API_RESTART_FOLLOWER: "several instances only: an instance that does not lead "
    "restarted (SIGTERM, start), as api-kill-follower",
    Fault.GATEWAY_KILL: "kill -9 of the S3 gateway process between help presses, restarted",
    Fault.GATEWAY_KILL_PENDING: "kill -9 of the S3 gateway (--state-dir) holding help presses "
    "it took while its link was down (Mosquitto stopped), then both back",
    Fault.TAP_BROKER_DOWN: "driver taps while Mosquitto is down (SIGTERM)",
    Fault.TAP_API_DOWN: "driver taps while the API is down (SIGTERM; every instance)",
    Fault.PRESS_BOTH_DOWN: "help presses at S2 while both the API (every instance) and "
    "Mosquitto are down",
    Fault.ROGUE_SHARE: "a stop login joins $share groups on, and subscribes to, the "
    "server's filters (groups named after every instance too)",
    Fault.ROGUE_CLIENT_ID: "a stop login connects with the server's client id (each "
    "instance's in turn), clean start, again each time it is thrown out, while taps and "
    "presses are made",
}
#: Faults that need several API instances (one that leads and one that does not).
SEVERAL_ONLY = frozenset({Fault.API_KILL_FOLLOWER, Fault.API_RESTART_FOLLOWER})


def iter_faults(names: Sequence[str] | None, *, instances: int = 1) -> Iterator[Fault]:
    """The faults named (all of them that apply to ``instances`` for None), in the
    table's order."""
    usable = {f.value for f in Fault if instances > 1 or f not in SEVERAL_ONLY}
    wanted = set(names) if names else usable
    unknown = wanted - {f.value for f in Fault}
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
    single = wanted - usable
    if single:
        raise ValueError(f"{', '.join(sorted(single))}: needs several instances (--instances 2)")
    return (f for f in Fault if f.value in wanted)
