"""Name normalisation for stop search: either language, 台 and 臺 alike."""

from __future__ import annotations

import unicodedata

__all__ = ["normalize", "query_terms", "search_key"]

#: Variant characters written interchangeably in Taiwan, folded to one form.
_FOLD = str.maketrans({"台": "臺"})


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), case-folded, 台 -> 臺,
    runs of whitespace become one space."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    return " ".join(folded.split())


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
