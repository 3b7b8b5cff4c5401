"""Fuzzy comparison of a rider's phrase with stop names and headsigns (stdlib difflib)."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

from rider_api.voice.network import NetworkIndex, StopGroup
from rider_api.voice.normalize import name_keys

__all__ = ["best_groups", "phrase_keys", "similarity"]


def phrase_keys(phrase: str) -> frozenset[str]:
    """The keys of a phrase, built like a name's, so "city hall" meets "MRT City Hall Sta."."""
    return name_keys(phrase)


def key_similarity(a: str, b: str) -> float:
    """0..1; a phrase wholly inside a name ("市政府" in "捷運市政府站") scores high."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    score = SequenceMatcher(None, a, b, autojunk=False).ratio()
    short, long = sorted((a, b), key=len)
    if len(short) >= 2 and short in long:
        score = max(score, 0.7 + 0.25 * len(short) / len(long))
    return score


def similarity(phrase: Iterable[str], name: Iterable[str]) -> float:
    """The best similarity between any key of a phrase and any key of a name."""
    names = tuple(name)
    return max((key_similarity(a, b) for a in phrase for b in names), default=0.0)


def best_groups(
    index: NetworkIndex, keys: frozenset[str], minimum: float, limit: int = 5
) -> list[tuple[StopGroup, float]]:
    """The stop groups of the whole network that best match a phrase, best first."""
    scored = [(group, similarity(keys, group.keys)) for group in index.candidate_groups(keys)]
    scored = [(group, score) for group, score in scored if score >= minimum]
    scored.sort(key=lambda item: -item[1])
    return scored[:limit]
