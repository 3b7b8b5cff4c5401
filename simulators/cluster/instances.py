"""Several ``bushail-api`` processes on one database and one broker.

Each instance has its own name (``BUSHAIL_API_INSTANCE``), its own broker logins
(``server.{name}``, ``monitor.{name}``), state folder, port and log file. ``Cluster``
starts them as one ``async with``, reads their ``/healthz`` (which one is the leader),
kills one with SIGKILL and measures how long the survivors take to elect another.
``RoundRobin`` is the client side of a load balancer: each HTTP request, and each retry,
goes to the next live instance.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from broker_config.topics import Owner, login_for
from simulators.faults.processes import ApiProcess

__all__ = ["Cluster", "Health", "Instance", "Kill", "RoundRobin", "Takeover"]


@dataclass(frozen=True, slots=True)
class Health:
    """One instance's ``/healthz``."""

    instance: str
    broker_connected: bool
    #: None: the instance does not say (a server without leader election).
    leader: bool | None


@dataclass
class Instance:
    name: str
    process: ApiProcess
    alive: bool = False

    @property
    def url(self) -> str:
        return self.process.url


@dataclass(frozen=True, slots=True)
class Kill:
    """A ``kill -9``: whom, when (monotonic and wall clock), and whether it led."""

    instance: str
    at: float
    wall: datetime
    was_leader: bool


@dataclass(frozen=True, slots=True)
class Takeover:
    """The first survivor seen reporting ``leader: true`` after a kill, and after how long."""

    instance: str
    seconds: float
    wall: datetime


class Cluster:
    """``async with Cluster(names=..., env=..., workdir=...)``: one API process per name,
    started together, each answering with its broker session up; leaving stops them."""

    def __init__(
        self,
        *,
        names: list[str],
        env: dict[str, str],
        workdir: Path,
        log_level: str = "info",
    ) -> None:
        self.instances = [
            Instance(
                name,
                ApiProcess(
                    env={
                        **env,
                        "BUSHAIL_API_INSTANCE": name,
                        "BUSHAIL_API_MQTT_USERNAME": login_for(Owner.SERVER, name),
                        "BUSHAIL_API_STATE_DIR": str(workdir / name),
                    },
                    log_path=workdir / f"api-{name}.log",
                    log_level=log_level,
                ),
            )
            for name in names
        ]
        self._client = httpx.AsyncClient(timeout=2.0)

    async def __aenter__(self) -> Self:
        try:
            # Every start runs to its end (up, or failed) before a failure is raised.
            results = await asyncio.gather(
                *(self.start(i) for i in self.instances), return_exceptions=True
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await asyncio.gather(*(self.stop(i) for i in self.instances))
        await self._client.aclose()

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.alive]

    def named(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    async def start(self, instance: Instance) -> None:
        """Start (or start again) one instance; returns once its broker session is up."""
        await instance.process.start()
        instance.alive = True

    async def stop(self, instance: Instance) -> None:
        instance.alive = False
        await instance.process.stop()

    async def health(self, instance: Instance) -> Health | None:
        """Its ``/healthz``, or None when it does not answer."""
        try:
            body = (await self._client.get(f"{instance.url}/healthz")).json()
        except (httpx.HTTPError, ValueError):
            return None
        leader = body.get("leader")
        return Health(
            instance=str(body.get("instance", instance.name)),
            broker_connected=bool(body.get("broker_connected")),
            leader=leader if isinstance(leader, bool) else None,
        )

    async def healths(self) -> dict[str, Health | None]:
        """Every live instance's ``/healthz``, by name."""
        live = self.live()
        answers = await asyncio.gather(*(self.health(i) for i in live))
        return {i.name: h for i, h in zip(live, answers, strict=True)}

    async def leader(self, *, timeout: float = 10.0) -> Instance | None:
        """The live instance that says it leads, waiting for one up to ``timeout``; None
        at once when no instance reports leadership at all (no ``leader`` in /healthz)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            healths = await self.healths()
            leaders = [n for n, h in healths.items() if h is not None and h.leader]
            if leaders:
                return self.named(leaders[0])
            if all(h is not None and h.leader is None for h in healths.values()):
                return None
            if loop.time() >= deadline:
                raise TimeoutError(f"no instance became the leader within {timeout:g} s")
            await asyncio.sleep(0.05)

    async def leaders(self) -> collections.Counter[bool | None]:
        """How many live instances say they lead, do not, or do not say."""
        return collections.Counter(
            h.leader if h is not None else None for h in (await self.healths()).values()
        )

    async def kill(self, instance: Instance, *, was_leader: bool, sigkill: bool = True) -> Kill:
        """``kill -9`` (or SIGTERM: ``sigkill=False``) of one instance; it leaves the
        rotation at once."""
        at, wall = time.monotonic(), datetime.now(UTC)
        instance.alive = False
        await (instance.process.kill() if sigkill else instance.process.stop())
        return Kill(instance.name, at, wall, was_leader)

    async def takeover(self, kill: Kill, *, within_s: float) -> Takeover | None:
        """Poll the survivors' ``/healthz`` until one says it leads: the take-over time
        from the kill. None when none does within ``within_s``."""
        deadline = kill.at + within_s
        while time.monotonic() < deadline:
            for name, health in (await self.healths()).items():
                if health is not None and health.leader:
                    return Takeover(name, time.monotonic() - kill.at, datetime.now(UTC))
            await asyncio.sleep(0.02)
        return None


class RoundRobin(httpx.AsyncBaseTransport):
    """Each request to the next live instance of ``cluster``, as a load balancer in front
    of them would; a request to an instance that has just died fails like a dropped
    connection, and the client's retry goes to the next one."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._turn = itertools.count()
        self._inner = httpx.AsyncHTTPTransport()
        #: Requests sent to each instance, by name.
        self.sent: collections.Counter[str] = collections.Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        live = self._cluster.live()
        if not live:
            raise httpx.ConnectError("no live API instance", request=request)
        instance = live[next(self._turn) % len(live)]
        port = instance.process.port
        request.url = request.url.copy_with(host="127.0.0.1", port=port)
        request.headers["Host"] = f"127.0.0.1:{port}"
        self.sent[instance.name] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self._inner.aclose()
