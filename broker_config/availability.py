"""A session's availability: the retained birth/will DeviceStatus and its session number.

Each connection gets a ``session`` number above every earlier one, across process
restarts too (it is at least the wall clock in milliseconds), so a reader of the
retained status can tell the will of an old connection from the birth of a new one.
"""

from __future__ import annotations

import time
from datetime import datetime

import paho.mqtt.client as paho

from broker_config.messages import DeviceState, DeviceStatus, encode

__all__ = ["Availability"]


class Availability:
    """The status a session announces on ``topic`` (None: it announces none)."""

    def __init__(self, topic: str | None, version: str) -> None:
        self.topic = topic
        self.version = version
        #: The number of the latest connection (0 before the first).
        self.session_number = 0

    def next_session(self) -> int:
        """Number the connection about to be opened."""
        self.session_number = max(self.session_number + 1, time.time_ns() // 1_000_000)
        return self.session_number

    def status(self, state: DeviceState, started_at: datetime) -> DeviceStatus:
        return DeviceStatus(
            state=state,
            session=self.session_number,
            version=self.version,
            started_at=started_at,
        )

    def set_will(self, client: paho.Client, started_at: datetime) -> None:
        """Have the broker publish OFFLINE for this connection if it dies without a word."""
        if not self.topic:
            return
        will = self.status(DeviceState.OFFLINE, started_at)
        client.will_set(self.topic, encode(will), qos=1, retain=True)
