"""Text normalisation shared by the utterance parser and the network index.

Both sides go through the same functions, so a name and a rider's words about it meet
in one form: NFKC (full-width digits and letters), simplified -> traditional
characters (zhconv, zh-tw), variant characters folded (臺 -> 台), lower case.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

import zhconv

__all__ = [
    "load_zhconv_dictionary",
    "match_key",
    "name_keys",
    "normalize",
    "spoken_en",
    "strip_name_affixes",
]

# Variant characters that riders and timetables use interchangeably. Folding goes
# towards the form zhconv does *not* produce, so its output is folded too.
_VARIANTS = str.maketrans({"臺": "台", "舘": "館", "裏": "裡", "峯": "峰", "綫": "線"})
_WORDS = (("公交車", "公車"), ("巴士站", "站牌"))
_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")
_PARENS = re.compile(r"\([^)]*\)")

_EN_AFFIXES = re.compile(r"\b(?:mrt|metro|sta|station|stop|bus|the)\b\.?")
_ZH_PREFIX = "捷運"


@functools.cache
def load_zhconv_dictionary() -> None:
    # zhconv's own lazy load leaves its dictionary file open (a ResourceWarning); given
    # an explicit path it reads the file in a with-block. Loaded once per process.
    with resources.as_file(resources.files("zhconv").joinpath("zhcdict.json")) as path:
        zhconv.loaddict(str(path))


def normalize(text: str) -> str:
    """Fold an utterance or a name into the one form that matching works on."""
    load_zhconv_dictionary()
    folded = unicodedata.normalize("NFKC", text)
    folded = zhconv.convert(folded, "zh-tw").translate(_VARIANTS).lower()
    for old, new in _WORDS:
        folded = folded.replace(old, new)
    return _SPACES.sub(" ", folded).strip()


def match_key(text: str) -> str:
    """A normalised text without spaces and punctuation: what fuzzy matching compares."""
    return _NON_WORD.sub("", normalize(text))


def strip_name_affixes(text: str) -> str:
    """Drop the parts of a stop name that riders leave out ("MRT", "Sta.", 捷運, 站).

    ``text`` must already be normalised. 車站 keeps its 站: 台北車站 is not 台北車.
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
