"""Settings for tests that act far more often than a person would, all from 127.0.0.1."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["GENEROUS_LIMITS"]

#: The per-client limits set out of the tests' reach (ApiSettings keyword arguments);
#: tests/rider_api/test_rate_limits.py checks the real ones.
GENEROUS_LIMITS: Final[dict[str, Any]] = {
    "sign_up_limit": 100_000,
    "voice_limit": 100_000,
    "search_limit": 100_000,
}
