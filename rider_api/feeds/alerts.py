"""BusHail's GTFS-Realtime Alerts: what only BusHail knows about its stops.

- A stop whose talking gateway is offline (its retained status says so): an
  ``ACCESSIBILITY_ISSUE`` for that stop, from the moment it went offline, until it is
  back. Blind riders' apps can then warn that the stop will not speak.
- An operator's announcement (API or console broadcast) of the last
  ``gtfs_rt_broadcast_alert_s``: one alert for all the stops it went to, its text as the
  header, active from when it was sent for that long. Read from the outbox, where every
  announcement is written (the same on every instance).

Every text in zh-TW and en (the contract's two languages), each with its language code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from google.transit import gtfs_realtime_pb2
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from broker_config.errors import BushailProtocolError
from broker_config.messages import Announcement, DeviceState, Localized, decode
from broker_config.topics import TopicKind, Topics
from rider_api.feeds.publish import new_feed
from rider_api.models import OutboxMessage
from rider_api.mqtt.devices import DeviceBoard
from rider_api.network.view import NetworkView

__all__ = ["Broadcast", "OfflineStop", "alerts_feed", "offline_stops", "recent_broadcasts"]

Alert = gtfs_realtime_pb2.Alert
_OFFLINE_HEADER: Final = Localized.model_validate(
    {"zh-TW": "{zh}：語音站牌暫停服務", "en": "{en}: talking bus stop out of service"}
)
_OFFLINE_TEXT: Final = Localized.model_validate(
    {
        "zh-TW": "本站為視障乘客報站的語音設備暫時無法使用。預約仍會通知司機；"
        "請留意進站公車，或請他人協助。",
        "en": "The stop's spoken arrivals for blind and low-vision riders are not working. "
        "Bookings still reach the driver; listen for the bus or ask for help.",
    }
)


@dataclass(frozen=True, slots=True)
class OfflineStop:
    stop_id: str
    #: POSIX time it went offline, when known.
    since: float | None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One operator announcement, with every stop it was sent to."""

    key: str
    stop_ids: tuple[str, ...]
    text: Localized
    priority: str
    sent_at: float


def offline_stops(devices: DeviceBoard, network: NetworkView) -> list[OfflineStop]:
    """Gateways of the network's stops last heard to be offline (never heard: not listed)."""
    return [
        OfflineStop(rec.device_id, rec.since.timestamp() if rec.since else None)
        for (kind, stop_id), rec in sorted(devices.records.items())
        if kind == "stop" and stop_id in network.stops and rec.state is DeviceState.OFFLINE
    ]


async def recent_broadcasts(
    session: AsyncSession, topics: Topics, *, since: dt.datetime, limit: int = 5000
) -> list[Broadcast]:
    """The announcements queued since ``since``, grouped (same text, priority and second)."""
    pattern = topics.all_of(TopicKind.STOP_ANNOUNCE).replace("+", "%")
    rows = (
        await session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.not_before) >= since)
            .where(col(OutboxMessage.topic).like(pattern))
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
    ).all()
    grouped: dict[tuple[str, str, str, int], tuple[int, list[str]]] = {}
    for row in rows:
        try:
            parsed = topics.parse(row.topic)
            message = decode(Announcement, row.payload)
        except (BushailProtocolError, ValueError):
            continue
        if parsed.kind is not TopicKind.STOP_ANNOUNCE:
            continue
        sent = row.created_at.replace(tzinfo=row.created_at.tzinfo or dt.UTC).timestamp()
        key = (message.text.zh_tw, message.text.en, message.priority, int(sent))
        _first, stops = grouped.setdefault(key, (row.id or 0, []))
        stops.append(parsed.device_id)
    return [
        Broadcast(
            str(first_id),
            tuple(sorted(set(stops))),
            Localized.model_validate({"zh-TW": zh, "en": en}),
            priority,
            float(sent),
        )
        for (zh, en, priority, sent), (first_id, stops) in grouped.items()
    ]


def _translate(target: Any, text: Localized) -> None:
    for lang, value in (("zh-TW", text.zh_tw), ("en", text.en)):
        translation = target.translation.add()
        translation.text = value
        translation.language = lang


def alerts_feed(
    *,
    offline: Iterable[OfflineStop],
    broadcasts: Iterable[Broadcast],
    network: NetworkView,
    now: float,
    broadcast_s: float,
) -> Any:
    feed = new_feed(now)
    for stop in offline:
        info = network.stops.get(stop.stop_id)
        if info is None:
            continue
        entity = feed.entity.add()
        entity.id = f"stop-offline-{stop.stop_id}"
        alert = entity.alert
        if stop.since is not None:
            alert.active_period.add().start = int(min(stop.since, now))
        alert.informed_entity.add().stop_id = stop.stop_id
        alert.cause = Alert.TECHNICAL_PROBLEM
        alert.effect = Alert.ACCESSIBILITY_ISSUE
        alert.severity_level = Alert.WARNING
        header = Localized.model_validate(
            {
                "zh-TW": _OFFLINE_HEADER.zh_tw.format(zh=info.name.zh_tw),
                "en": _OFFLINE_HEADER.en.format(en=info.name.en),
            }
        )
        _translate(alert.header_text, header)
        _translate(alert.description_text, _OFFLINE_TEXT)
    for broadcast in broadcasts:
        stops = [s for s in broadcast.stop_ids if s in network.stops]
        if not stops or broadcast.sent_at + broadcast_s < now:
            continue
        entity = feed.entity.add()
        entity.id = f"broadcast-{broadcast.key}"
        alert = entity.alert
        period = alert.active_period.add()
        period.start = int(min(broadcast.sent_at, now))
        period.end = int(broadcast.sent_at + broadcast_s)
        for stop_id in stops:
            alert.informed_entity.add().stop_id = stop_id
        alert.cause = Alert.OTHER_CAUSE
        alert.effect = Alert.OTHER_EFFECT
        alert.severity_level = Alert.WARNING if broadcast.priority == "urgent" else Alert.INFO
        _translate(alert.header_text, broadcast.text)
    return feed
