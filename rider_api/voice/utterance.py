"""Split a normalised utterance into route mentions and place phrases with their roles.

"我要搭307路往板橋，在捷運市政府站上車" -> route 307; "板橋" (direction);
"捷運市政府站" (boarding). "bus three oh seven to Banqiao at City Hall" likewise.
Roles come from the cue words around a phrase (往/到/在...上車, to/towards/at/from).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from rider_api.voice.lexicon import (
    BOARD_POST_STRONG,
    BOARD_POST_WEAK,
    BOARD_PRE,
    COLOR_ABBREVIATIONS,
    COLOR_HOMOPHONES,
    COLOR_PREFIXES,
    COLOR_WORDS,
    DIRECTION_POST,
    DIRECTION_PRE,
    EN_FILLERS,
    SUFFIX_WORDS,
    ZH_FILLERS,
)
from rider_api.voice.network import NetworkIndex
from rider_api.voice.numerals import NumberToken, find_numbers

__all__ = ["ParsedUtterance", "Phrase", "Role", "RouteMention", "parse_utterance"]


class Role(enum.Enum):
    BOARD = "board"  # where the rider gets on
    DIRECTION = "direction"  # a headsign or a stop further along (往X, to X, X下車)
    NONE = "none"  # a bare place name


@dataclass(frozen=True, slots=True)
class RouteMention:
    spoken: str  # as the rider said it, in index form: "307", "紅30"
    route_ids: tuple[str, ...]  # empty: no such route in the network
    strength: float  # 1.0 with a cue (路, route, a colour), less for a bare number


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    role: Role


@dataclass(frozen=True, slots=True)
class ParsedUtterance:
    text: str
    routes: tuple[RouteMention, ...]
    phrases: tuple[Phrase, ...]


_LEFT_COLOR = re.compile(
    "(?:(" + "|".join(COLOR_PREFIXES) + r")色?"
    r"|\b(" + "|".join(COLOR_WORDS) + r")"
    r"|(?<![a-z'])(" + "|".join(sorted(COLOR_ABBREVIATIONS, key=len, reverse=True)) + r"))\s*$"
)
_LEFT_COLOR_WORD = re.compile(r"\b(" + "|".join(COLOR_WORDS) + r")\s*$")
_LEFT_CUE = re.compile(
    r"(?:\b(?:route|bus|line|number|no\.?|the|take|catch)|#|搭|坐|乘|等|公車)\s*$"
)
_SUFFIX_WORD = re.compile(r"\s*(" + "|".join(SUFFIX_WORDS) + r")\b")
_LEFT_REJECT = re.compile(r"第\s*$")
_RIGHT_CUE = re.compile(r"^\s*(?:路(?!線)|號(?!出口)|公車|bus\b)")
_RIGHT_REJECT = re.compile(
    r"^\s*(?:分|點|段|巷|弄|樓|個|下|些|次|位|站|公尺|公里|元|塊|%|:"
    r"|min|minute|hour|meter|metre|km|m\b|am\b|pm\b|stops?\b|people|dollars?)"
)

_CUES = {
    **dict.fromkeys(BOARD_PRE, "board_pre"),
    **dict.fromkeys(DIRECTION_PRE, "dir_pre"),
    **dict.fromkeys(BOARD_POST_STRONG, "board_post"),
    **dict.fromkeys(BOARD_POST_WEAK, "board_weak"),
    **dict.fromkeys(DIRECTION_POST, "dir_post"),
}
_SEPARATOR = "|"


def _cue_pattern(cue: str) -> str:
    escaped = re.escape(cue).replace(r"\ ", r"\s+")
    return rf"\b{escaped}\b" if cue.isascii() else escaped


_CUE_RE = re.compile(
    "(" + "|".join(_cue_pattern(cue) for cue in sorted(_CUES, key=len, reverse=True)) + r"|\|)"
)
_PUNCTUATION = re.compile(r"[,，。!！?？;；、:：\"“”「」『』()\[\]\n]|\.(?=\s|$)")

_CJK_SPACE = re.compile("(?<=[\u3400-\u9fff\ue001])\\s+(?=[\u3400-\u9fff\ue000])")
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")


_HEARD_COLOR = re.compile(
    "(" + "|".join(COLOR_HOMOPHONES) + r")(?=\s*(?:\d|[〇零一二兩三四五六七八九十]))"
)


def parse_utterance(text: str, index: NetworkIndex) -> ParsedUtterance:
    """Find route mentions and role-tagged place phrases in normalised ``text``."""
    # A colour heard as a homophone right before a number (宗9) is the colour (棕9).
    text = _HEARD_COLOR.sub(lambda m: COLOR_HOMOPHONES[m.group(1)], text)
    protected = _protected_spans(text, index)
    routes, route_spans = _route_mentions(text, index, protected)
    pieces: list[tuple[int, int, str]] = [
        (start, end, f" {_SEPARATOR} ") for start, end in route_spans
    ]
    pieces += [(start, end, f"\ue000{i}\ue001") for i, (start, end) in enumerate(protected)]
    masked = text
    for start, end, replacement in sorted(pieces, reverse=True):
        masked = masked[:start] + replacement + masked[end:]
    masked = _PUNCTUATION.sub(f" {_SEPARATOR} ", masked)
    # In Chinese a space separates chunks: "往板橋 市政府站" is a direction, then a stop.
    masked = _CJK_SPACE.sub(f" {_SEPARATOR} ", masked)
    phrases = _phrases(masked, [text[start:end] for start, end in protected])
    return ParsedUtterance(text=text, routes=tuple(routes), phrases=tuple(phrases))


def _protected_spans(text: str, index: NetworkIndex) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for name in index.protected_names:  # longest first, so a whole name wins over a part
        start = text.find(name)
        while start != -1:
            end = start + len(name)
            if _free(start, end, spans):
                spans.append((start, end))
            start = text.find(name, end)
    return sorted(spans)


def _route_mentions(
    text: str, index: NetworkIndex, protected: list[tuple[int, int]]
) -> tuple[list[RouteMention], list[tuple[int, int]]]:
    mentions: list[RouteMention] = []
    spans: list[tuple[int, int]] = []
    for name, route_id in index.named_routes:
        for match in re.finditer(re.escape(name), text):
            if _free(match.start(), match.end(), spans + protected):
                spans.append((match.start(), match.end()))
                mentions.append(RouteMention(name, (route_id,), 1.0))
    for token in find_numbers(text):
        if not _free(token.start, token.end, spans + protected):
            continue
        found = _numbered_mention(text, token, index)
        if found is not None:
            mention, span = found
            spans.append(span)
            mentions.append(mention)
    return _dedupe(mentions), spans


def _numbered_mention(
    text: str, token: NumberToken, index: NetworkIndex
) -> tuple[RouteMention, tuple[int, int]] | None:
    left, right = text[: token.start], text[token.end :]
    if _LEFT_REJECT.search(left) or _RIGHT_REJECT.match(right):
        return None
    color_re = _LEFT_COLOR_WORD if token.kind == "en" else _LEFT_COLOR
    color_match = color_re.search(left)
    color = ""
    start = token.start
    if color_match is not None:
        spelled = next(group for group in color_match.groups() if group)
        color = COLOR_WORDS.get(spelled) or COLOR_ABBREVIATIONS.get(spelled) or spelled
        start = color_match.start()
    number = str(token.value)
    suffixes = index.suffixes.get((color, number), ())
    suffix = next((s for s in suffixes if s and right.startswith(s)), "")
    end = token.end + len(suffix)
    word = _SUFFIX_WORD.match(right)
    if not suffix and word is not None and SUFFIX_WORDS[word.group(1)] in suffixes:
        suffix, end = SUFFIX_WORDS[word.group(1)], token.end + word.end()
    right_cue = _RIGHT_CUE.match(text[end:])
    if right_cue is not None and not suffix:
        end += len(right_cue.group().rstrip())
    cued = bool(color) or right_cue is not None or _LEFT_CUE.search(left) is not None
    route_ids = index.route_ids_for(color, number, suffix)
    if not route_ids and not suffix:
        # "307" when the network only has "307區": every variant is a candidate.
        route_ids = tuple(
            route_id for s in suffixes for route_id in index.route_ids_for(color, number, s)
        )
    bare_word = token.kind != "digits" and token.words < 2
    if not cued and (not route_ids or bare_word):
        return None  # a number that is not about a route ("5 分鐘", "which one")
    spoken = f"{color}{number}{suffix}"
    return RouteMention(spoken, route_ids, 1.0 if cued else 0.9), (start, end)


def _free(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return all(end <= s or start >= e for s, e in spans)


def _dedupe(mentions: list[RouteMention]) -> list[RouteMention]:
    best: dict[tuple[str, ...] | str, RouteMention] = {}
    for mention in mentions:
        key: tuple[str, ...] | str = mention.route_ids or mention.spoken
        if key not in best or best[key].strength < mention.strength:
            best[key] = mention
    return list(best.values())


def _phrases(masked: str, protected: list[str]) -> list[Phrase]:
    parts = _CUE_RE.split(masked)
    # parts alternate: text, cue, text, cue, ..., text
    texts, cues = parts[0::2], parts[1::2]
    phrases: list[Phrase] = []
    for i, raw in enumerate(texts):
        restored = _PLACEHOLDER.sub(lambda m: protected[int(m.group(1))], raw)
        cleaned = _strip_fillers(restored)
        if not cleaned:
            continue
        before = _CUES.get(_cue_key(cues[i - 1])) if i > 0 else None
        after = _CUES.get(_cue_key(cues[i])) if i < len(cues) else None
        phrases.append(Phrase(cleaned, _role(before, after)))
    return phrases


def _cue_key(cue: str) -> str:
    return " ".join(cue.split())


def _role(before: str | None, after: str | None) -> Role:
    if after == "board_post":
        return Role.BOARD
    if after == "dir_post":
        return Role.DIRECTION
    if before == "board_pre":
        return Role.BOARD
    if before == "dir_pre":
        return Role.DIRECTION
    if after == "board_weak":
        return Role.BOARD
    return Role.NONE


def _strip_fillers(text: str) -> str:
    stripped = text.replace(_SEPARATOR, " ").strip()
    previous = None
    while stripped != previous:
        previous = stripped
        words = stripped.split()
        while words and words[0] in EN_FILLERS:
            words.pop(0)
        while words and words[-1] in EN_FILLERS:
            words.pop()
        stripped = " ".join(words)
        for filler in ZH_FILLERS:
            if stripped.startswith(filler):
                stripped = stripped[len(filler) :].strip()
            if stripped.endswith(filler):
                stripped = stripped[: -len(filler)].strip()
    return stripped
