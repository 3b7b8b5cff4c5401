"""The one text normaliser: stop names, typed searches and spoken words meet in one form.

The stop search index, the search query and the voice parser all go through
:func:`normalize`, so a name and a rider's words about it compare equal however they
were written: full-width or ASCII, simplified or traditional, 台 or 臺, any case.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from importlib import resources

import zhconv

__all__ = [
    "ROMANISATIONS",
    "load_zhconv_dictionary",
    "normalize",
    "romanised_word",
    "sound_key",
]

# Variant characters that riders and timetables use interchangeably, folded towards the
# form zhconv (zh-tw) writes, so that its output needs no second pass: 台 -> 臺 as in
# 臺北車站, the form the stored search keys have always used.
_VARIANTS = str.maketrans({"台": "臺", "舘": "館", "裏": "裡", "峯": "峰", "綫": "線"})
# Words for the same thing that differ by region (公交車 is mainland usage).
_WORDS = (("公交車", "公車"), ("巴士站", "站牌"))
_SPACES = re.compile(r"\s+")


@functools.cache
def load_zhconv_dictionary() -> None:
    """Load zhconv's dictionary once per process.

    zhconv's own lazy load leaves its dictionary file open (a ResourceWarning); given an
    explicit path it reads the file in a with-block.
    """
    with resources.as_file(resources.files("zhconv").joinpath("zhcdict.json")) as path:
        zhconv.loaddict(str(path))


def normalize(text: str) -> str:
    """``text`` in the one form that search and matching work on.

    NFKC (full-width letters and digits become ASCII), simplified -> traditional
    characters as written in Taiwan (zhconv, zh-tw), variant characters folded
    (台 -> 臺, 舘 -> 館 ...), case-folded, 公交車 -> 公車, runs of whitespace become one
    space and the ends are trimmed.
    """
    folded = unicodedata.normalize("NFKC", text)
    if not folded.isascii():  # zhconv changes nothing in ASCII; skip its dictionary walk
        load_zhconv_dictionary()
        folded = zhconv.convert(folded, "zh-tw").translate(_VARIANTS)
    folded = folded.casefold()
    for old, new in _WORDS:
        folded = folded.replace(old, new)
    return _SPACES.sub(" ", folded).strip()


# --- by sound -------------------------------------------------------------------------
#
# A name said aloud and written down again by a speech recogniser, or spelled in one of
# Taiwan's older romanisations, differs in letters but not in sound: 南京富興 and 南京復興
# are both "nan jing fu xing"; "Chunghsiao Fuhsing" (Wade-Giles), "Jhongsiao Fusing"
# (Tongyong) and "Zhongxiao Fuxing" (Hanyu Pinyin) are one name. :func:`sound_key` maps
# them to one key: Chinese characters to toneless pinyin, romanisations to pinyin, then
# the sounds Mandarin speakers and recognisers confuse folded together.

#: Whole words whose romanisation the spelling rules below do not reach.
ROMANISATIONS: dict[str, str] = {
    "nanking": "nanjing",
    "keelung": "jilong",
    "tamsui": "danshui",
    "tanshui": "danshui",
    "jungshiau": "zhongxiao",
    "chunghsiao": "zhongxiao",
    "fuhsing": "fuxing",
    "hsinyi": "xinyi",
    "shihlin": "shilin",
    "peitou": "beitou",
    "taipei": "taibei",
}
# Spellings that exist only in Wade-Giles, Tongyong or MPS2, in the order they apply.
_SPELLINGS = (
    (re.compile(r"['’`]"), ""),
    (re.compile(r"hs"), "x"),  # WG hsin -> xin
    (re.compile(r"jh"), "zh"),  # Tongyong jhong -> zhong
    (re.compile(r"ih\b"), "i"),  # WG shih, chih -> shi, zhi
    (re.compile(r"ien"), "ian"),  # WG lien -> lian
    (re.compile(r"ieh"), "ie"),
    (re.compile(r"ueh"), "ue"),
    (re.compile(r"iau"), "iao"),  # MPS2 shiau -> xiao
    (re.compile(r"ung"), "ong"),  # WG chung -> zhong (pinyin has no "ung")
    (re.compile(r"tz|ts"), "z"),
)
# Sounds folded together: retroflex and flat (Taiwanese Mandarin merges them), aspirated
# and plain (Wade-Giles writes them alike without its apostrophes), -ing and -in.
_FOLDS = (
    (re.compile(r"zh|ch|j|q|c"), "z"),
    (re.compile(r"sh|x"), "s"),
    (re.compile(r"p"), "b"),
    (re.compile(r"t"), "d"),
    (re.compile(r"k"), "g"),
    (re.compile(r"v|ü"), "u"),
    (re.compile(r"(?<=[ie])ng"), "n"),
)
_LATIN_WORD = re.compile(r"[a-z0-9ü]+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@functools.cache
def _pinyin() -> Callable[[str], list[str]]:
    """pypinyin's converter, imported on first use (its dictionaries take a moment)."""
    from pypinyin import Style, lazy_pinyin

    def convert(text: str) -> list[str]:
        return [str(syllable) for syllable in lazy_pinyin(text, style=Style.NORMAL)]

    return convert


def _fold(syllables: str) -> str:
    for pattern, replacement in _FOLDS:
        syllables = pattern.sub(replacement, syllables)
    return syllables


def romanised_word(word: str) -> str:
    """One Latin word in Hanyu Pinyin where it was spelled in an older romanisation."""
    if word in ROMANISATIONS:
        return ROMANISATIONS[word]
    for pattern, replacement in _SPELLINGS:
        word = pattern.sub(replacement, word)
    return word


def sound_key(text: str) -> str:
    """How ``text`` sounds, as one compact key: "忠孝復興", "Chunghsiao Fuhsing" and
    "zhong xiao fu xing" all give the same key. ``text`` must already be normalised.

    Chinese characters become toneless pinyin (pypinyin's most common reading; the
    folds make the usual misreadings of 重, 長 ... harmless), Latin words are read as
    pinyin in any romanisation, and confusable sounds are folded. Empty when ``text``
    holds nothing pronounceable.
    """
    parts: list[str] = []
    for chunk in _pinyin()(text) if _HAN.search(text) else [text]:
        if _HAN.search(chunk):
            parts.append(chunk)
            continue
        parts.extend(romanised_word(word) for word in _LATIN_WORD.findall(chunk.casefold()))
    return _fold("".join(parts))
