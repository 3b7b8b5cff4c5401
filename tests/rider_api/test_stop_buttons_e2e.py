"""A rider with no phone books, cancels and calls for help with the stop's buttons.

The real stop gateway (text speech) and the real API meet over the real Mosquitto.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from broker_config.broker import ManagedBroker
from broker_config.device.speech import TextSpeaker
from broker_config.messages import ButtonAction
from stop_gateway.gateway import StopGateway
from stop_gateway.settings import GatewaySettings
from tests.rider_api.conftest import OPERATOR_TOKEN, ApiServer
from tests.stop_gateway.test_gateway import HeardSink
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
OPS = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


async def _ops_reservations(api: ApiServer, status: str | None = None) -> list[dict[str, Any]]:
    params = {"status": status} if status else {}
    r = await api.client.get("/v1/ops/reservations", params=params, headers=OPS)
    assert r.status_code == 200
    data: list[dict[str, Any]] = r.json()
    return data


async def _incidents(api: ApiServer) -> list[dict[str, Any]]:
    r = await api.client.get("/v1/ops/incidents", headers=OPS)
    assert r.status_code == 200
    data: list[dict[str, Any]] = r.json()
    return data


async def _heard(sink: HeardSink, fragment: str, timeout: float = 10.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            _lang, text = await sink.next(timeout)
            if fragment in text:
                return text


async def test_book_cancel_and_help_at_the_stop(api: ApiServer, broker: ManagedBroker) -> None:
    sink = HeardSink()
    settings = GatewaySettings(
        stop_id="S2",
        broker_host=broker.settings.host,
        broker_port=broker.port,
        credentials_file=broker.state_dir / "credentials.json",
        resync_settle_s=0.2,
        menu_dwell_s=0.3,
        health_interval_s=60,
        routes=["R1:0:307:307:撫遠街:Fuyuan St."],
    )
    async with StopGateway(settings, speaker=TextSpeaker(sink)) as gateway:
        await gateway.wait_connected(10)
        offers: asyncio.Queue[str] = asyncio.Queue()
        gateway.offer_listeners.append(lambda route: offers.put_nowait(route.route_id))

        await gateway.press(ButtonAction.BOOK)
        assert await asyncio.wait_for(offers.get(), 5) == "R1"
        await gateway.press(ButtonAction.BOOK)  # chooses the route being read
        # The server's StopCall is the spoken confirmation.
        confirmation = await _heard(sink, "已預約")
        assert "三零七" in confirmation
        booked = await _ops_reservations(api)
        assert len(booked) == 1
        assert (booked[0]["stop_id"], booked[0]["route_id"], booked[0]["direction_id"]) == (
            "S2",
            "R1",
            0,
        )
        assert booked[0]["status"] == "pending"
        assert booked[0]["history"][0]["cause"] == "booked at the stop's button"

        await gateway.press(ButtonAction.CANCEL)
        await _heard(sink, "取消")
        cancelled = await eventually(
            lambda: _ops_reservations(api, "cancelled"), what="the reservation is cancelled"
        )
        assert cancelled[0]["id"] == booked[0]["id"]
        assert cancelled[0]["history"][-1]["cause"] == "cancelled at the stop's button"

        await gateway.press(ButtonAction.HELP)
        incidents = await eventually(lambda: _incidents(api), what="a help incident is open")
        assert incidents[0]["kind"] == "help"
        assert incidents[0]["stop_id"] == "S2"
