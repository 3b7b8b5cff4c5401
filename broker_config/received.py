"""What a session hands its handlers, and which handlers a received topic goes to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from broker_config.topics import ParsedTopic, topic_matches

__all__ = ["Handler", "ReceivedMessage", "Subscriptions"]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as delivered to a handler.

    ``parsed`` is the topic as ``Topics.parse`` splits it (kind, device id, reservation
    id), or None when the topic is not a v1 topic under the session's root (a test or
    tool topic, a malformed id): such a message is still delivered, and a handler that
    needs the parts logs and drops it. ``received_at`` is the ``time.monotonic()`` at
    which the session read the message off the socket (before any queueing).
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool
    parsed: ParsedTopic | None
    received_at: float


Handler = Callable[[ReceivedMessage], Awaitable[None]]


class Subscriptions:
    """Every ``subscribe`` of a session, in order: kept to re-subscribe after reconnects."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, int, Handler]] = []

    def add(self, topic_filter: str, qos: int, handler: Handler) -> None:
        self._entries.append((topic_filter, qos, handler))

    def remove(self, topic_filter: str, handler: Handler) -> None:
        """Forget one ``add`` (a subscription the broker refused)."""
        self._entries = [e for e in self._entries if not (e[0] == topic_filter and e[2] is handler)]

    def filters(self) -> list[tuple[str, int]]:
        """Each filter once, at the QoS it was last subscribed with."""
        wanted = {f: q for f, q, _h in self._entries}
        return list(wanted.items())

    def handlers_for(self, topic: str) -> list[Handler]:
        """The handlers whose filter matches ``topic``, in the order they subscribed."""
        return [h for f, _q, h in self._entries if topic_matches(f, topic)]
