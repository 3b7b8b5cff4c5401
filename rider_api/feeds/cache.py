"""A published feed built at most once a second, its bytes kept for every client.

Each build gets a fresh header timestamp. Its validator is a **weak** ETag over the
entities alone (the header left out): while what the feed says is unchanged, the ETag
and ``Last-Modified`` stay the same and a client's ``If-None-Match`` gets 304, though
the bytes it holds carry an older header timestamp (weak: the same content, not the
same bytes, RFC 9110 8.8.1).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.transit import gtfs_realtime_pb2

__all__ = ["FeedCache", "FeedCopy"]


class FeedCopy:
    """One build: the message, its protobuf bytes, JSON on demand, and its validators."""

    __slots__ = ("_json", "digest", "last_modified", "message", "pb")

    def __init__(self, message: Any, digest: str, last_modified: float) -> None:
        self.message = message
        self.pb: bytes = message.SerializeToString()
        self.digest = digest
        #: POSIX time the content last changed.
        self.last_modified = last_modified
        self._json: bytes | None = None

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = json_format.MessageToJson(
                self.message, preserving_proto_field_name=True, indent=1
            ).encode()
        return self._json

    def etag(self, *, json: bool = False) -> str:
        return f'W/"{self.digest}{"-json" if json else ""}"'


def _digest(message: Any) -> str:
    body = gtfs_realtime_pb2.FeedMessage()
    body.CopyFrom(message)
    body.header.ClearField("timestamp")
    return hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()[:32]


class FeedCache:
    """``await cache.get()``: the current copy, built anew when older than ``max_age_s``
    (one build at a time; clients arriving meanwhile get its result)."""

    def __init__(
        self,
        build: Callable[[float], Awaitable[Any]],
        *,
        max_age_s: float = 1.0,
        on_build: Callable[[], None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._build = build
        self._max_age_s = max_age_s
        self._on_build = on_build
        self._monotonic = monotonic
        self._wall = wall
        self._copy: FeedCopy | None = None
        self._built_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> FeedCopy | None:
        copy = self._copy
        if copy is not None and self._monotonic() - self._built_at < self._max_age_s:
            return copy
        return None

    async def get(self) -> FeedCopy:
        if (copy := self._fresh()) is not None:
            return copy
        async with self._lock:
            if (copy := self._fresh()) is not None:
                return copy
            now = self._wall()
            message = await self._build(now)
            digest = _digest(message)
            old = self._copy
            same = old is not None and old.digest == digest
            copy = FeedCopy(message, digest, old.last_modified if same and old else float(int(now)))
            self._copy, self._built_at = copy, self._monotonic()
            self._on_build()
            return copy
