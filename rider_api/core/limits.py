"""Bounds on what one HTTP request may carry: the body size.

``BodyLimitMiddleware`` is plain ASGI (no ``BaseHTTPMiddleware``): it adds no task and
no buffering, and a request that declares a small enough ``Content-Length`` passes with
its own ``receive`` untouched, so the booking path pays one header scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rider_api.core.problems import problem_response

__all__ = ["BodyLimitMiddleware", "BodyTooLargeError"]

logger = logging.getLogger(__name__)


class BodyTooLargeError(Exception):
    """Raised to the application by ``receive`` once a body passes the limit."""


def _human(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} bytes"


class BodyLimitMiddleware:
    """Answer 413 (problem+json) to an HTTP request whose body exceeds ``max_body_bytes``.

    A declared ``Content-Length`` over the limit is refused before the application runs;
    a body without one (chunked) is counted as it streams and cut off at the limit: the
    application's reading fails, whatever it answers is dropped, and the 413 goes out.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_body_bytes:
                await self._refuse(scope, receive, send, declared=declared)
                return
            # The server never hands over more than the declared length.
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            if over:
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the application's answer to a failed read; ours follows
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # FastAPI turns a failed read into a 400 on its own; anything else that
            # escapes after the cut-off is the same failure seen from further out.
            if not over or started:
                raise
        if over and not started:
            await _drain(receive, budget=self.max_body_bytes * 4, within_s=1.0)
            await self._refuse(scope, receive, send, declared=None)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, *, declared: int | None
    ) -> None:
        limit = self.max_body_bytes
        size = f"{declared} bytes" if declared is not None else f"more than {_human(limit)}"
        logger.warning(
            "request body too large: %s %s (%s, limit %d bytes)",
            scope.get("method"),
            scope.get("path"),
            size,
            limit,
        )
        response = problem_response(
            413,
            f"The request body is too large ({size}); the limit is {_human(limit)}. "
            "Send a shorter text, or one booking or form at a time.",
            code="body-too-large",
            instance=scope.get("path"),
            headers={"Connection": "close"},
            max_body_bytes=limit,
        )
        await response(scope, receive, send)


async def _drain(receive: Receive, *, budget: int, within_s: float) -> None:
    """Read and drop what the client is still sending, a little (bounded in bytes and
    time): a connection closed on unread data is reset, and the client would then see
    the reset instead of the 413."""
    left = budget
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            while left > 0:
                message = await receive()
                if message["type"] != "http.request":
                    return
                left -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def _content_length(scope: Scope) -> int | None:
    """The declared body length, or None when absent (chunked) or unreadable."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server itself refuses a malformed length
    return None
