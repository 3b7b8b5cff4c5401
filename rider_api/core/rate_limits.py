"""Per-client rate limits on what anyone may repeat: signing up, voice requests, searches.

Each limit is a token bucket per client address: a bucket holds ``count`` tokens, an
action takes one, and tokens come back at ``count`` per ``per_s`` seconds. A client that
was quiet may act ``count`` times in a row; one that keeps going is held to the average
rate, and is told exactly when its next token comes (``Retry-After``). A bucket is two
floats, and a refused request takes nothing: hammering a spent limit does not push the
wait back, and retrying at the time given always succeeds.

Buckets are kept for at most ``clients`` addresses, the least recently seen forgotten
first: memory stays bounded under a flood from many addresses, and a forgotten address
starts again with a full bucket (it had been quiet the longest). IPv6 clients are
counted per /64 network, the block one subscriber gets, or one client could step
through its own addresses and never meet a limit.

Pure: no I/O, and the clock is injected (monotonic seconds), so tests need no sleeps.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from rider_api.core.cache import LruCache

__all__ = ["ClientLimits", "Clock", "Limited", "Rate", "RateLimiter", "client_key"]

#: Monotonic seconds.
Clock = Callable[[], float]

# Float sums of refills may land a hair under a whole token at the moment promised.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` actions per ``per_s`` seconds."""

    count: int
    per_s: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.per_s > 0:
            raise ValueError(f"a rate needs count >= 1 and per_s > 0, not {self}")

    def describe(self) -> str:
        """'5 per hour', '30 per minute', '7 per 90 s': for messages and logs."""
        units = {3600.0: "hour", 60.0: "minute", 1.0: "second", 86400.0: "day"}
        unit = units.get(float(self.per_s))
        return f"{self.count} per {unit}" if unit else f"{self.count} per {self.per_s:g} s"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """One limit (sign-ups, say) for every client, a token bucket per client key."""

    def __init__(self, rate: Rate, *, clients: int, clock: Clock = time.monotonic) -> None:
        if clients < 1:
            raise ValueError("a limiter must remember at least one client")
        self.rate = rate
        self.clock = clock
        self._buckets: LruCache[str, _Bucket] = LruCache(clients)

    def take(self, key: str) -> int:
        """Take a token for ``key``: 0 if the action may go ahead, else the whole seconds
        (at least 1) until it may; a refused action takes nothing."""
        now = self.clock()
        capacity = float(self.rate.count)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=capacity, at=now)
        else:
            refill = (now - bucket.at) * self.rate.count / self.rate.per_s
            bucket.tokens = min(capacity, bucket.tokens + max(0.0, refill))
            bucket.at = now
        self._buckets.put(key, bucket)
        if bucket.tokens >= 1.0 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return 0
        missing = 1.0 - bucket.tokens
        return max(1, math.ceil(missing * self.rate.per_s / self.rate.count - _EPSILON))


class Limited(StrEnum):
    """What a per-client limit counts."""

    SIGN_UP = "sign_up"
    VOICE = "voice"
    SEARCH = "search"


class ClientLimits:
    """The server's per-client limits, one :class:`RateLimiter` for each kind of action,
    built once at start-up."""

    def __init__(
        self, rates: Mapping[Limited, Rate], *, clients: int, clock: Clock = time.monotonic
    ) -> None:
        missing = set(Limited) - set(rates)
        if missing:
            raise ValueError(f"no rate for {sorted(missing)}")
        self._limiters = {
            kind: RateLimiter(rate, clients=clients, clock=clock) for kind, rate in rates.items()
        }

    def rate(self, kind: Limited) -> Rate:
        return self._limiters[kind].rate

    def take(self, kind: Limited, key: str) -> int:
        """:meth:`RateLimiter.take` of the limit on ``kind``."""
        return self._limiters[kind].take(key)


def client_key(peer: str | None, forwarded_for: Iterable[str], *, trusted_proxies: int) -> str:
    """The address a client's limits are counted against.

    ``peer`` is the connection's remote address; ``forwarded_for`` the values of the
    request's ``X-Forwarded-For`` headers. With no trusted proxy (0) the header is
    ignored: anyone can write it. Behind ``n`` trusted proxies, each appending the
    address it saw, the client is the ``n``-th address from the right, the one our
    outermost proxy saw; what stands left of it was written by the client and is never
    read. IPv4-mapped IPv6 counts as IPv4, other IPv6 per /64.
    """
    address = peer
    if trusted_proxies > 0:
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        if hops:
            address = hops[-trusted_proxies] if len(hops) >= trusted_proxies else hops[0]
    if not address:
        return "unknown"
    return _normalise(address)


def _normalise(address: str) -> str:
    try:
        ip = ipaddress.ip_address(_without_port(address))
    except ValueError:
        return address[:64]  # a name or an unknown token: counted as written, bounded
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _without_port(address: str) -> str:
    """'192.0.2.1:4711' -> '192.0.2.1', '[2001:db8::1]:80' -> '2001:db8::1'."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address
