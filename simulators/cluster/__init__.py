"""No single point of failure: several API instances, one killed under load.

The fault harness (``simulators.faults``) with N ``bushail-api`` processes instead of one,
all on one scratch PostgreSQL database and one managed Mosquitto, each with its own
instance name (``api1``, ``api2`` ...), broker logins (``server.{name}``,
``monitor.{name}``), port and log. Bus V1 stands at S1 with its real driver display, the
real S2 gateway runs beside it, and the riders book and cancel through every instance in
turn (each HTTP request, and each retry, to the next live one). Driver taps and help
presses go over MQTT, which every instance hears.

Then, at a moment drawn from a seed (print it: the same seed, the same moment), the
instance whose ``/healthz`` says ``"leader": true`` is killed with SIGKILL while bookings
are in flight, and the rest of the bookings go to the survivors. The run measures the
**take-over**: from the kill until a survivor's ``/healthz`` says it leads. Once everything
has settled it counts:

- **reservations lost**: answered 201 but not in the database (and the whole fault
  audit: retained calls and alerts, what the display and gateway hold, events applied);
- **duplicated transitions**: more than one history row for a (reservation, status);
- **duplicate deliveries**: a subscriber counts every StopCall and DriverAlert by (topic,
  seq); a second copy on the same side of the kill is a duplicate in the normal case,
  one published before the kill and again after it is counted apart (a crash may), and
  two different messages under one seq are a seq conflict (a change written over);
- **stuck**: outbox rows never sent, events still held by the devices;
- **timed duties**: the driver leaves S3's alerts unanswered, so each one's reminder
  falls due ``ACK_TIMEOUT_S`` after it went out; with every outbox row (delayed clearings
  of ended calls included) each is a duty with a due time and a done time. Those the
  dead leader had not done when it died must be done by a survivor within 10 s of
  falling due.

``run_instances`` runs it and returns an :class:`InstancesReport`; ``format_table`` prints
reports (``bench/bench_instances.py``, ``tests/simulators/test_instances.py``).
``run_fault_on_instances`` runs any fault of ``simulators.faults`` on several instances
(``simulators.cluster.faults``; ``bench/bench_faults.py --instances N``).
"""

from __future__ import annotations

from simulators.cluster.const import TAKEOVER_BOUND_S, instance_names
from simulators.cluster.faults import run_fault_on_instances
from simulators.cluster.harness import KillPlan, plan_kill
from simulators.cluster.report import InstancesReport, format_table
from simulators.cluster.run import run_instances

__all__ = [
    "TAKEOVER_BOUND_S",
    "InstancesReport",
    "KillPlan",
    "format_table",
    "instance_names",
    "plan_kill",
    "run_fault_on_instances",
    "run_instances",
]
