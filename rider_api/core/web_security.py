"""Web security of every HTTP exchange: cross-site request refusal and security headers.

**Cross-site request forgery.** The rider app signs in with a cookie (SameSite=Lax), the
console with another (SameSite=Strict), and the JSON API takes the rider cookie too.
SameSite does not stop a page on another port or a sibling subdomain of the same site:
the browser calls that *same-site* and sends both cookies with its form posts. So every
request with an unsafe method (anything but GET, HEAD, OPTIONS, TRACE) is checked by
:class:`OriginCheckMiddleware` before any route runs:

- ``Sec-Fetch-Site: cross-site`` or ``same-site`` is refused;
- an ``Origin`` that is neither the server's own (scheme + ``Host``) nor one of the
  configured trusted origins is refused (``Origin: null`` included); a trusted origin is
  let in whatever its ``Sec-Fetch-Site`` says, since that is what listing it means;
- a request with neither header is let in: it does not come from a browser we support
  (programs with an ``Authorization: Bearer`` token), and a bearer token is not sent by a
  browser on its own, so such a request cannot be forged by another page.

Why headers rather than form tokens: every browser we support (current Chromium,
Firefox, Safari; the rider app's screen readers run on them) sends ``Origin`` on every
POST, PUT, PATCH and DELETE and ``Sec-Fetch-Site`` on every request, and a page cannot
forge either. The check covers the forms, the console and the JSON API in one place,
needs no per-session state, no hidden field in each form and no script, and cannot be
forgotten by a new route. What it does not cover, DNS rebinding (a page whose own host
name resolves to the server), is no CSRF: the victim's cookies are not sent to that name.

A refused API call (``/v1/...``, or a client that asks for JSON) gets 403 problem+json
(``cross-site-request``); a refused form gets a short page in both languages.

**Headers.** :class:`SecurityHeadersMiddleware` adds a Content-Security-Policy with no
inline script, ``X-Frame-Options``, ``X-Content-Type-Options``, ``Referrer-Policy``,
``Permissions-Policy`` and, over https only, ``Strict-Transport-Security`` to every
response: pages, API, static files, errors (an unhandled error's 500 included), SSE.
The API docs (Swagger UI, ReDoc) load their script from a CDN and start it inline, so
their paths get a looser policy of their own; production turns the docs off.

Both are plain ASGI (no ``BaseHTTPMiddleware``): nothing is buffered, so SSE streams
pass as they are written.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rider_api.core.problems import problem_response

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DOCS_CONTENT_SECURITY_POLICY",
    "PERMISSIONS_POLICY",
    "SAFE_METHODS",
    "OriginCheckMiddleware",
    "SecurityHeadersMiddleware",
    "cross_site_refusal",
    "normalize_origin",
    "own_origin",
    "security_headers",
]

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

#: No inline script or style anywhere: every page loads /static/*.js and *.css.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
#: Swagger UI and ReDoc as FastAPI serves them: script and style from jsDelivr, an inline
#: start-up script (Swagger UI), an inline style and Google fonts (ReDoc), a web worker
#: from a blob (ReDoc), the favicon from fastapi.tiangolo.com.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
#: The rider app asks for the microphone (voice booking) and the position (nearest
#: stop), from its own pages only; nothing else.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(self), gyroscope=(), magnetometer=(), "
    "microphone=(self), payment=(), usb=()"
)
_HSTS = "max-age=31536000"


def normalize_origin(value: str) -> str:
    """An origin as browsers send it (``scheme://host[:port]``, lower case, no default
    port); ``ValueError`` for anything else (a path, a query, user info, ``null``)."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not an origin: {value!r} (bad port)") from exc
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"not an origin: {value!r} (expected scheme://host[:port])")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def own_origin(scope: Scope, *, https: bool = False) -> str | None:
    """The origin the browser addressed: the request's scheme (https when ``https``, as
    behind a proxy that terminates TLS) and its ``Host``; None if that is unreadable."""
    scheme = "https" if https else str(scope.get("scheme", "http"))
    host = _header(scope, b"host")
    if host is None:
        server = scope.get("server")
        if not server:
            return None
        host = f"{server[0]}:{server[1]}"
    try:
        return normalize_origin(f"{scheme}://{host}")
    except ValueError:
        return None


def cross_site_refusal(
    *,
    method: str,
    origin: str | None,
    fetch_site: str | None,
    own: Collection[str],
    trusted: Collection[str],
) -> str | None:
    """Why a request must be refused as cross-site, or None to let it in (the rule of the
    module docstring, with no I/O)."""
    if method.upper() in SAFE_METHODS:
        return None
    site = (fetch_site or "").strip().lower()
    if origin is not None:
        try:
            normalized = normalize_origin(origin)
        except ValueError:
            return f"Origin {origin[:100]!r} is not a web origin"
        if normalized in trusted:
            return None
        if site in _FOREIGN_FETCH_SITES:
            return f"Sec-Fetch-Site is {site} (Origin {normalized})"
        if normalized in own:
            return None
        return f"Origin {normalized} is not this server's"
    if site in _FOREIGN_FETCH_SITES:
        return f"Sec-Fetch-Site is {site}"
    return None


_REFUSED_PAGE = """<!doctype html>
<html lang="zh-TW">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>請求被拒絕 · Request refused</title>
</head>
<body>
<main>
<h1>請求被拒絕 <span lang="en">Request refused</span></h1>
<p>這個表單是從其他網站送出的，為了保護您的帳號，BusHail 沒有執行它：沒有預約、取消或送出任何東西。
如果這是您要做的，請直接打開 BusHail，在它自己的頁面上再做一次。</p>
<p lang="en">This form was sent from another web site, so BusHail did not act on it, to
protect your account: nothing was booked, cancelled or sent. If you meant to do this,
open BusHail yourself and do it again from its own page.</p>
<p><a href="{home}">打開 BusHail <span lang="en">Open BusHail</span></a></p>
</main>
</body>
</html>
"""


def _wants_json(scope: Scope, api_prefixes: Iterable[str]) -> bool:
    path = str(scope.get("path", ""))
    if any(path.startswith(prefix) for prefix in api_prefixes):
        return True
    accept = (_header(scope, b"accept") or "").lower()
    return "json" in accept and "text/html" not in accept


class OriginCheckMiddleware:
    """Refuse (403) a state-changing request sent by a page of another origin.

    ``trusted_origins`` are let in besides the server's own; ``https`` says a trusted
    proxy terminates TLS (the browser's origin is then ``https://`` whatever the scope
    says). ``api_prefixes`` answer with problem+json, everything else with a page.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_origins: Iterable[str] = (),
        https: bool = False,
        api_prefixes: Iterable[str] = ("/v1/",),
    ) -> None:
        self.app = app
        self.trusted = frozenset(normalize_origin(o) for o in trusted_origins)
        self.https = https
        self.api_prefixes = tuple(api_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["method"]).upper() in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        own = {o for o in (own_origin(scope), own_origin(scope, https=self.https)) if o}
        reason = cross_site_refusal(
            method=scope["method"],
            origin=_header(scope, b"origin"),
            fetch_site=_header(scope, b"sec-fetch-site"),
            own=own,
            trusted=self.trusted,
        )
        if reason is None:
            await self.app(scope, receive, send)
            return
        logger.warning(
            "cross-site request refused: %s %s: %s", scope["method"], scope["path"], reason
        )
        await self._refusal(scope)(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response:
        if _wants_json(scope, self.api_prefixes):
            return problem_response(
                403,
                "This request came from a page of another web site and was refused, to "
                "protect your account. Use BusHail's own pages, or call the API from a "
                "program with 'Authorization: Bearer <token>'.",
                code="cross-site-request",
                instance=str(scope.get("path", "")),
            )
        home = "/ops" if str(scope.get("path", "")).startswith("/ops") else "/"
        return HTMLResponse(_REFUSED_PAGE.format(home=home), status_code=403)


def security_headers(
    *,
    csp: str = CONTENT_SECURITY_POLICY,
    permissions: str = PERMISSIONS_POLICY,
    hsts: bool = False,
) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (HSTS only when the request came over https)."""
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"permissions-policy", permissions.encode()),
    ]
    if hsts:
        headers.append((b"strict-transport-security", _HSTS.encode()))
    return headers


class SecurityHeadersMiddleware:
    """Add :func:`security_headers` to every HTTP response (a header the application set
    itself is kept). ``docs_paths`` get :data:`DOCS_CONTENT_SECURITY_POLICY`;
    ``https`` sends HSTS on every response (a trusted proxy terminates TLS), otherwise
    only to requests whose scheme is https.

    An unhandled error that escapes before the response started is answered here (500,
    with the headers) and raised on, for the server to log.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        docs_paths: Iterable[str | None] = (),
        permissions: str = PERMISSIONS_POLICY,
        https: bool = False,
    ) -> None:
        self.app = app
        self.docs_paths = frozenset(p for p in docs_paths if p)
        self.https = https
        self._headers = {
            (docs, hsts): security_headers(
                csp=DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY,
                permissions=permissions,
                hsts=hsts,
            )
            for docs in (False, True)
            for hsts in (False, True)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hsts = self.https or scope.get("scheme") == "https"
        extra = self._headers[(scope.get("path") in self.docs_paths, hsts)]
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

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                response = problem_response(
                    500,
                    "Something went wrong on our side. Please try again in a moment.",
                    code="internal-error",
                    instance=str(scope.get("path", "")),
                )
                await response(scope, receive, send_with_headers)
            raise
