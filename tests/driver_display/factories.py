"""Test factories of the driver display: DriverAlerts with readable defaults, a running
display, and the server's receipts a test sends in place of the API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from broker_config.broker import ManagedBroker
from broker_config.messages import DriverAlert, EventReceipt, Localized, ReservationStatus, utcnow
from broker_config.session import MqttSession
from broker_config.topics import Owner, Topics, login_for
from driver_display.display import DriverDisplay
from driver_display.outbox import SqliteOutbox
from driver_display.settings import DisplaySettings
from driver_display.sound_output import RecordingSoundOutput, SoundOutput

MakeAlert = Callable[..., DriverAlert]

STOP_NAMES = {
    "S1": ("臺北車站", "Taipei Main Station"),
    "S2": ("中山站", "Zhongshan Station"),
    "S3": ("雙連站", "Shuanglian Station"),
    "S4": ("民權西路站", "Minquan W. Rd. Station"),
    "S5": ("圓山站", "Yuanshan Station"),
    "S6": ("劍潭站", "Jiantan Station"),
    "S7": ("士林站", "Shilin Station"),
}


def make_alert(**overrides: Any) -> DriverAlert:
    """``make_alert(stop_id="S1", status="assigned", seq=1, ...)``: a valid DriverAlert."""
    stop_id = overrides.pop("stop_id", "S1")
    zh, en = STOP_NAMES.get(stop_id, (stop_id, stop_id))
    fields: dict[str, Any] = {
        "reservation_id": uuid.uuid4(),
        "seq": 1,
        "kind": "pickup",
        "status": ReservationStatus.ASSIGNED,
        "stop_id": stop_id,
        "stop_name": Localized.model_validate({"zh-TW": zh, "en": en}),
        "stop_sequence": 3,
        "eta_s": 180,
        "note": None,
    }
    fields.update(overrides)
    return DriverAlert.model_validate(fields)


@asynccontextmanager
async def running_display(
    broker: ManagedBroker,
    state_dir: Path,
    vehicle_id: str = "V1",
    *,
    sound: SoundOutput | None = None,
    connected: bool = True,
    **settings: Any,
) -> AsyncIterator[DriverDisplay]:
    """A DriverDisplay of ``vehicle_id`` on the test broker, its outbox in ``state_dir``."""
    config = DisplaySettings(
        vehicle_id=vehicle_id, state_dir=state_dir, root=broker.settings.root, **settings
    )
    async with (
        SqliteOutbox(config.outbox_path(vehicle_id)) as outbox,
        DriverDisplay(
            config,
            outbox=outbox,
            endpoint=broker.endpoint(login_for(Owner.VEHICLE, vehicle_id)),
            sound=sound or RecordingSoundOutput(),
        ) as display,
    ):
        if connected:
            await display.runtime.mqtt.wait_connected(10)
        yield display


async def until(display: DriverDisplay, predicate: Callable[[], bool], timeout: float = 10) -> None:
    """Wait (bounded) until ``predicate()`` holds, re-checking at every display change."""

    async def _wait() -> None:
        while not predicate():
            await display.changes.wait(display.changes.version)

    await asyncio.wait_for(_wait(), timeout)


async def send_receipt(
    server: MqttSession,
    vehicle_id: str,
    event_id: uuid.UUID,
    outcome: Literal["applied", "duplicate", "refused"] = "applied",
    detail: str | None = None,
) -> None:
    """Answer a tap as the API does: an EventReceipt on the vehicle's receipts topic."""
    receipt = EventReceipt(event_id=event_id, outcome=outcome, detail=detail, at=utcnow())
    await server.publish(Topics().vehicle_receipts(vehicle_id), receipt, qos=1)
