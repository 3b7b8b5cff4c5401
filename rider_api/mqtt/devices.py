"""What operators see of every device: retained status (birth/will) and last health."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from broker_config.logsafe import escape
from broker_config.messages import (
    DeviceHealth,
    DeviceState,
    DeviceStatus,
    decode,
    decode_or_clear,
    utcnow,
)
from broker_config.session import ReceivedMessage
from broker_config.topics import Owner, Topics

__all__ = ["DeviceBoard", "DeviceRecord"]

logger = logging.getLogger(__name__)


@dataclass
class DeviceRecord:
    kind: str  # "stop" | "vehicle" | "server"
    device_id: str
    state: DeviceState = DeviceState.OFFLINE
    session: int = 0
    version: str | None = None
    since: datetime | None = None
    started_at: datetime | None = None
    health: DeviceHealth | None = None
    health_at: datetime | None = None

    def stale(self, now: datetime, heartbeat_s: float) -> bool:
        """Online by the broker's word, but no heartbeat for a while."""
        if self.state is not DeviceState.ONLINE:
            return False
        last = self.health_at or self.since
        return last is not None and (now - last).total_seconds() > heartbeat_s


class DeviceBoard:
    """Kept up to date from ``+/+/status`` and ``+/+/health``; read by /v1/ops/devices."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.records: dict[tuple[str, str], DeviceRecord] = {}

    def _record(self, owner: Owner, device_id: str) -> DeviceRecord:
        kind = {Owner.STOP: "stop", Owner.VEHICLE: "vehicle", Owner.SERVER: "server"}[owner]
        key = (kind, device_id)
        rec = self.records.get(key)
        if rec is None:
            rec = self.records[key] = DeviceRecord(kind, device_id)
        return rec

    async def on_status(self, msg: ReceivedMessage) -> None:
        parsed = msg.parsed
        if parsed is None:
            logger.warning("ignored status on %s: not a v1 topic", escape(msg.topic))
            return
        status = decode_or_clear(DeviceStatus, msg.payload)
        if status is None:
            return
        rec = self._record(parsed.spec.owner, parsed.device_id)
        if status.session < rec.session:
            return  # an older session's will arriving late
        if status.session == rec.session and status.state is DeviceState.ONLINE:
            if rec.state is DeviceState.OFFLINE:
                return  # the will of this session already arrived: it is gone
        changed = rec.state is not status.state or rec.session != status.session
        rec.session = status.session
        rec.version = status.version
        rec.started_at = status.started_at
        if changed:
            rec.state = status.state
            rec.since = utcnow()
            logger.info("device %s %s is %s", rec.kind, rec.device_id, rec.state.value)

    async def on_health(self, msg: ReceivedMessage) -> None:
        parsed = msg.parsed
        if parsed is None:
            logger.warning("ignored health on %s: not a v1 topic", escape(msg.topic))
            return
        health = decode(DeviceHealth, msg.payload)
        rec = self._record(parsed.spec.owner, parsed.device_id)
        rec.health = health
        rec.health_at = utcnow()

    def stop_online(self, stop_id: str) -> bool | None:
        """None when the gateway was never heard of."""
        rec = self.records.get(("stop", stop_id))
        return None if rec is None else rec.state is DeviceState.ONLINE

    def online_count(self, kind: str) -> int:
        return sum(
            1 for r in self.records.values() if r.kind == kind and r.state is DeviceState.ONLINE
        )
