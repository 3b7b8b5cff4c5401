"""Numbers as riders say or type them: 307, 三零七, 三百零七, 兩百六十二, "three oh seven".

Pure functions over normalised text (see ``normalize``); the parser decides which of
the numbers found are route numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NumberToken",
    "find_numbers",
    "parse_chinese_numeral",
    "parse_english_number",
]

ZH_DIGITS = {
    "〇": 0,
    "○": 0,
    "零": 0,
    "一": 1,
    "幺": 1,  # how Taiwanese read "1" in a string of digits
    "么": 1,  # 幺 as zhconv spells it
    "二": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
ZH_NUMERAL = re.compile("[" + "".join(ZH_DIGITS) + "".join(ZH_UNITS) + "]+")

EN_DIGITS = {
    "zero": 0,
    "oh": 0,
    "o": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
EN_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
EN_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
EN_SCALES = {"hundred": 100, "thousand": 1000}
_EN_GLUE = {"and", "double"}
_EN_WORDS = set(EN_DIGITS) | set(EN_TEENS) | set(EN_TENS) | set(EN_SCALES) | _EN_GLUE
# Words that only count inside a run of other number words ("three oh seven").
_EN_WEAK = {"o", "oh", "and", "double"}
_EN_WORD = re.compile(r"[a-z]+")
_EN_GAP = re.compile(r"[\s-]*")
_DIGITS = re.compile(r"\d+")


def parse_chinese_numeral(text: str) -> int | None:
    """三零七 / 三〇七 -> 307 (digit by digit); 三百零七 -> 307; 三十 -> 30; 三百七 -> 370.

    None when ``text`` is not a well-formed Chinese numeral.
    """
    if not text or ZH_NUMERAL.fullmatch(text) is None:
        return None
    if not any(char in ZH_UNITS for char in text):
        return int("".join(str(ZH_DIGITS[char]) for char in text))
    total = 0
    pending: int | None = None
    last_unit: int | None = None
    zero_since_unit = False
    previous_was_digit = False
    for char in text:
        if char in ZH_DIGITS:
            digit = ZH_DIGITS[char]
            if previous_was_digit and pending != 0:
                return None  # 三四百: two digits in a row only after a zero (三百零七)
            pending = digit
            zero_since_unit = zero_since_unit or digit == 0
            previous_was_digit = True
            continue
        unit = ZH_UNITS[char]
        if last_unit is not None and unit >= last_unit:
            return None  # units must fall: 三十百 is not a number
        total += (1 if pending is None else pending) * unit
        pending, last_unit, zero_since_unit, previous_was_digit = None, unit, False, False
    if pending is not None:
        if last_unit is not None and last_unit >= 100 and not zero_since_unit:
            # Colloquial: 三百七 means 370, 兩千五 means 2500.
            total += pending * (last_unit // 10)
        else:
            total += pending
    return total


def parse_english_number(words: Sequence[str]) -> int | None:
    """ "three oh seven" / "three hundred (and) seven" -> 307; "two sixty two" -> 262.

    Without "hundred"/"thousand" the words are read the way people read route numbers:
    group by group, each a digit, a teen or a tens word with its unit. None when the
    words are not a number.
    """
    words = [word.lower() for word in words]
    if not words or any(word not in _EN_WORDS for word in words):
        return None
    if any(word in EN_SCALES for word in words):
        return _english_cardinal(words)
    digits = ""
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else None
        if word in EN_TENS:
            value = EN_TENS[word]
            if following is not None and EN_DIGITS.get(following, 0) > 0:
                value += EN_DIGITS[following]
                index += 1
            digits += str(value)
        elif word in EN_TEENS:
            digits += str(EN_TEENS[word])
        elif word in EN_DIGITS:
            digits += str(EN_DIGITS[word])
        elif word == "double" and following in EN_DIGITS:
            digits += str(EN_DIGITS[following]) * 2
            index += 1
        else:
            return None
        index += 1
    return int(digits) if digits else None


def _english_cardinal(words: Sequence[str]) -> int | None:
    total = 0
    current = 0
    for word in words:
        if word == "and":
            continue
        if word in EN_DIGITS:
            current += EN_DIGITS[word]
        elif word in EN_TEENS:
            current += EN_TEENS[word]
        elif word in EN_TENS:
            current += EN_TENS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        elif word == "thousand":
            total += (current or 1) * 1000
            current = 0
        else:
            return None
    return total + current


@dataclass(frozen=True, slots=True)
class NumberToken:
    """A number found in normalised text, with its span and how it was written."""

    start: int
    end: int
    value: int
    kind: Literal["digits", "zh", "en"]
    words: int  # characters (zh) or words (en) it took; 1 for a bare single word


def find_numbers(text: str) -> list[NumberToken]:
    """Every number in normalised ``text``: digits, Chinese numerals, English words."""
    tokens = [
        NumberToken(match.start(), match.end(), int(match.group()), "digits", 1)
        for match in _DIGITS.finditer(text)
    ]
    for match in ZH_NUMERAL.finditer(text):
        value = parse_chinese_numeral(match.group())
        if value is not None:
            tokens.append(NumberToken(match.start(), match.end(), value, "zh", len(match.group())))
    tokens.extend(_english_numbers(text))
    return _join_spelled_digits(text, sorted(tokens, key=lambda token: token.start))


_DIGIT_GAP = re.compile(r"[\s-]+")


def _join_spelled_digits(text: str, tokens: list[NumberToken]) -> list[NumberToken]:
    """Digits said one by one and written apart by a recogniser ("3 0 7", "3-0-7",
    "三 零 七") are one number, as "307" is."""
    joined: list[NumberToken] = []
    run: list[NumberToken] = []

    def close() -> None:
        if len(run) >= 2:
            digits = "".join(str(token.value) for token in run)
            joined.append(NumberToken(run[0].start, run[-1].end, int(digits), "digits", len(run)))
        else:
            joined.extend(run)
        run.clear()

    for token in tokens:
        single = token.value < 10 and token.kind != "en" and token.end - token.start == 1
        if single and run and _DIGIT_GAP.fullmatch(text, run[-1].end, token.start) is not None:
            run.append(token)
            continue
        close()
        if single:
            run.append(token)
        else:
            joined.append(token)
    close()
    return joined


def _english_numbers(text: str) -> list[NumberToken]:
    runs: list[list[re.Match[str]]] = []
    run: list[re.Match[str]] = []
    for match in _EN_WORD.finditer(text):
        joined = bool(run) and _EN_GAP.fullmatch(text, run[-1].end(), match.start()) is not None
        if match.group() in _EN_WORDS and (joined or not run):
            run.append(match)
            continue
        if run:
            runs.append(run)
        run = [match] if match.group() in _EN_WORDS else []
    if run:
        runs.append(run)
    tokens: list[NumberToken] = []
    for words in runs:
        while words and words[0].group() in _EN_WEAK:
            words = words[1:]
        while words and words[-1].group() in _EN_WEAK - {"o", "oh"}:
            words = words[:-1]
        value = parse_english_number([word.group() for word in words]) if words else None
        if value is not None:
            tokens.append(NumberToken(words[0].start(), words[-1].end(), value, "en", len(words)))
    return tokens
