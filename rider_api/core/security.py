"""Tokens: how they are made, stored (only as SHA-256) and read from a request.

The HTTP layer builds its dependencies from these; domain code (stop riders) uses them
too, so they live here and not in ``api/``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

__all__ = [
    "OPERATOR_COOKIE",
    "RIDER_COOKIE",
    "RIDER_TOKEN_PREFIX",
    "bearer_token",
    "cookie_secure",
    "hash_token",
    "new_rider_token",
    "new_secret_token",
]

#: The rider app's cookie (the same token as ``Authorization: Bearer``).
RIDER_COOKIE = "bushail_token"
#: The operator console's cookie, scoped to ``/ops``.
OPERATOR_COOKIE = "bushail_ops_token"
RIDER_TOKEN_PREFIX = "bh_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 in hex (tokens are random, so no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret_token() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def new_rider_token() -> str:
    return RIDER_TOKEN_PREFIX + new_secret_token()


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def cookie_secure(scheme: str, *, behind_tls_proxy: bool) -> bool:
    """Whether a cookie gets ``Secure``: the request came over https, or a trusted proxy
    in front terminates TLS (the app then sees http)."""
    return scheme == "https" or behind_tls_proxy
