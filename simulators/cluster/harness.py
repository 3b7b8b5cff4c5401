"""The fault harness with several API instances: the same broker, PostgreSQL database,
display of V1, S2 gateway and riders, but N API processes behind a round-robin client,
a subscriber counting deliveries, and the timed duties read back."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from broker_config.registry import DeviceRegistry
from simulators.cluster.const import (
    DELIVERIES_MONITOR,
    TAKEOVER_WATCH_S,
    UNANSWERED_STOP,
    instance_names,
)
from simulators.cluster.deliveries import DeliveryCounter
from simulators.cluster.duties import DutyCheck, judge, read_duties
from simulators.cluster.instances import Cluster, Instance, Kill, RoundRobin, Takeover
from simulators.faults.const import Fault
from simulators.faults.harness import Harness, Options, Role
from simulators.faults.riders import Booking, Riders
from simulators.faults.waiting import Progress, until

__all__ = ["ClusterHarness", "KillPlan", "SpreadRiders", "plan_kill"]


@dataclass(frozen=True, slots=True)
class KillPlan:
    """When an instance dies: once this share of the bookings is answered, this much later."""

    fraction: float
    delay_s: float


def plan_kill(seed: int) -> KillPlan:
    """The kill's moment drawn from ``seed`` (the same seed, the same moment)."""
    rng = random.Random(seed)
    return KillPlan(fraction=rng.uniform(0.3, 0.7), delay_s=rng.uniform(0.0, 0.25))


class SpreadRiders(Riders):
    """The fault harness's riders, each request (and each retry) to the next live instance."""

    def __init__(self, cluster: Cluster, *, answer_within_s: float) -> None:
        super().__init__(cluster.instances[0].process, answer_within_s=answer_within_s)
        # The base class's client has opened nothing and is never used: every request
        # goes through the round-robin transport instead.
        self.transport = RoundRobin(cluster)
        self.client = httpx.AsyncClient(
            base_url="http://bushail-api", transport=self.transport, timeout=10.0
        )


class ClusterHarness(Harness):
    """Broker, PostgreSQL, ``instances`` API processes and the devices, as one ``async with``.

    ``ack_timeout_s`` None keeps the server's reminders out and the driver answers every
    alert (the fault scripts); a number lets S3's alerts go unanswered so that their
    reminders fall due (the take-over scenario). API faults hit the instance a
    :class:`KillPlan` says when (``plan``), and a leader's death is timed to the take-over.
    """

    def __init__(
        self,
        *,
        instances: int,
        workdir: Path,
        options: Options,
        postgres_url: str,
        ack_timeout_s: float | None,
        fault: Fault | None = None,
        plan: KillPlan | None = None,
    ) -> None:
        super().__init__(
            fault,
            database="postgresql",
            workdir=workdir,
            options=options,
            postgres_url=postgres_url,
        )
        self.names = instance_names(instances)
        self.ack_timeout_s = ack_timeout_s
        self.plan = plan or KillPlan(fraction=0.5, delay_s=0.0)
        #: What API faults hit ("api2 (leader)"), and the take-over after a leader's death.
        self.hits: list[str] = []
        self.takeover: Takeover | None = None
        # Set in __aenter__:
        self.cluster: Cluster
        self.deliveries: DeliveryCounter
        self.spread: SpreadRiders

    def registry(self) -> DeviceRegistry:
        base = super().registry()
        return DeviceRegistry(
            stops=base.stops,
            vehicles=base.vehicles,
            servers=set(self.names),
            monitors=base.monitors | {DELIVERIES_MONITOR},
        )

    def api_env(self, url: str) -> dict[str, str]:
        env = super().api_env(url)
        if self.ack_timeout_s is not None:
            # Reminders are the timed duty whose take-over is measured: let them come.
            env["BUSHAIL_API_ACK_TIMEOUT_S"] = str(self.ack_timeout_s)
        return env

    async def _start_api(self, url: str) -> None:
        self.cluster = await self._stack.enter_async_context(
            Cluster(names=self.names, env=self.api_env(url), workdir=self.workdir)
        )
        # Before the first booking: every copy of every call and alert is counted.
        self.deliveries = await self._stack.enter_async_context(DeliveryCounter(self.broker))
        self.spread = SpreadRiders(self.cluster, answer_within_s=self.answer_within_s)
        self.riders = self.spread
        self._stack.push_async_callback(self.spread.aclose)

    def driver_answers(self, booking: Booking) -> bool:
        # S3's alerts stay unanswered when reminders are on: each one's is a timed duty.
        return self.ack_timeout_s is None or booking.stop_id != UNANSWERED_STOP

    async def _api_connected(self) -> bool:
        healths = await self.cluster.healths()
        return bool(healths) and all(h is not None and h.broker_connected for h in healths.values())

    # -- the API faults, instance by instance --------------------------------------------
    @property
    def instances(self) -> int:
        return len(self.names)

    def server_names(self) -> list[str]:
        return list(self.names)

    async def moment(self, progress: Progress) -> None:
        await progress.reached(self.at(self.plan.fraction))
        # The random part of the moment: requests are in flight whenever it comes.
        await asyncio.sleep(self.plan.delay_s)

    async def _victim(self, role: Role) -> tuple[Instance, bool]:
        """The live instance in ``role``, and whether it is known to lead."""
        leader = await self.cluster.leader()
        live = self.cluster.live()
        if role == "leader":
            if leader is None:
                self.notes.append(
                    f"no instance reports leadership (no 'leader' in /healthz): hit {live[0].name}"
                )
            return leader or live[0], leader is not None
        followers = [i for i in live if i is not leader]
        if not followers:
            raise RuntimeError("no live instance that does not lead")
        return followers[0], False

    async def stop_api(self, *, kill: bool, role: Role = "leader") -> None:
        """SIGTERM or ``kill -9`` of the instance in ``role``; the delivery counter marks
        the moment, and a leader's death is timed until a survivor leads."""
        victim, was_leader = await self._victim(role)
        ended = await self.cluster.kill(victim, was_leader=was_leader, sigkill=kill)
        self.hits.append(f"{victim.name} ({'leader' if was_leader else 'follower'})")
        await self.deliveries.mark()
        if was_leader:
            self.takeover = await self.cluster.takeover(ended, within_s=TAKEOVER_WATCH_S)
            if self.takeover is None:
                self.notes.append(f"no survivor led within {TAKEOVER_WATCH_S:g} s of the fault")

    async def stop_all_apis(self) -> None:
        await asyncio.gather(*(self.cluster.stop(i) for i in self.cluster.live()))
        self.hits.append("every instance")
        await self.deliveries.mark()

    async def start_apis(self) -> None:
        """Every stopped instance started again, all at once (they race for the lead and,
        after an outage of all, for the events queued for each)."""
        stopped = [i for i in self.cluster.instances if not i.alive]
        await asyncio.gather(*(self.cluster.start(i) for i in stopped))

    async def kill_leader(self) -> Kill:
        """``kill -9`` of the instance that leads (the first live one when none says);
        the delivery counter marks the moment."""
        victim, was_leader = await self._victim("leader")
        kill = await self.cluster.kill(victim, was_leader=was_leader)
        await self.deliveries.mark()
        return kill

    async def duties(
        self, kill: Kill | None, takeover: Takeover | None, *, bound_s: float
    ) -> DutyCheck:
        """Judge the timed duties once every one due so far is done, or overdue by the bound."""
        engine = self._engine
        assert engine is not None  # noqa: S101 - set at start
        ack_timeout_s = self.ack_timeout_s
        assert ack_timeout_s is not None  # noqa: S101 - reminders on: the take-over scenario

        async def check() -> DutyCheck:
            duties = await asyncio.to_thread(read_duties, engine, ack_timeout_s=ack_timeout_s)
            return judge(
                duties,
                killed_at=kill.wall if kill else None,
                takeover_at=takeover.wall if takeover else None,
                observed_at=datetime.now(UTC),
                bound_s=bound_s,
            )

        async def settled() -> DutyCheck | None:
            result = await check()
            # The last bookings' reminders fall due after the burst: wait for them too.
            return result if result.waiting == 0 else None

        try:
            return await until(
                settled, timeout=bound_s + ack_timeout_s + 2, what="duties", interval=0.25
            )
        except TimeoutError:
            return await check()
