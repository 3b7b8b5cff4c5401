"""Matching keys for the utterance parser, built on the one text normaliser.

Utterances and stop names both go through :func:`rider_api.network.text.normalize` (the
same function the stop search uses), so a name and a rider's words about it meet in one
form; the keys here then drop what fuzzy matching ignores.
"""

from __future__ import annotations

import re

from rider_api.network.text import normalize, sound_key

__all__ = [
    "SOUND_MARK",
    "is_sound",
    "match_key",
    "name_keys",
    "normalize",
    "sound_keys",
    "spoken_en",
    "strip_name_affixes",
]

#: Marks a key as a sound key (see :func:`sound_keys`) among a name's written keys.
SOUND_MARK = "\u266a"

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_PARENS = re.compile(r"\([^)]*\)")

_EN_AFFIXES = re.compile(r"\b(?:mrt|metro|sta|station|stop|bus|the)\b\.?")
_ZH_PREFIX = "捷運"


def match_key(text: str) -> str:
    """A normalised text without spaces and punctuation: what fuzzy matching compares."""
    return _NON_WORD.sub("", normalize(text))


def strip_name_affixes(text: str) -> str:
    """Drop the parts of a stop name that riders leave out ("MRT", "Sta.", 捷運, 站).

    ``text`` must already be normalised. 車站 keeps its 站: 臺北車站 is not 臺北車.
    """
    stripped = _EN_AFFIXES.sub(" ", text)
    stripped = stripped.removeprefix(_ZH_PREFIX)
    if stripped.endswith("站") and not stripped.endswith("車站") and len(stripped) > 2:
        stripped = stripped[:-1]
    return _SPACES.sub(" ", stripped).strip()


def name_keys(name: str) -> frozenset[str]:
    """Every key a rider's words about ``name`` may match: full, without brackets, short."""
    full = normalize(name)
    spelled_out = normalize(spoken_en(name))  # "Fuyuan St." is also "Fuyuan Street"
    variants = {full, _PARENS.sub(" ", full), spelled_out}
    keys: set[str] = set()
    for variant in variants:
        keys.add(_NON_WORD.sub("", variant))
        keys.add(_NON_WORD.sub("", strip_name_affixes(variant)))
    keys.discard("")
    return frozenset(keys)


def sound_keys(name: str) -> frozenset[str]:
    """How ``name`` sounds, as keys marked with :data:`SOUND_MARK`: its short form
    ("南京復興" for "捷運南京復興站") read as toneless pinyin, folded (see
    :func:`rider_api.network.text.sound_key`), so 南京富興, "Nanking Fuhsing" and
    "nan jing fu xing" meet it. Only the short form: 捷運 and 站 sound alike in every
    station's name. Computed from the words before they are run together, so each word
    of an older romanisation is read on its own."""
    full = normalize(name)
    variants = {full, _PARENS.sub(" ", full), normalize(spoken_en(name))}
    keys = {sound_key(strip_name_affixes(variant)) for variant in variants}
    keys.discard("")
    return frozenset(SOUND_MARK + key for key in keys)


def is_sound(key: str) -> bool:
    return key.startswith(SOUND_MARK)


# Abbreviations of Taipei's English stop names, spelled out for text-to-speech.
_SPOKEN = (
    (re.compile(r"\bSta\.?(?=\W|$)"), "Station"),
    (re.compile(r"\bRd\.?(?=\W|$)"), "Road"),
    (re.compile(r"\bSec\.?(?=\W|$)"), "Section"),
    (re.compile(r"\bSt\.(?=\W|$)"), "Street"),
    (re.compile(r"\bSt$"), "Street"),
    (re.compile(r"\bAve\.?(?=\W|$)"), "Avenue"),
    (re.compile(r"\bElem\.?(?=\W|$)"), "Elementary"),
    (re.compile(r"\bJr\.?(?=\W|$)"), "Junior"),
    (re.compile(r"\bSr\.?(?=\W|$)"), "Senior"),
    (re.compile(r"\bSch\.?(?=\W|$)"), "School"),
    (re.compile(r"\bHosp\.?(?=\W|$)"), "Hospital"),
    (re.compile(r"\bDist\.?(?=\W|$)"), "District"),
)


def spoken_en(name: str) -> str:
    """An English name as it should be read aloud: "MRT City Hall Sta." -> "... Station"."""
    spoken = name
    for pattern, word in _SPOKEN:
        spoken = pattern.sub(word, spoken)
    return _SPACES.sub(" ", spoken).strip()
