"""Every MQTT subscription of the server, and where each message goes.

Every subscription is the instance's own (no MQTT 5 shared subscription): a device
login may join any ``$share`` group on a filter it cannot read, and the broker would
then route part of the group's messages to it and drop them there. Each instance
hears every device event and applies it once by its id (``ProcessedEvent``); positions,
status and health feed each instance's own fleet view and device board. The session hands each
message over with its topic already parsed; a topic outside the table is logged and
dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from broker_config.logsafe import escape
from broker_config.messages import DriverEvent, StopEvent, VehiclePosition, decode
from broker_config.session import Handler, MqttSession, ReceivedMessage
from broker_config.topics import TopicKind
from rider_api.reservations.stop_buttons import apply_stop_event
from rider_api.state import AppState

__all__ = ["subscribe_all"]

logger = logging.getLogger(__name__)


def _from_device(handle: Callable[[str, bytes], Awaitable[None]]) -> Handler:
    """A handler of a device's message, given the device id from the parsed topic."""

    async def handler(msg: ReceivedMessage) -> None:
        if msg.parsed is None:
            logger.warning("message on %s is outside the topic table: dropped", escape(msg.topic))
            return
        await handle(msg.parsed.device_id, msg.payload)

    return handler


async def subscribe_all(state: AppState, mqtt: MqttSession) -> None:
    """Subscribe the server's session to everything it handles."""
    t = state.topics
    dispatcher = state.dispatcher

    async def on_driver_event(vehicle_id: str, payload: bytes) -> None:
        await dispatcher.apply_driver_event(vehicle_id, decode(DriverEvent, payload))

    async def on_stop_event(stop_id: str, payload: bytes) -> None:
        await apply_stop_event(state, stop_id, decode(StopEvent, payload))

    async def on_position(vehicle_id: str, payload: bytes) -> None:
        # Through the freshness arbitration: an agency feed may report the same bus.
        await state.feeds.positions.onboard(vehicle_id, decode(VehiclePosition, payload))

    await mqtt.subscribe(t.all_of(TopicKind.VEHICLE_EVENTS), _from_device(on_driver_event))
    await mqtt.subscribe(t.all_of(TopicKind.STOP_EVENTS), _from_device(on_stop_event))
    await mqtt.subscribe(t.all_of(TopicKind.VEHICLE_POSITION), _from_device(on_position), qos=0)
    for kind in (TopicKind.STOP_STATUS, TopicKind.VEHICLE_STATUS):
        await mqtt.subscribe(t.all_of(kind), state.devices.on_status)
    for kind in (TopicKind.STOP_HEALTH, TopicKind.VEHICLE_HEALTH):
        await mqtt.subscribe(t.all_of(kind), state.devices.on_health, qos=0)
