"""Forgiving stop search over the loaded network, precomputed once per network load.

A rider types a name the way it comes: with 站 or "station" after it, in simplified
characters, with a typo, in an older romanisation ("Chunghsiao Fuhsing") or in pinyin
("zhongxiao fuxing"). Each stop's name forms are computed once (:class:`StopSearchIndex`,
built with the network view); a query is normalised once and compared against them in
tiers, best first: the exact name, a name that starts with the query, a name that holds
every word of it, the same sound, then a near spelling (rapidfuzz). Typos are looked
for only when nothing matched better, and only close ones count: a nonsense query finds
nothing.

Every text goes through the one normaliser (:func:`rider_api.network.text.normalize`),
so either language, simplified or traditional, 台 or 臺, full-width or ASCII are alike.
"""

from __future__ import annotations

import bisect
import enum
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from rider_api.network.text import normalize, sound_key

__all__ = [
    "ALIASES",
    "Match",
    "NameForms",
    "SearchHit",
    "StopSearchIndex",
    "name_forms",
    "query_terms",
    "search_key",
    "strip_affixes",
]

#: Other names riders use for a place: a landmark, a short form, the old name. Each
#: alias is added to the stops whose normalised name holds the value (none: unused).
ALIASES: dict[str, str] = {
    "北車": "臺北車站",
    "臺北火車站": "臺北車站",
    "台北火車站": "臺北車站",
    "taipei station": "臺北車站",
    "taipei railway station": "臺北車站",
    "main station": "臺北車站",
    "市府": "市政府",
    "city hall": "市政府",
    "故宮": "故宮博物院",
    "palace museum": "故宮博物院",
    "中正紀念堂": "中正紀念堂",
    "cks memorial hall": "中正紀念堂",
    "饒河夜市": "饒河街觀光夜市",
    "饒河街夜市": "饒河街觀光夜市",
    "raohe night market": "饒河街觀光夜市",
    "台大醫院": "臺大醫院",
    "臺大醫院": "臺大醫院",
    "ntuh": "臺大醫院",
    "國父紀念館": "國父紀念館",
    "sun yat sen memorial": "國父紀念館",
    "世貿": "世貿",
    "world trade center": "世貿",
    "臺北101": "臺北101",
    "taipei 101": "臺北101",
    "松山機場": "松山機場",
    "台北松山機場": "松山機場",
    "songshan airport": "松山機場",
    "華山": "華山文創園區",
    "huashan": "華山文創園區",
    "士林官邸": "士林官邸",
}

# What riders add to a name or leave out of it: 站, 車站, "station", "MRT", "bus stop".
_ZH_SUFFIXES = ("公車站牌", "公車站", "站牌", "車站", "站")
_ZH_PREFIXES = ("捷運",)
_EN_AFFIXES = re.compile(r"\b(?:mrt|metro|bus stop|stop|station|sta|the)\b\.?")
_NON_WORD = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")
#: Fewest characters a query needs before near spellings are looked for.
_FUZZY_MIN_LATIN = 5
_FUZZY_MIN_HAN = 3
#: rapidfuzz ratio (0..100) a near spelling needs: about one slip in six letters; in
#: Chinese, where a name has three to five characters, one wrong character in five.
_FUZZY_CUTOFF = 82.0
_FUZZY_CUTOFF_HAN = 72.0
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SEPARATOR = "\x00"
#: Fewest letters of a sound key before a name that starts with that sound counts.
_SOUND_PREFIX_MIN = 6


class Match(enum.IntEnum):
    """How a stop matched a query, best first (the order results come in)."""

    EXACT = 0
    PREFIX = 1
    WORDS = 2
    SOUND = 3
    FUZZY = 4


@dataclass(frozen=True, slots=True)
class SearchHit:
    stop_id: str
    match: Match
    #: 0..100; 100 for all but near spellings.
    score: float = 100.0


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
    return _clean(query).split()


def _clean(query: str) -> str:
    return normalize("".join(" " if unicodedata.category(c) == "Cc" else c for c in query))


def strip_affixes(text: str) -> str:
    """A normalised name without what riders add or leave out (站, 車站, "station", 捷運,
    "MRT"); ``text`` itself when nothing would be left of it."""
    stripped = _SPACES.sub(" ", _EN_AFFIXES.sub(" ", text)).strip()
    for prefix in _ZH_PREFIXES:
        stripped = stripped.removeprefix(prefix)
    for suffix in _ZH_SUFFIXES:
        if stripped.endswith(suffix) and len(stripped) - len(suffix) >= 2:
            stripped = stripped[: -len(suffix)]
            break
    return stripped.strip() or text


def _words(text: str) -> str:
    """Punctuation as spaces: "minquan w. rd." -> "minquan w rd"."""
    return _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()


@dataclass(frozen=True, slots=True)
class NameForms:
    """A name or query in every form the search compares."""

    texts: frozenset[str]  # normalised, also without affixes and punctuation
    sounds: frozenset[str]  # sound keys (text.sound_key) of those
    compact: frozenset[str]  # texts without spaces, for near spellings


def name_forms(*names: str, strip: bool = True) -> NameForms:
    """Every form of ``names`` (already normalised) that a query may meet; without the
    affixes too unless ``strip`` is false."""
    texts: set[str] = set()
    for name in names:
        for form in (name, strip_affixes(name)) if strip else (name,):
            texts.update((form, _words(form)))
    texts.discard("")
    sounds = {sound_key(text) for text in texts}
    sounds.discard("")
    compact = {text.replace(" ", "") for text in texts}
    return NameForms(frozenset(texts), frozenset(sounds), frozenset(compact))


@dataclass(frozen=True)
class StopSearchIndex:
    """Every stop's name forms, and sorted lists for exact and prefix lookups.

    Built once per network load (:meth:`build`); :meth:`search` then costs one pass of
    substring tests over the stops and, only when nothing else matched, one rapidfuzz
    pass over the compact names.
    """

    #: (stop_id, zh-TW name, English name, extra names such as aliases)
    stop_ids: tuple[str, ...]
    _order: dict[str, tuple[int, str]] = field(repr=False)
    _texts: list[tuple[str, str]] = field(repr=False)  # sorted (text, stop_id)
    _sounds: list[tuple[str, str]] = field(repr=False)  # sorted (sound, stop_id)
    #: Every stop's texts in one string, stop after stop; ``_starts`` where each begins.
    _corpus: str = field(repr=False)
    _starts: list[int] = field(repr=False)
    #: Compact names and sound keys for near spellings, sorted by length.
    _fuzzy_keys: list[str] = field(repr=False)
    _fuzzy_lengths: list[int] = field(repr=False)
    _fuzzy_owner: list[str] = field(repr=False)

    @classmethod
    def build(cls, stops: Iterable[tuple[str, str, str]]) -> StopSearchIndex:
        """The index of ``(stop_id, zh-TW name, English name)`` triples."""
        alias_forms = [(normalize(value), normalize(alias)) for alias, value in ALIASES.items()]
        ids: list[str] = []
        order: dict[str, tuple[int, str]] = {}
        texts: list[tuple[str, str]] = []
        sounds: list[tuple[str, str]] = []
        haystacks: list[str] = []
        fuzzy: dict[tuple[str, str], None] = {}
        for stop_id, name_zh, name_en in stops:
            names = [normalize(name_zh), normalize(name_en)]
            names += [alias for value, alias in alias_forms if value and value in names[0]]
            forms = name_forms(*names)
            ids.append(stop_id)
            order[stop_id] = (len(name_zh), stop_id)
            texts.extend((text, stop_id) for text in forms.texts)
            sounds.extend((sound, stop_id) for sound in forms.sounds)
            haystacks.append("\n".join(sorted(forms.texts)))
            for key in (*forms.compact, *forms.sounds):
                fuzzy[(key, stop_id)] = None
        starts, at = [], 0
        for haystack in haystacks:
            starts.append(at)
            at += len(haystack) + 1
        by_length = sorted(fuzzy, key=lambda item: (len(item[0]), item))
        return cls(
            stop_ids=tuple(ids),
            _order=order,
            _texts=sorted(set(texts)),
            _sounds=sorted(set(sounds)),
            _corpus=_SEPARATOR.join(haystacks),
            _starts=starts,
            _fuzzy_keys=[key for key, _ in by_length],
            _fuzzy_lengths=[len(key) for key, _ in by_length],
            _fuzzy_owner=[stop_id for _, stop_id in by_length],
        )

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """The stops that match ``query``, best match first (see :class:`Match`).

        The query as typed is compared first; the query without its affixes (站,
        "station") only when that found nothing, so "台北車站" does not also find every
        name that starts with 臺北.
        """
        cleaned = _clean(query)
        if not cleaned or limit <= 0:
            return []
        typed = name_forms(cleaned, strip=False)
        bare = name_forms(cleaned)
        best: dict[str, SearchHit] = {}

        def found(stop_id: str, match: Match, score: float = 100.0) -> None:
            hit = best.get(stop_id)
            if hit is None or (match, -score) < (hit.match, -hit.score):
                best[stop_id] = SearchHit(stop_id, match, score)

        for forms in (typed, bare):
            for text in forms.texts:
                for key, stop_id in _starting_with(self._texts, text):
                    found(stop_id, Match.EXACT if key == text else Match.PREFIX)
            for text in forms.texts:
                for stop_id in self._holding(text.split()):
                    found(stop_id, Match.WORDS)
            if best:
                break
        for forms in (typed, bare):
            for sound in forms.sounds:
                for key, stop_id in _starting_with(self._sounds, sound):
                    if key == sound or (forms is typed and len(sound) >= _SOUND_PREFIX_MIN):
                        found(stop_id, Match.SOUND)
        if not best:
            for stop_id, score in self._near_spellings(typed, limit):
                found(stop_id, Match.FUZZY, score)
        ranked = sorted(best.values(), key=lambda h: (h.match, -h.score, self._order[h.stop_id]))
        return ranked[:limit]

    def _holding(self, words: list[str]) -> set[str]:
        """The stops whose texts hold every one of ``words`` (found with str.find over
        the corpus: one C-speed scan for the longest word, then a check per candidate)."""
        if not words:
            return set()
        longest = max(words, key=len)
        others = [word for word in words if word is not longest]
        holding: set[str] = set()
        at = self._corpus.find(longest)
        while at != -1:
            index = bisect.bisect_right(self._starts, at) - 1
            start = self._starts[index]
            end = self._corpus.find(_SEPARATOR, start)
            end = len(self._corpus) if end == -1 else end
            haystack = self._corpus[start:end]
            if all(word in haystack for word in others):
                holding.add(self.stop_ids[index])
            at = self._corpus.find(longest, end)
        return holding

    def _near_spellings(self, forms: NameForms, limit: int) -> list[tuple[str, float]]:
        scores: dict[str, float] = {}
        for key in forms.compact | forms.sounds:
            han = _HAN.search(key) is not None
            if len(key) < (_FUZZY_MIN_HAN if han else _FUZZY_MIN_LATIN):
                continue
            cutoff = _FUZZY_CUTOFF_HAN if han else _FUZZY_CUTOFF
            # ratio = 2 * matches / (len(a) + len(b)): lengths too far apart cannot reach
            # the cutoff, so only a band of the keys (sorted by length) is scored.
            low = bisect.bisect_left(
                self._fuzzy_lengths, math.floor(len(key) * cutoff / (200 - cutoff))
            )
            high = bisect.bisect_right(
                self._fuzzy_lengths, math.ceil(len(key) * (200 - cutoff) / cutoff)
            )
            for _key, score, at in process.extract(
                key,
                self._fuzzy_keys[low:high],
                scorer=fuzz.ratio,
                score_cutoff=cutoff,
                limit=limit * 4,
            ):
                owner = self._fuzzy_owner[low + at]
                scores[owner] = max(score, scores.get(owner, 0.0))
        return sorted(scores.items(), key=lambda item: -item[1])


def _starting_with(keys: list[tuple[str, str]], prefix: str) -> Iterable[tuple[str, str]]:
    """The (key, stop_id) pairs of sorted ``keys`` whose key starts with ``prefix``."""
    at = bisect.bisect_left(keys, (prefix, ""))
    while at < len(keys) and keys[at][0].startswith(prefix):
        yield keys[at]
        at += 1
