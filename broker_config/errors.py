"""The small exception tree of the protocol package."""

from __future__ import annotations


class BushailProtocolError(Exception):
    """Base of every error raised by broker_config."""


class InvalidIdError(BushailProtocolError, ValueError):
    """An id is not allowed in a topic (empty, too long, or has `/`, `+`, `#` ...)."""


class InvalidTopicError(BushailProtocolError, ValueError):
    """A topic string is not one of the v1 topics."""


class MalformedPayloadError(BushailProtocolError, ValueError):
    """A payload is not valid JSON or does not match its model."""


class MqttError(BushailProtocolError):
    """Base of the session-layer errors."""


class ConnectRefusedError(MqttError):
    """The broker refused the login (bad username/password, not authorised ...)."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(f"broker refused the connection: {reason} ({code})")
        self.reason = reason
        self.code = code


class PublishRefusedError(MqttError):
    """The broker answered a QoS 1 publish with a failure reason code (e.g. 135)."""

    def __init__(self, topic: str, reason: str, code: int) -> None:
        super().__init__(f"broker refused publish to {topic!r}: {reason} ({code})")
        self.topic = topic
        self.reason = reason
        self.code = code


class SubscribeRefusedError(MqttError):
    """The broker answered a SUBSCRIBE with a failure reason code for some filters."""

    def __init__(self, filters: list[str]) -> None:
        super().__init__(f"broker refused subscriptions: {filters}")
        self.filters = filters


class OutgoingQueueFullError(MqttError):
    """Too many messages are waiting for the broker; the caller must slow down."""


class SessionClosedError(MqttError):
    """The session was closed while a call was waiting."""
