"""Every device event is answered with a receipt, written with what it did."""

from __future__ import annotations

import uuid

from broker_config.messages import (
    ButtonAction,
    DriverEventType,
    EventReceipt,
    StopEvent,
    VehicleStopStatus,
    decode,
    utcnow,
)
from broker_config.topics import Topics
from tests.conftest import ConnectFn, Inbox
from tests.rider_api.conftest import ApiServer
from tests.rider_api.test_dispatch_scenarios import book, make_bus, wait_status


async def _receipt(box: Inbox, event_id: uuid.UUID) -> EventReceipt:
    while True:
        receipt = decode(EventReceipt, (await box.get()).payload)
        if receipt.event_id == event_id:
            return receipt


async def test_a_driver_tap_is_answered_applied_then_duplicate_and_a_strangers_refused(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    bus = await make_bus(connect, topics, "V1")
    receipts = Inbox()
    await bus.session.subscribe(topics.vehicle_receipts("V1"), receipts)
    await bus.at("S1", VehicleStopStatus.STOPPED_AT)
    rider = await api.rider()
    rid = await book(api, rider)
    await wait_status(api, rider, rid, "assigned")

    tap = await bus.tap(rid, DriverEventType.ACKNOWLEDGED)
    assert (await _receipt(receipts, tap)).outcome == "applied"
    data = await wait_status(api, rider, rid, "acknowledged")
    again = await bus.tap(rid, DriverEventType.ACKNOWLEDGED, event_id=tap)
    assert again == tap
    assert (await _receipt(receipts, tap)).outcome == "duplicate"
    history = (await api.client.get(f"/v1/reservations/{rid}", headers=rider["headers"])).json()
    assert [h["status"] for h in history["history"]] == [h["status"] for h in data["history"]]

    stranger = await make_bus(connect, topics, "V2")
    stranger_receipts = Inbox()
    await stranger.session.subscribe(topics.vehicle_receipts("V2"), stranger_receipts)
    foreign = await stranger.tap(rid, DriverEventType.NO_SHOW)
    refused = await _receipt(stranger_receipts, foreign)
    assert refused.outcome == "refused"
    assert refused.detail == "the booking is not assigned to this bus"


async def test_a_stop_button_press_is_answered_and_nothing_to_cancel_is_refused(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    gateway = await connect("stop.S2")
    receipts = Inbox()
    await gateway.subscribe(topics.stop_receipts("S2"), receipts)
    help_press = StopEvent(id=uuid.uuid4(), action=ButtonAction.HELP, at=utcnow())
    await gateway.publish(topics.stop_events("S2"), help_press, qos=1)
    assert (await _receipt(receipts, help_press.id)).outcome == "applied"
    await gateway.publish(topics.stop_events("S2"), help_press, qos=1)
    assert (await _receipt(receipts, help_press.id)).outcome == "duplicate"
    cancel = StopEvent(id=uuid.uuid4(), action=ButtonAction.CANCEL, at=utcnow())
    await gateway.publish(topics.stop_events("S2"), cancel, qos=1)
    refused = await _receipt(receipts, cancel.id)
    assert (refused.outcome, refused.detail) == ("refused", "no active booking to cancel")


async def test_a_device_cannot_read_another_devices_receipts(
    api: ApiServer, connect: ConnectFn, topics: Topics
) -> None:
    spy = await connect("stop.S3")
    stolen = Inbox()
    await spy.subscribe(topics.stop_receipts("S2"), stolen)
    gateway = await connect("stop.S2")
    own = Inbox()
    await gateway.subscribe(topics.stop_receipts("S2"), own)
    press = StopEvent(id=uuid.uuid4(), action=ButtonAction.HELP, at=utcnow())
    await gateway.publish(topics.stop_events("S2"), press, qos=1)
    await _receipt(own, press.id)
    await stolen.expect_nothing(0.2)
