"""The onboard screen: server-rendered HTML, live updates over SSE, one-tap answers.

``create_app(display)`` builds the Starlette app; ``ScreenServer(app, host, port)``
serves it with uvicorn as an ``async with`` block (port 0 picks a free one; the bound
URL is ``server.url``). Routes:

- ``GET /``: the page (``?lang=zh-TW|en`` and ``?theme=day|night`` switch and are
  remembered in cookies).
- ``GET /events``: Server-Sent Events; each ``screen`` event carries the re-rendered
  alert list, sent at connect and at every change.
- ``POST /answers``: a tap (form fields ``reservation_id``, ``type``, ``reason``).
  From the page's script: 204, or a JSON problem with a localized ``title``; from a
  plain form post (no script): 303 back to the page.
- ``GET /healthz``: liveness with the broker link and the answers without a receipt (``unsent``).

The page fits the onboard screen (800x480, 1024x600) without scrolling: the first card
waiting for the driver's answer is pinned on top, whole (route and direction, stop,
ETA, the rider's needs with icons and words, its buttons), and the other cards scroll
beneath it; after a tap the next card to answer takes the top.

Only the screen's own page may post taps. Each app makes a secret at start
(``secrets.token_urlsafe``) and gives it only to its page: in a
``<meta name="bushail-screen-token">`` and in a hidden ``screen_token`` field of each
answer form (re-rendered with every SSE update, so a page left open across a restart
holds the new one). The script sends it as ``X-Screen-Token``; a form without script
sends the field. A tap without it, or with another, gets 403 and changes nothing
(compared in constant time). Another site's page cannot read it: the page and the
stream are same-origin reads. On top of that, as on the server
(``rider_api.core.web_security``, which a device may not import), a POST whose
``Sec-Fetch-Site`` is cross-site or same-site, or whose ``Origin`` is not the screen's
own, is refused before any route runs, and every response carries the same security
headers (a CSP without inline script, no framing, nosniff, same-origin referrers, no
device permissions).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker_config.aio import wait_ended
from broker_config.i18n import LANGS, other_lang, pick_lang
from broker_config.messages import CannotStopReason, DriverEventType, Lang
from driver_display import i18n
from driver_display.const import SSE_KEEPALIVE_S, THEMES, Theme
from driver_display.display import AnswerError, DriverDisplay, ScreenState

__all__ = [
    "SCREEN_TOKEN_FIELD",
    "SCREEN_TOKEN_HEADER",
    "SCREEN_TOKEN_META",
    "ScreenServer",
    "create_app",
    "render_alerts",
    "render_page",
]

logger = logging.getLogger(__name__)

_COOKIE_MAX_AGE = 365 * 24 * 3600
# Files next to this module (works for editable, wheel and namespace-style installs).
_HERE = Path(__file__).resolve().parent

#: Where the page finds the screen's secret, and how a tap carries it back.
SCREEN_TOKEN_META = "bushail-screen-token"  # noqa: S105 - names, not secrets
SCREEN_TOKEN_HEADER = "X-Screen-Token"  # noqa: S105
SCREEN_TOKEN_FIELD = "screen_token"  # noqa: S105
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        b"object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (
        b"permissions-policy",
        b"accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        b"microphone=(), payment=(), usb=()",
    ),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        kind_label=i18n.kind_label,
        status_label=i18n.status_label,
        answer_label=i18n.answer_label,
        reason_label=i18n.reason_label,
        need_label=i18n.need_label,
        route_label=i18n.route_label,
        eta_label=i18n.eta_label,
        other_lang=other_lang,
        t=i18n.t,
        CANNOT_STOP=DriverEventType.CANNOT_STOP,
        REASONS=tuple(CannotStopReason),
    )
    return env


_ENV = _environment()


def _context(state: ScreenState, lang: Lang, theme: Theme, token: str) -> dict[str, Any]:
    return {
        "state": state,
        "lang": lang,
        "theme": theme,
        "token": token,
        "token_meta": SCREEN_TOKEN_META,
        "token_field": SCREEN_TOKEN_FIELD,
    }


def render_alerts(state: ScreenState, lang: Lang, theme: Theme = "day", token: str = "") -> str:
    """The live part of the screen (what an SSE ``screen`` event carries); ``token`` is
    the screen's secret, put in each answer form."""
    return _ENV.get_template("_alerts.html").render(_context(state, lang, theme, token))


def render_page(state: ScreenState, lang: Lang, theme: Theme, token: str = "") -> str:
    """The whole page, with the screen's secret for its script and forms."""
    return _ENV.get_template("screen.html").render(_context(state, lang, theme, token))


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    for value in (request.query_params.get(name), request.cookies.get(f"bushail_{name}")):
        if value is not None and value in allowed:
            return value
    return default


def _lang(request: Request, default: Lang) -> Lang:
    return pick_lang(_choice(request, "lang", LANGS, default), default)


def _sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _cross_site(scope: Scope) -> str | None:
    """Why an unsafe request comes from another site's page, or None (the server's rule
    without its list of trusted origins: the screen trusts only itself)."""
    if str(scope["method"]).upper() in _SAFE_METHODS:
        return None
    site = (_header(scope, b"sec-fetch-site") or "").lower()
    if site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site is {site}"
    origin = _header(scope, b"origin")
    if origin is None:
        return None  # not sent by a browser page: nothing to forge
    host = _header(scope, b"host") or ""
    # https too: a TLS proxy in front of the screen serves the page at https://<Host>.
    own = {f"{scheme}://{host}".lower() for scheme in (scope.get("scheme", "http"), "https")}
    if origin.strip().lower().rstrip("/") in own:
        return None
    return f"Origin {origin[:100]!r} is not this screen's"


class _ScreenGuard:
    """Plain ASGI (SSE passes unbuffered): refuses another site's POSTs and adds the
    security headers to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*_SECURITY_HEADERS, *([_HSTS] if scope.get("scheme") == "https" else [])]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _value in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        reason = _cross_site(scope)
        if reason is not None:
            logger.warning(
                "screen: cross-site %s %s refused: %s", scope["method"], scope["path"], reason
            )
            refusal = _forbidden(
                scope, "This request came from another web site; nothing was done."
            )
            await refusal(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await PlainTextResponse("Internal error", 500)(scope, receive, send_with_headers)
            raise


def _forbidden(scope: Scope, detail: str, lang: Lang = "en") -> Response:
    """403 for a refused tap: a JSON problem for the page's script, plain text otherwise."""
    if _header(scope, b"x-requested-with") == "fetch":
        return JSONResponse(
            {"title": i18n.t("error.screen", lang), "status": 403, "detail": detail},
            status_code=403,
            media_type="application/problem+json",
        )
    return PlainTextResponse(f"403 Forbidden: {detail}", status_code=403)


class _ScreenRoutes:
    """The request handlers, bound to one display."""

    def __init__(self, display: DriverDisplay, closing: asyncio.Event, token: str) -> None:
        self.display = display
        self.closing = closing
        self.token = token
        self.default_lang: Lang = display.settings.lang
        self.default_theme: Theme = display.settings.theme

    async def page(self, request: Request) -> Response:
        lang = _lang(request, self.default_lang)
        theme = cast(Theme, _choice(request, "theme", THEMES, self.default_theme))
        response = HTMLResponse(render_page(self.display.state(), lang, theme, self.token))
        for name, value in (("lang", lang), ("theme", theme)):
            if request.query_params.get(name) == value:
                response.set_cookie(
                    f"bushail_{name}", value, max_age=_COOKIE_MAX_AGE, samesite="strict"
                )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def events(self, request: Request) -> Response:
        lang = _lang(request, self.default_lang)
        return StreamingResponse(
            self._stream(lang),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, lang: Lang) -> AsyncIterator[bytes]:
        feed = self.display.changes
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            yield b"retry: 1000\n\n"
            seen = -1
            while True:
                if feed.version != seen:
                    seen = feed.version
                    state = self.display.state()
                    yield _sse("screen", render_alerts(state, lang, token=self.token))
                changed = asyncio.ensure_future(feed.wait(seen))
                try:
                    done, _pending = await asyncio.wait(
                        {changed, closing},
                        timeout=SSE_KEEPALIVE_S,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    changed.cancel()
                if closing in done:
                    return
                if not done:
                    yield b": keep-alive\n\n"
        finally:
            closing.cancel()

    def _from_this_screen(self, request: Request, form: FormData) -> bool:
        """The tap carries this screen's secret (header from the script, else the field)."""
        given = request.headers.get(SCREEN_TOKEN_HEADER)
        if given is None:
            field = form.get(SCREEN_TOKEN_FIELD)
            given = field if isinstance(field, str) else ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def answer(self, request: Request) -> Response:
        form = await request.form()
        chosen = form.get("lang")
        lang = pick_lang(chosen) if chosen in LANGS else _lang(request, self.default_lang)
        if not self._from_this_screen(request, form):
            logger.warning(
                "vehicle %s: tap without this screen's token refused", self.display.vehicle_id
            )
            return _forbidden(request.scope, "This tap did not come from this screen.", lang)
        scripted = request.headers.get("x-requested-with") == "fetch"
        try:
            reservation_id, answer, reason = _parse_answer(form)
            await self.display.answer(reservation_id, answer, reason)
        except OSError:
            # The outbox could not store the tap: say so, so the driver taps again.
            logger.exception("vehicle %s: tap not stored", self.display.vehicle_id)
            if not scripted:
                return RedirectResponse("/", status_code=303)
            return JSONResponse(
                {"title": i18n.t("error.screen", lang), "status": 503},
                status_code=503,
                media_type="application/problem+json",
            )
        except AnswerError as exc:
            logger.info("vehicle %s: tap refused: %s", self.display.vehicle_id, exc)
            status = 409 if exc.text_key == "error.not_allowed" else 404
            if exc.text_key == "error.bad_request":
                status = 422
            if not scripted:
                return RedirectResponse("/", status_code=303)
            return JSONResponse(
                {"title": i18n.t(exc.text_key, lang), "status": status, "detail": str(exc)},
                status_code=status,
                media_type="application/problem+json",
            )
        if not scripted:
            return RedirectResponse("/", status_code=303)
        return Response(status_code=204)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "vehicle_id": self.display.vehicle_id,
                "connected": self.display.connected,
                "unsent": self.display.unsent,
            }
        )


def _parse_answer(
    form: FormData,
) -> tuple[uuid.UUID, DriverEventType, CannotStopReason | None]:
    try:
        reservation_id = uuid.UUID(str(form.get("reservation_id", "")))
        answer = DriverEventType(str(form.get("type", "")))
        raw_reason = form.get("reason")
        reason = CannotStopReason(str(raw_reason)) if raw_reason else None
    except ValueError as exc:
        raise AnswerError(f"bad answer form: {exc}") from exc
    return reservation_id, answer, reason


def create_app(display: DriverDisplay) -> Starlette:
    """The screen app of one display, with a new secret for its page (see the module
    docstring); ``app.state.closing`` ends the SSE streams."""
    closing = asyncio.Event()
    routes = _ScreenRoutes(display, closing, secrets.token_urlsafe(32))
    app = Starlette(
        routes=[
            Route("/", routes.page),
            Route("/events", routes.events),
            Route("/answers", routes.answer, methods=["POST"]),
            Route("/healthz", routes.healthz),
            Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
        ],
        middleware=[Middleware(_ScreenGuard)],
    )
    app.state.closing = closing
    return app


class _Server(uvicorn.Server):
    # The owner of the process handles signals (the CLI, a simulator, pytest).
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ScreenServer:
    """Serves a screen app on ``host:port`` for the life of an ``async with`` block."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        # Listening before uvicorn starts: the URL works as soon as this returns.
        sock.listen(64)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="screen")
        logger.info("driver screen on %s", self.url)
        return self

    async def wait_closed(self) -> None:
        """Wait until the server stops by itself (it normally runs until the block ends)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.app.state.closing.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await wait_ended(self._task)
            error = None if self._task.cancelled() else self._task.exception()
            if error is not None:
                raise error
