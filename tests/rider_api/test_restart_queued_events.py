"""Device events queued for the server's persistent session while it was down."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlmodel import func, select

from broker_config.broker import ManagedBroker
from broker_config.messages import ButtonAction, StopEvent, utcnow
from broker_config.topics import Topics
from rider_api.app import running
from rider_api.models import Incident
from rider_api.settings import ApiSettings
from tests.conftest import ConnectFn
from tests.rider_api.conftest import seed_network
from tests.support.waiting import eventually


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


async def test_button_presses_sent_while_the_server_was_down_are_applied_after_restart(
    tmp_path: Path, broker: ManagedBroker, connect: ConnectFn, topics: Topics, database_url: str
) -> None:
    seed_network(database_url)
    settings = ApiSettings(
        state_dir=tmp_path / "api",
        database_url=database_url,
        mqtt_port=broker.port,
        mqtt_credentials_file=broker.state_dir / "credentials.json",
        stop_help_window_s=0,  # about delivery: every press counts
    )
    async with running(settings) as state:  # the server's session now exists
        assert state.mqtt is not None
        await state.mqtt.wait_connected(10)
    gateway = await connect("stop.S2")
    for _ in range(3):
        event = StopEvent(id=uuid.uuid4(), action=ButtonAction.HELP, at=utcnow())
        await gateway.publish(topics.stop_events("S2"), event, qos=1)

    async with running(settings) as state:

        async def helps() -> int:
            async with state.sessions() as session:
                query = select(func.count()).select_from(Incident)
                return int((await session.exec(query)).one())

        assert await eventually(helps, lambda n: n >= 3, what="3 help incidents") == 3
