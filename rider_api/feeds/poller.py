"""One agency GTFS-Realtime feed, fetched on a timer.

Polite to the agency: a conditional GET (``If-None-Match`` / ``If-Modified-Since`` from
the last good copy), a timeout, a bounded body, and on errors an exponential back-off
with jitter (``Retry-After`` honoured up to the cap). Robust to the feed: a bad copy (not
protobuf, another major version, an HTTP error, a timeout) and bad entities are counted
by kind and logged once per kind, never raised; the last good positions stay in the
fleet view and age out there.

The poller decodes (``decode``) and hands the positions to a ``sink``; what it does with
them (the freshness arbitration, the dispatcher) is the hub's business.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from google.transit import gtfs_realtime_pb2

from broker_config.messages import VehiclePosition
from rider_api.feeds import decode
from rider_api.feeds.mapping import VehicleMapping
from rider_api.feeds.metrics import FeedMetrics
from rider_api.network.view import NetworkView

__all__ = ["FeedKind", "FeedPoller", "FeedStatus", "PollSettings", "feed_name"]

logger = logging.getLogger(__name__)

FeedKind = Literal["vehicle_positions", "trip_updates"]
#: Gets the decoded positions; returns how many entered the fleet view.
Sink = Callable[[str, dict[str, VehiclePosition]], Awaitable[int]]


def feed_name(kind: FeedKind, url: str) -> str:
    """A label for logs, metrics and the console: never the query string, which often
    carries the agency's API key."""
    parts = urlsplit(url)
    return f"{kind}:{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


@dataclass(frozen=True, slots=True)
class PollSettings:
    poll_s: float = 15.0
    timeout_s: float = 10.0
    max_backoff_s: float = 300.0
    max_bytes: int = 16 * 1024 * 1024
    max_age_s: float = 180.0
    max_future_s: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class FeedStatus:
    """One console line: how the feed is doing."""

    name: str
    kind: FeedKind
    #: Wall-clock times of the last attempt and the last good fetch.
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    #: Entities in the last good copy, and how many positions of it applied.
    entities: int = 0
    applied: int = 0
    #: Age of the last good copy's content (now - its header timestamp) when fetched.
    feed_age_s: float | None = None
    #: Errors in a row (0 once a fetch succeeds), and the last one's kind.
    errors: int = 0
    last_error: str | None = None
    #: Everything counted so far, by kind (errors and entities left out).
    problems: Counter[str] = field(default_factory=Counter)


class FeedPoller:
    """``await poller.poll_once()`` fetches and applies one copy and returns the seconds
    to wait before the next; ``run()`` does that forever (a task the hub keeps)."""

    def __init__(
        self,
        *,
        kind: FeedKind,
        url: str,
        client: httpx.AsyncClient,
        settings: PollSettings,
        network: Callable[[], NetworkView],
        mapping: VehicleMapping,
        sink: Sink,
        metrics: FeedMetrics,
        trips_of: Callable[[], Mapping[str, str]] = dict,
        reported: Callable[[], frozenset[str]] = frozenset,
        rng: random.Random | None = None,
    ) -> None:
        self.kind, self.url, self.client, self.settings = kind, url, client, settings
        self.name = feed_name(kind, url)
        self.network, self.mapping, self.sink, self.metrics = network, mapping, sink, metrics
        self.trips_of, self.reported = trips_of, reported
        self.status = FeedStatus(self.name, kind)
        #: Feed vehicle id -> trip id, from the last good copy (TripUpdates).
        self.trips: dict[str, str] = {}
        #: BusHail ids the last good copy gave positions of.
        self.vehicles: frozenset[str] = frozenset()
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._logged: set[str] = set()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._last_success = time.monotonic()
        metrics.last_success_age.labels(feed=self.name).set_function(
            lambda: time.monotonic() - self._last_success
        )

    # -- running ---------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                delay = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the feed for good
                logger.exception("feed %s: poll failed", self.name)
                delay = self._failed("internal")
            await asyncio.sleep(delay)

    async def poll_once(self) -> float:
        """Fetch, decode and apply one copy; the seconds until the next attempt."""
        self.status.last_fetch_at = datetime.now(UTC)
        headers = dict(self.settings.headers)
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        try:
            body, response = await self._fetch(headers)
        except (TimeoutError, httpx.TimeoutException):
            return self._failed("timeout")
        except _TooLargeError:
            return self._failed("too_large")
        except httpx.HTTPError as exc:
            return self._failed("unreachable", detail=type(exc).__name__)
        if response.status_code == 304:
            self.metrics.fetches.labels(feed=self.name, result="not_modified").inc()
            return self._succeeded()
        if response.status_code != 200:
            return self._failed(
                "http_error",
                detail=f"HTTP {response.status_code}",
                retry_after=response.headers.get("Retry-After"),
            )
        feed = gtfs_realtime_pb2.FeedMessage()
        try:
            feed.ParseFromString(body)
        except (DecodeError, RuntimeWarning, ValueError):
            return self._failed("not_protobuf")
        if (problem := decode.header_problem(feed)) is not None:
            return self._failed(problem, detail=repr(feed.header.gtfs_realtime_version)[:20])
        await self._apply(feed)
        self._etag = response.headers.get("ETag")
        self._last_modified = response.headers.get("Last-Modified")
        self.metrics.fetches.labels(feed=self.name, result="ok").inc()
        return self._succeeded()

    async def _fetch(self, headers: dict[str, str]) -> tuple[bytes, httpx.Response]:
        limit = self.settings.max_bytes
        async with (
            asyncio.timeout(self.settings.timeout_s),
            self.client.stream(
                "GET", self.url, headers=headers, timeout=self.settings.timeout_s
            ) as response,
        ):
            chunks: list[bytes] = []
            size = 0
            if response.status_code == 200:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _TooLargeError
                    chunks.append(chunk)
            return b"".join(chunks), response

    async def _apply(self, feed: Any) -> None:
        now = time.time()
        network = self.network()
        args: dict[str, Any] = {
            "network": network,
            "mapping": self.mapping,
            "now": now,
            "max_age_s": self.settings.max_age_s,
            "max_future_s": self.settings.max_future_s,
        }
        if self.kind == "trip_updates":
            decoded = decode.trip_updates(feed, reported=self.reported(), **args)
            self.trips = decoded.trips
        else:
            decoded = decode.vehicle_positions(feed, trips_of=self.trips_of(), **args)
            self.vehicles = frozenset(decoded.positions)
        for kind, n in decoded.problems.items():
            self._count(kind, n, detail=f"{n} of {decoded.entities} entities")
        applied = await self.sink(self.name, decoded.positions)
        self.metrics.entities.labels(feed=self.name).set(decoded.entities)
        self.metrics.applied.labels(feed=self.name).inc(applied)
        if feed.header.timestamp:
            age = now - float(feed.header.timestamp)
            self.status.feed_age_s = age
            self.metrics.feed_age.labels(feed=self.name).set(age)
        self.status.entities, self.status.applied = decoded.entities, applied

    # -- outcomes ----------------------------------------------------------------------
    def _count(self, kind: str, n: int = 1, *, detail: str = "") -> None:
        self.status.problems[kind] += n
        self.metrics.problems.labels(feed=self.name, kind=kind).inc(n)
        if kind not in self._logged:
            self._logged.add(kind)
            logger.warning(
                "feed %s: %s%s (logged once; counted in bushail_gtfs_rt_problems_total)",
                self.name,
                kind,
                f" ({detail})" if detail else "",
            )

    def _succeeded(self) -> float:
        if self.status.errors:
            logger.info("feed %s: fetched again after %d error(s)", self.name, self.status.errors)
        self.status.errors, self.status.last_error = 0, None
        self.status.last_success_at = datetime.now(UTC)
        self._last_success = time.monotonic()
        return self.settings.poll_s

    def _failed(self, kind: str, *, detail: str = "", retry_after: str | None = None) -> float:
        self._count(kind, detail=detail)
        self.metrics.fetches.labels(feed=self.name, result="error").inc()
        self.status.errors += 1
        self.status.last_error = kind
        s = self.settings
        ceiling = min(s.max_backoff_s, s.poll_s * 2 ** min(self.status.errors, 30))
        delay = max(s.poll_s, ceiling * self._rng.uniform(0.5, 1.0))
        if retry_after is not None and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), s.max_backoff_s))
        return float(delay)


class _TooLargeError(Exception):
    """The body passed ``max_bytes``."""
