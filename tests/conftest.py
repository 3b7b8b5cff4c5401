"""Fixtures shared by every test: a real Mosquitto with the project's config, MQTT clients,
and the session's one headless Chromium."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from broker_config.broker import BrokerSettings, ManagedBroker
from broker_config.registry import DeviceRegistry
from broker_config.session import MqttSession, ReceivedMessage, SessionOptions
from broker_config.topics import Topics
from tests.support.browser import SharedChromium, connected

TEST_STOPS = {"S1", "S2", "S3", "S4"}
TEST_VEHICLES = {"V1", "V2", "V3"}
#: ``server.api`` is the API's login; the others are for tests that act as a second server
#: beside it (the broker binds client ids to logins: one connection per login at a time).
TEST_SERVERS = {"api", "api-1", "api-2"}

ConnectFn = Callable[..., Awaitable[MqttSession]]


@pytest.fixture
def topics() -> Topics:
    return Topics()


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[ManagedBroker]:
    """A real Mosquitto on a free port, rendered from the project's config."""
    registry = DeviceRegistry(
        stops=set(TEST_STOPS), vehicles=set(TEST_VEHICLES), servers=set(TEST_SERVERS)
    )
    settings = BrokerSettings(state_dir=tmp_path / "broker", port=0)
    async with ManagedBroker(settings, registry) as managed:
        yield managed


@pytest.fixture
async def connect(broker: ManagedBroker) -> AsyncIterator[ConnectFn]:
    """Open an MqttSession for a login; closed at the end of the test."""
    async with AsyncExitStack() as stack:

        async def _connect(
            login: str | None, *, wait: bool = True, **options: object
        ) -> MqttSession:
            opts = SessionOptions(**options)  # type: ignore[arg-type]
            session = await stack.enter_async_context(MqttSession(broker.endpoint(login), opts))
            if wait:
                await session.wait_connected(10)
            return session

        yield _connect


class Inbox:
    """Collects received messages; ``await inbox.get()`` waits for the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ReceivedMessage] = asyncio.Queue()
        self.all: list[ReceivedMessage] = []

    async def __call__(self, msg: ReceivedMessage) -> None:
        self.all.append(msg)
        await self.queue.put(msg)

    async def get(self, timeout: float = 5.0) -> ReceivedMessage:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def expect_nothing(self, within: float = 0.3) -> None:
        """Assert nothing arrives; used after a round trip proved the path is live."""
        try:
            msg = await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {msg}")


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("BUSHAIL_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "PostgreSQL tests need BUSHAIL_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    return url


# -- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedChromium]:
    """Headless Chromium, launched once for the session by the first test that needs it."""
    chromium = SharedChromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield chromium
    finally:
        chromium.stop()


@pytest.fixture
async def browser(shared_chromium: SharedChromium) -> AsyncIterator[Browser]:
    """The session's Chromium, connected for this test; every context the test opens
    (``browser.new_context(...)``) is closed after it. Mark such tests ``browser``."""
    async with connected(shared_chromium.endpoint()) as chromium:
        yield chromium


@pytest.fixture
async def page(browser: Browser) -> Page:
    """A tab in a fresh browser context of this test's own."""
    context = await browser.new_context()
    return await context.new_page()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that drives Chromium says so: ``-m "not browser"`` must leave it out."""
    unmarked = [
        item.nodeid
        for item in items
        if "shared_chromium" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("browser") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use Chromium without the 'browser' marker: " + ", ".join(unmarked)
        )
