"""Stop search keys and query words, both through the one text normaliser.

A stop's stored key and a rider's query are normalised by the same function
(:func:`rider_api.network.text.normalize`), so either language, simplified or traditional
characters, 台 or 臺, full-width or ASCII all find the same stop.
"""

from __future__ import annotations

import unicodedata

from rider_api.network.text import normalize

__all__ = ["query_terms", "search_key"]


def search_key(*names: str) -> str:
    """The stored search key of a stop: its normalised names, one per line."""
    seen: list[str] = []
    for name in names:
        key = normalize(name)
        if key and key not in seen:
            seen.append(key)
    return "\n".join(seen)


def query_terms(query: str) -> list[str]:
    """The words of a query; a stop matches when its key contains every word.
    Control characters (a NUL would upset PostgreSQL) count as spaces."""
    cleaned = "".join(" " if unicodedata.category(c) == "Cc" else c for c in query)
    return normalize(cleaned).split()
