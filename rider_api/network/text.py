"""The one text normaliser: stop names, typed searches and spoken words meet in one form.

The stop search index, the search query and the voice parser all go through
:func:`normalize`, so a name and a rider's words about it compare equal however they
were written: full-width or ASCII, simplified or traditional, 台 or 臺, any case.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

import zhconv

__all__ = ["load_zhconv_dictionary", "normalize"]

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
