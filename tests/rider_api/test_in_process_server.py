"""``InProcessServer``: starts, answers, stops; an application whose start-up fails is
reported as such and leaves no server behind; a caller cancelled while the server stops
stays cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from rider_api.serve import InProcessServer


def _app(*, fail_start: bool = False) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if fail_start:
            raise RuntimeError("the database is not there")
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    return app


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_serves_then_stops() -> None:
    async with InProcessServer(_app()) as server:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{server.url}/ping")).json() == {"pong": True}
    assert _port_free(server.port)


async def test_a_start_up_that_fails_is_reported() -> None:
    server = InProcessServer(_app(fail_start=True))
    with pytest.raises(RuntimeError, match="failed to start"):
        async with server:
            pass
    assert _port_free(server.port)


async def test_a_caller_cancelled_while_the_server_stops_stays_cancelled() -> None:
    server = InProcessServer(_app())
    await server.__aenter__()
    after: list[str] = []

    async def caller() -> None:
        await server.stop()
        after.append("carried on")

    stopping = asyncio.create_task(caller())
    await asyncio.sleep(0)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert after == []
    await server.stop()  # waits for the same server to end
    assert _port_free(server.port)
