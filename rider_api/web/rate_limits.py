"""The per-client limits on the rider web app's pages: over a limit, a page (429) in the
page's language that says when to try again, with ``Retry-After``.

``dependencies=[SignUpPageLimit]`` on a page counts each request against the caller's
address (the same buckets as the JSON API: one limit whichever door is used).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from broker_config.messages import Lang
from rider_api.api.deps import StateDep
from rider_api.api.rate_limits import request_client_key
from rider_api.core.rate_limits import Limited
from rider_api.web.deps import OptionalRider
from rider_api.web.views import page_lang, render

__all__ = [
    "PageRateLimitedError",
    "SearchPageLimit",
    "SignUpPageLimit",
    "VoicePageLimit",
    "install_page_limits",
]


class PageRateLimitedError(Exception):
    """A page's request over its limit; answered by :func:`too_many_page`."""

    def __init__(self, kind: Limited, retry_after_s: int, lang: Lang) -> None:
        super().__init__(f"{kind.value} limit: retry after {retry_after_s} s")
        self.kind = kind
        self.retry_after_s = retry_after_s
        self.lang = lang


def _limit(kind: Limited) -> Callable[[Request, StateDep, OptionalRider], Awaitable[None]]:
    async def check(request: Request, state: StateDep, rider: OptionalRider) -> None:
        wait = state.limits.take(kind, request_client_key(request, state.settings))
        if wait:
            raise PageRateLimitedError(kind, wait, page_lang(request, rider))

    check.__name__ = f"{kind.value}_page_limit"
    return check


async def too_many_page(request: Request, exc: Exception) -> Response:
    """429: what was refused and, in minutes (or seconds under one), when to try again."""
    assert isinstance(exc, PageRateLimitedError)  # noqa: S101 - registered for it only
    wait = exc.retry_after_s
    retry = ("retry_seconds", wait) if wait < 60 else ("retry_minutes", -(-wait // 60))
    response = render(
        request,
        "too_many.html",
        exc.lang,
        status_code=429,
        errors=[],
        refused=f"too_many_{exc.kind.value}",
        retry_key=retry[0],
        retry_n=retry[1],
    )
    response.headers["Retry-After"] = str(wait)
    return response


def install_page_limits(app: FastAPI) -> None:
    """Answer the pages' :class:`PageRateLimitedError` with :func:`too_many_page`."""
    app.add_exception_handler(PageRateLimitedError, too_many_page)


SignUpPageLimit = Depends(_limit(Limited.SIGN_UP))
VoicePageLimit = Depends(_limit(Limited.VOICE))
SearchPageLimit = Depends(_limit(Limited.SEARCH))
