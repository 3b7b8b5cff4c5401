"""Serve the API with uvicorn inside the current event loop, as an ``async with`` block.

Used by the demo platform, the benchmarks and the tests, which all need the real HTTP
server next to other asyncio work in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

import uvicorn
from fastapi import FastAPI

from broker_config.aio import cancel_and_wait, wait_ended
from rider_api.state import AppState

__all__ = ["InProcessServer"]


class _QuietSignals(uvicorn.Server):
    # The embedding program owns the process's signals (Ctrl-C stops all of it).
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class InProcessServer:
    """``async with InProcessServer(app) as server:`` starts uvicorn on 127.0.0.1 (a free
    port unless given) and returns once it accepts requests; leaving stops it."""

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout_s: float = 30.0,
        own_signals: bool = False,
        **config: Any,
    ) -> None:
        self.app = app
        self.host = host
        # Bound here and handed to uvicorn: a port picked free and bound later could be
        # taken in between (by any outgoing connection's ephemeral port).
        self._socket = socket.create_server((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._start_timeout_s = start_timeout_s
        options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", **config}
        server_class = uvicorn.Server if own_signals else _QuietSignals
        self._server = server_class(uvicorn.Config(app, host=host, port=self.port, **options))
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> AppState:
        """The running application's state (set by its lifespan)."""
        state: AppState = self.app.state.bushail
        return state

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._serve(), name=f"api:{self.port}")
        try:
            async with asyncio.timeout(self._start_timeout_s):
                # uvicorn offers a flag, not an event, for "started".
                while not self._server.started:
                    if self._task.done():
                        self._task.result()  # the start-up's failure, if it failed
                        raise RuntimeError("the API stopped while starting")
                    await asyncio.sleep(0.01)
        except BaseException:
            with contextlib.suppress(Exception):  # the start-up's failure, raised below
                await self.stop()
            raise
        return self

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        except SystemExit as exc:
            # uvicorn's answer to a failed lifespan. Left as it is, asyncio would re-raise
            # it out of the event loop and end the embedding program with it.
            msg = f"the API failed to start (exit {exc.code}); see its log"
            raise RuntimeError(msg) from None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self, timeout: float = 15.0) -> None:
        """Ask uvicorn to exit and wait until it has (a caller cancelled meanwhile stays
        cancelled; the server still exits, and a second ``stop`` waits for it)."""
        self._server.should_exit = True
        task = self._task
        if task is not None:
            ended = await wait_ended(task, timeout)
            if not ended:
                with contextlib.suppress(Exception):  # the timeout is what is reported
                    await cancel_and_wait(task)
            self._task = None
        # The listening socket is closed once uvicorn no longer uses it.
        self._socket.close()
        if task is None:
            return
        if not ended:
            raise TimeoutError(f"the API did not stop within {timeout:g} s")
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
