"""Fault injection: nothing lost, whatever fails.

One scenario per fault, each against its own fresh Mosquitto (the managed broker), a
fresh database (a SQLite file, or a scratch PostgreSQL database created and dropped
here) and the real API as a process of its own (``bushail-api serve``, ended by its PID,
with SIGKILL where the fault says ``kill -9``). Beside them run the real driver display
of bus V1 and the real stop gateway of S2 in this process, and for the gateway faults
the real ``bushail-gateway`` of S3 as a process whose keypad is its stdin. Every run
leaves its logs in its work directory: ``api.log``, ``broker.log``, ``gateway-*.log``
and ``harness.log`` (this process: the devices and the harness).

The network is one route, R1, over stops S1..S5 in both directions. Bus V1 stands at
S1 in direction 0 (its GPS says so every second). Each rider books four times: at S3
and S4 in direction 0 (assigned to V1: a DriverAlert the driver acknowledges with one
tap), at S2 ("arriving") and at S5 in direction 1 (no bus: pending). The S5 bookings and
every other S2 one are cancelled by their rider right after the answer, so calls and
alerts also end. Every request is retried (the booking with its ``Idempotency-Key``)
until it is answered, whatever fails.

Each fault script (see ``FAULTS``) runs the booking burst and injects its fault when a
given number of bookings have been answered (events, not timers), heals it, and makes
its device events (driver taps, help presses) before, during and after. Then the
harness waits, polling with a bound (``settle_s``), until everything agrees, and counts:

- **bookings** answered to the client; each must be in the database exactly once
  (``lost``: no answer, or not stored; ``duplicated``: stored twice);
- **effects**: for every reservation, its retained StopCall (and DriverAlert, when a bus
  has it) as a fresh subscriber sees it on the broker, with the database's status
  (``lost`` when missing or wrong), and none for ended ones (``stuck``); the same for
  what the S2 gateway and V1's display hold; a cancel that was answered must have
  cancelled;
- **events** made (taps the display took, presses the gateway took): each applied
  exactly once (its id processed, one "acknowledged" history row, one help incident);
- **stuck**: outbox rows the relay never sent, stale retained messages or device state,
  events the devices still hold at the end, an API not connected to the broker.

``run_fault`` runs one scenario and returns a :class:`FaultReport`; ``format_table``
prints reports as the benchmark's table (``bench/bench_faults.py``).

The scripts reach the API only through the harness (``stop_api`` of the leader or of an
instance that does not lead, ``stop_all_apis``, ``start_apis``, ``moment``), so the same
scripts run on several instances: ``simulators.cluster.run_fault_on_instances`` (its
module says what each fault means there; ``api-kill-follower`` and
``api-restart-follower`` exist only there). Every run also counts history rows written
twice for one (reservation, status).
"""

from __future__ import annotations

from simulators.faults.const import FAULT_TEXT, DatabaseKind, Fault, iter_faults
from simulators.faults.report import FaultReport, Several, format_table
from simulators.faults.run import run_fault

__all__ = [
    "FAULT_TEXT",
    "DatabaseKind",
    "Fault",
    "FaultReport",
    "Several",
    "format_table",
    "iter_faults",
    "run_fault",
]
