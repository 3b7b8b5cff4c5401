"""Fuzzy comparison of a rider's phrase with stop names and headsigns: by the written
characters (stdlib difflib) and by sound (toneless pinyin, rapidfuzz), so what a speech
recogniser writes for a name it heard (南京富興 for 南京復興, 雙蓮 for 雙連) still meets it."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

from rapidfuzz import fuzz

from rider_api.voice.network import NetworkIndex, StopGroup
from rider_api.voice.normalize import is_sound, name_keys, sound_keys

__all__ = ["best_groups", "phrase_keys", "similarity", "sound_similarity"]

#: The same sound is nearly as good as the same characters (a homophone could be
#: another place), a close sound less so.
SAME_SOUND = 0.96
SOUND_MIN_RATIO = 85.0
SOUND_WEIGHT = 0.95
_SOUND_CONTAINED_MIN = 6


def phrase_keys(phrase: str) -> frozenset[str]:
    """The keys of a phrase, built like a name's, so "city hall" meets "MRT City Hall Sta."
    and "nanking fuhsing" meets 南京復興 by sound."""
    return name_keys(phrase) | sound_keys(phrase)


def sound_similarity(a: str, b: str) -> float:
    """0..1 between two sound keys: the same sound, one inside the other, or close."""
    if not a or not b:
        return 0.0
    if a == b:
        return SAME_SOUND
    short, long = sorted((a, b), key=len)
    if len(short) >= _SOUND_CONTAINED_MIN and short in long:
        return SOUND_WEIGHT * (0.7 + 0.25 * len(short) / len(long))
    ratio = fuzz.ratio(a, b)
    return SOUND_WEIGHT * ratio / 100 if ratio >= SOUND_MIN_RATIO else 0.0


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
    """The best similarity between any key of a phrase and any key of a name, written
    keys with written keys and sound keys with sound keys."""
    names = tuple(name)
    best = 0.0
    for a in phrase:
        sound = is_sound(a)
        for b in names:
            if is_sound(b) != sound:
                continue
            score = sound_similarity(a[1:], b[1:]) if sound else key_similarity(a, b)
            best = max(best, score)
    return best


def best_groups(
    index: NetworkIndex, keys: frozenset[str], minimum: float, limit: int = 5
) -> list[tuple[StopGroup, float]]:
    """The stop groups of the whole network that best match a phrase, best first."""
    scored = [(group, similarity(keys, group.keys)) for group in index.candidate_groups(keys)]
    scored = [(group, score) for group, score in scored if score >= minimum]
    scored.sort(key=lambda item: -item[1])
    return scored[:limit]
