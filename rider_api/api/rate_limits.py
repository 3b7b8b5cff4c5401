"""The per-client limits as FastAPI dependencies of the JSON API (429 problem+json).

``dependencies=[SignUpLimit]`` on a route counts each request against the caller's
address before anything else of the route runs; over the limit the answer is 429 with
``Retry-After`` in whole seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import Depends, Request

from rider_api.api.deps import StateDep
from rider_api.core.problems import Problem
from rider_api.core.rate_limits import ClientLimits, Clock, Limited, Rate, client_key
from rider_api.settings import ApiSettings

__all__ = [
    "SearchLimit",
    "SignUpLimit",
    "VoiceLimit",
    "client_limits",
    "request_client_key",
    "retry_in",
]

#: What each limit counts, for the caller's message.
_COUNTED: Final = {
    Limited.SIGN_UP: "sign-ups",
    Limited.VOICE: "voice requests",
    Limited.SEARCH: "stop searches",
}


def client_limits(settings: ApiSettings, *, clock: Clock = time.monotonic) -> ClientLimits:
    """The limits the settings ask for (built once, in ``app.running``)."""
    return ClientLimits(
        {
            Limited.SIGN_UP: Rate(settings.sign_up_limit, settings.sign_up_window_s),
            Limited.VOICE: Rate(settings.voice_limit, settings.voice_window_s),
            Limited.SEARCH: Rate(settings.search_limit, settings.search_window_s),
        },
        clients=settings.rate_limit_clients,
        clock=clock,
    )


def request_client_key(request: Request, settings: ApiSettings) -> str:
    """The address this request's limits count against (see ``client_key``)."""
    return client_key(
        request.client.host if request.client is not None else None,
        request.headers.getlist("x-forwarded-for"),
        trusted_proxies=settings.trusted_proxies,
    )


def retry_in(seconds: int) -> str:
    """'40 seconds', '12 minutes': when to try again, in English."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _limit(kind: Limited) -> Callable[[Request, StateDep], Awaitable[None]]:
    async def check(request: Request, state: StateDep) -> None:
        wait = state.limits.take(kind, request_client_key(request, state.settings))
        if wait:
            raise Problem(
                429,
                f"Too many {_COUNTED[kind]} from your address (at most "
                f"{state.limits.rate(kind).describe()}). Try again in {retry_in(wait)}.",
                code="rate-limited",
                headers={"Retry-After": str(wait)},
                retry_after_s=wait,
            )

    check.__name__ = f"{kind.value}_limit"
    return check


SignUpLimit = Depends(_limit(Limited.SIGN_UP))
VoiceLimit = Depends(_limit(Limited.VOICE))
SearchLimit = Depends(_limit(Limited.SEARCH))
