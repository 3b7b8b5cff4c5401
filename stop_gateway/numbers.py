"""How numbers and route names are read aloud (pure functions, no I/O).

Mandarin (Taiwan):
- route numbers digit by digit: 307 -> 三零七, 1503 -> 一五零三;
- a number after a Chinese prefix is a natural number: 紅30 -> 紅三十, 棕9 -> 棕九,
  小1 -> 小一 (that is how colour and feeder routes are said);
- counts such as minutes are natural numbers with 兩 for two: 2 -> 兩, 12 -> 十二,
  20 -> 二十, 105 -> 一百零五, 200 -> 兩百.

English: three-digit and longer route numbers are said digit by digit (307 ->
"three oh seven"), shorter ones and colour routes as written ("Red 30").
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "english_route",
    "mandarin_digits",
    "mandarin_number",
    "mandarin_route",
]

_ZH_DIGITS: Final = "零一二三四五六七八九"
_EN_DIGITS: Final = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DIGIT_RUN: Final = re.compile(r"\d+")
_HAN: Final = re.compile(r"[\u3400-\u9fff]")


def mandarin_digits(digits: str) -> str:
    """Digit by digit: ``"307"`` -> ``"三零七"``."""
    return "".join(_ZH_DIGITS[int(d)] for d in digits)


def _below_10000(n: int) -> str:
    units = ((1000, "千"), (100, "百"), (10, "十"))
    out: list[str] = []
    zero_pending = False
    for value, name in units:
        digit, n = divmod(n, value)
        if digit:
            if zero_pending:
                out.append("零")
                zero_pending = False
            out.append(_ZH_DIGITS[digit] + name)
        elif out:
            zero_pending = True
    if n:
        if zero_pending:
            out.append("零")
        out.append(_ZH_DIGITS[n])
    return "".join(out)


def mandarin_number(n: int, *, counting: bool = True) -> str:
    """A natural Mandarin number; ``counting`` says 兩 for a leading two (兩分鐘, 兩百).

    0..99_999_999. ``10`` is 十 (not 一十); ``110`` is 一百一十.
    """
    if n < 0 or n >= 100_000_000:
        raise ValueError(f"{n} is outside 0..99999999")
    if n == 0:
        return "零"
    high, low = divmod(n, 10_000)
    if high:
        text = _below_10000(high) + "萬"
        if low:
            text += ("零" if low < 1000 else "") + _below_10000(low)
    else:
        text = _below_10000(low)
    if text.startswith("一十"):
        text = text[1:]
    if counting and text.startswith("二") and n != 2 and not text.startswith("二十"):
        text = "兩" + text[1:]  # 兩百, 兩千, 兩萬 (but 二十)
    if counting and n == 2:
        text = "兩"
    return text


def mandarin_route(name: str) -> str:
    """How a route name is said in Mandarin (see the module docstring)."""

    def repl(match: re.Match[str]) -> str:
        before = name[: match.start()]
        if before and _HAN.search(before[-1]):
            return mandarin_number(int(match.group()), counting=False)
        return mandarin_digits(match.group())

    return _DIGIT_RUN.sub(repl, name)


def english_route(name: str) -> str:
    """How a route name is said in English: long numbers digit by digit."""

    def repl(match: re.Match[str]) -> str:
        digits = match.group()
        if len(digits) < 3:
            return digits
        spoken = " ".join(_EN_DIGITS[int(d)] for d in digits)
        if match.start() > 0 and not name[match.start() - 1].isspace():
            spoken = " " + spoken
        if match.end() < len(name) and not name[match.end()].isspace():
            spoken += " "
        return spoken

    return _DIGIT_RUN.sub(repl, name)
