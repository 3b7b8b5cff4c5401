"""What the stop says, in Mandarin (zh-TW) and English: pure wording, no I/O.

Public API
----------
- :class:`Moment`: the moments of a call the stop announces (booked, assigned, driver
  confirmed, ETA threshold, arriving, at the stop, missed, re-assigned, cancelled,
  expired, no-show) and :class:`Prompt`: what the buttons make it say.
- :class:`RouteText`: a route as shown and spoken (name, headsign, optional GTFS tts
  name); ``RouteText.from_call(call)``.
- :class:`Announcer`: ``announcer.moment(Moment.AT_STOP, route, first="en")``,
  ``announcer.prompt(Prompt.HELP_SENT)``, ``announcer.operator(announcement)`` give a
  :class:`Wording`: the display text and the spoken text per language, the priority,
  and the language to say first; ``wording.utterance(key)`` feeds the speech queue.
- :class:`Lexicon`: per-language pronunciation fixes (written form -> what to say),
  applied to spoken text only; :func:`default_lexicon` loads the defaults shipped
  with the package (``lexicon.zh-TW.json``, ``lexicon.en.json``), and
  ``lexicon.merged(extra)`` adds entries from configuration.
- :func:`minutes_from_eta`: ETA seconds -> the whole minutes we say (at least 1).

The spoken Mandarin reads route numbers digit by digit (三零七路), colour routes with a
natural number (紅三十), minutes as natural numbers (約兩分鐘); see
:mod:`stop_gateway.numbers`.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from broker_config.device.speech_queue import Priority, Utterance
from broker_config.messages import Announcement, Lang, Localized, StopCall
from stop_gateway.numbers import english_route, mandarin_number, mandarin_route

__all__ = [
    "REASONS",
    "Announcer",
    "Bilingual",
    "Lexicon",
    "Moment",
    "Prompt",
    "RouteText",
    "Wording",
    "default_lexicon",
    "load_lexicon_file",
    "minutes_from_eta",
]


class Moment(enum.StrEnum):
    BOOKED = "booked"
    ASSIGNED = "assigned"
    CONFIRMED = "confirmed"
    ETA = "eta"
    ARRIVING = "arriving"
    AT_STOP = "at_stop"
    MISSED = "missed"
    REASSIGNED = "reassigned"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NO_SHOW = "no_show"


class Prompt(enum.StrEnum):
    HELP_SENT = "help_sent"
    HELP_QUEUED = "help_queued"
    NO_BOOKING = "no_booking"
    CANCELLING = "cancelling"
    MENU_INTRO = "menu_intro"
    MENU_ITEM = "menu_item"
    MENU_NONE = "menu_none"
    BOOKING = "booking"
    BOOK_FAILED = "book_failed"
    NO_ROUTES = "no_routes"
    OFFLINE = "offline"


URGENT: Final = frozenset({Moment.ARRIVING, Moment.AT_STOP})

#: Why a pickup was missed, as ``(zh-TW, en)`` fitting "公車{zh}" / "Bus 307 {en}".
REASONS: Final[Mapping[str, tuple[str, str]]] = {
    "bus_full": ("客滿", "was full"),
    "stop_blocked": ("無法靠站", "could not reach the stop"),
    "unsafe": ("無法安全停靠", "could not stop safely"),
    "passed": ("已駛過本站", "passed the stop"),
    "left": ("已離站", "left the stop"),
}
_NO_REASON: Final = ("未能停靠", "could not stop")

# Templates: {r} route, {h} headsign phrase, {eta} ETA phrase, {m} minutes, {why} reason.
_MOMENTS: Final[Mapping[Moment, tuple[str, str]]] = {
    Moment.BOOKED: ("{r}{h} 已預約，正在安排公車", "{r}{h}: booked; finding a bus for you"),
    Moment.ASSIGNED: ("{r}{h} 公車已通知司機{eta}", "{r}{h}: the driver has been notified{eta}"),
    Moment.CONFIRMED: ("{r}{h} 司機已確認{eta}", "{r}{h}: the driver has confirmed{eta}"),
    Moment.ETA: ("{r}{h} 公車約{m}分鐘後到站", "{r}{h}: arriving in about {m}"),
    Moment.ARRIVING: ("{r} 公車即將到站，請準備上車", "{r} is arriving; please get ready to board"),
    Moment.AT_STOP: ("{r} 公車已到站", "{r} is at the stop now"),
    Moment.MISSED: ("{r} 公車{why}，正在安排下一班", "{r} {why}; finding the next bus"),
    Moment.REASSIGNED: (
        "{r}{h} 前一班公車{why}，已通知下一班司機{eta}",
        "{r}{h}: the last bus {why}; the next driver has been notified{eta}",
    ),
    Moment.CANCELLED: ("{r}{h} 的預約已取消", "{r}{h}: the booking is cancelled"),
    Moment.EXPIRED: (
        "{r}{h} 的預約已逾時，請重新預約",
        "{r}{h}: the booking has expired; please book again",
    ),
    Moment.NO_SHOW: ("{r} 公車已離站，預約已結束", "{r} has left; the booking has ended"),
}

_PROMPTS: Final[Mapping[Prompt, tuple[str, str]]] = {
    Prompt.HELP_SENT: ("已通知服務人員，請稍候", "Staff have been notified; please wait"),
    # Said when the help press has not reached the server yet; HELP_SENT follows once it has.
    Prompt.HELP_QUEUED: (
        "目前無法連線，恢復連線後會通知服務人員",
        "No connection right now; staff will be notified as soon as it is back",
    ),
    Prompt.NO_BOOKING: (
        "本站目前沒有預約。按預約鍵可預約公車",
        "There is no booking at this stop. Press book to book a bus",
    ),
    Prompt.CANCELLING: ("正在取消{r}{h}的預約", "Cancelling the booking for {r}{h}"),
    Prompt.MENU_INTRO: (
        "請選擇路線。聽到要搭的公車時，請按預約鍵",
        "Choose your bus. Press book when you hear it",
    ),
    Prompt.MENU_ITEM: ("{r}{h}", "{r}{h}"),
    Prompt.MENU_NONE: ("沒有選擇路線", "No bus was chosen"),
    Prompt.BOOKING: ("正在預約{r}{h}", "Booking {r}{h}"),
    Prompt.BOOK_FAILED: (
        "預約沒有成功，請稍後再試，或按求助鍵",
        "The booking did not go through; please try again later or press help",
    ),
    Prompt.NO_ROUTES: ("本站無法預約", "Booking is not available at this stop"),
    Prompt.OFFLINE: ("目前無法連線，請稍後再試", "No connection right now; please try again later"),
}

_PACKAGE_DIR: Final = Path(__file__).resolve().parent
_HAN: Final = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class Bilingual:
    """A text in both languages."""

    zh_tw: str
    en: str

    def get(self, lang: Lang) -> str:
        return self.zh_tw if lang == "zh-TW" else self.en

    @classmethod
    def of(cls, localized: Localized) -> Bilingual:
        return cls(localized.zh_tw, localized.en)


@dataclass(frozen=True, slots=True)
class Wording:
    """One announcement: shown text, spoken text, priority, language said first."""

    display: Bilingual
    spoken: Bilingual
    priority: Priority = "info"
    first: Lang = "zh-TW"

    def utterance(self, key: str | None = None) -> Utterance:
        return Utterance.bilingual(
            self.spoken.zh_tw, self.spoken.en, first=self.first, priority=self.priority, key=key
        )


@dataclass(frozen=True, slots=True)
class RouteText:
    """A route as shown and spoken: name ("307", "紅30"), headsign, GTFS tts name."""

    name: Bilingual
    headsign: Bilingual | None = None
    tts: Bilingual | None = None

    @classmethod
    def from_call(cls, call: StopCall) -> RouteText:
        return cls(
            name=Bilingual.of(call.route_name),
            headsign=Bilingual.of(call.headsign),
            tts=Bilingual.of(call.route_tts) if call.route_tts is not None else None,
        )


def minutes_from_eta(eta_s: int) -> int:
    """The whole minutes we say for an ETA in seconds (at least one)."""
    return max(1, round(eta_s / 60))


def _route_zh(name: str, said: str) -> str:
    # A plain number is "307路"; a named route (紅30, 小1) is said as is.
    return said + "路" if name and not _HAN.search(name) and name[-1].isdigit() else said


def _strip_to(headsign: str, lang: Lang) -> str:
    text = headsign.strip()
    if lang == "zh-TW":
        return text.removeprefix("往").strip()
    return re.sub(r"^(to|To|TO)\s+", "", text)


class Lexicon:
    """Pronunciation fixes per language, applied longest entry first, in one pass."""

    def __init__(self, entries: Mapping[Lang, Mapping[str, str]] | None = None) -> None:
        self.entries: dict[Lang, dict[str, str]] = {"zh-TW": {}, "en": {}}
        for lang, table in (entries or {}).items():
            self.entries[lang].update({k: v for k, v in table.items() if not k.startswith("_")})
        self._patterns: dict[Lang, re.Pattern[str] | None] = {
            lang: self._compile(lang, table) for lang, table in self.entries.items()
        }

    @staticmethod
    def _compile(lang: Lang, table: Mapping[str, str]) -> re.Pattern[str] | None:
        if not table:
            return None
        words = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
        return re.compile(rf"\b(?:{words})\b" if lang == "en" else f"(?:{words})")

    def merged(self, extra: Mapping[Lang, Mapping[str, str]]) -> Lexicon:
        """A lexicon with ``extra`` added (its entries win)."""
        combined: dict[Lang, dict[str, str]] = {k: dict(v) for k, v in self.entries.items()}
        for lang, table in extra.items():
            combined[lang].update(table)
        return Lexicon(combined)

    def apply(self, text: str, lang: Lang) -> str:
        pattern = self._patterns.get(lang)
        if pattern is None:
            return text
        table = self.entries[lang]
        return pattern.sub(lambda m: table[m.group()], text)


def load_lexicon_file(path: Path) -> dict[Lang, dict[str, str]]:
    """A configuration lexicon: ``{"zh-TW": {written: said}, "en": {...}}``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not set(data) <= {"zh-TW", "en"}:
        raise ValueError(f"{path}: a lexicon is {{'zh-TW': {{...}}, 'en': {{...}}}}")
    return {lang: {str(k): str(v) for k, v in table.items()} for lang, table in data.items()}


@functools.cache
def default_lexicon() -> Lexicon:
    """The lexicon shipped with the package."""
    tables: dict[Lang, dict[str, str]] = {}
    for lang in ("zh-TW", "en"):
        text = (_PACKAGE_DIR / f"lexicon.{lang}.json").read_text(encoding="utf-8")
        tables[lang] = json.loads(text)
    return Lexicon(tables)


class Announcer:
    """Builds every text the stop shows and says; see the module docstring."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else Lexicon()

    def _fields(
        self, route: RouteText | None, minutes: int | None, reason: str | None, *, spoken: bool
    ) -> dict[Lang, dict[str, str]]:
        out: dict[Lang, dict[str, str]] = {}
        zh_why, en_why = REASONS.get(reason or "", _NO_REASON)
        for lang in ("zh-TW", "en"):
            why = zh_why if lang == "zh-TW" else en_why
            fields = {"r": "", "h": "", "eta": "", "m": "", "why": why}
            if route is not None:
                name = route.name.get(lang)
                said = name
                if spoken:
                    if route.tts is not None and route.tts.get(lang):
                        said = route.tts.get(lang)
                    else:
                        said = mandarin_route(name) if lang == "zh-TW" else english_route(name)
                fields["r"] = _route_zh(name, said) if lang == "zh-TW" else f"Bus {said}"
                if route.headsign is not None and route.headsign.get(lang).strip():
                    place = _strip_to(route.headsign.get(lang), lang)
                    fields["h"] = f" 往{place}" if lang == "zh-TW" else f" to {place}"
            if minutes is not None:
                if lang == "zh-TW":
                    count = mandarin_number(minutes) if spoken else str(minutes)
                    fields["m"] = count
                    fields["eta"] = f"，約{count}分鐘後到站"
                else:
                    unit = "minute" if minutes == 1 else "minutes"
                    fields["m"] = f"{minutes} {unit}"
                    fields["eta"] = f"; arriving in about {minutes} {unit}"
            out[lang] = fields
        return out

    def _render(
        self,
        templates: tuple[str, str],
        route: RouteText | None,
        minutes: int | None,
        reason: str | None,
        priority: Priority,
        first: Lang,
    ) -> Wording:
        shown = self._fields(route, minutes, reason, spoken=False)
        said = self._fields(route, minutes, reason, spoken=True)
        zh, en = templates
        return Wording(
            display=Bilingual(zh.format(**shown["zh-TW"]), en.format(**shown["en"])),
            spoken=Bilingual(
                self.lexicon.apply(zh.format(**said["zh-TW"]), "zh-TW"),
                self.lexicon.apply(en.format(**said["en"]), "en"),
            ),
            priority=priority,
            first=first,
        )

    def moment(
        self,
        moment: Moment,
        route: RouteText,
        *,
        minutes: int | None = None,
        reason: str | None = None,
        first: Lang = "zh-TW",
    ) -> Wording:
        """The wording of a call's moment; ``minutes`` is the ETA said (None: none)."""
        priority: Priority = "urgent" if moment in URGENT else "info"
        return self._render(_MOMENTS[moment], route, minutes, reason, priority, first)

    def prompt(
        self,
        prompt: Prompt,
        route: RouteText | None = None,
        *,
        first: Lang = "zh-TW",
        priority: Priority = "info",
    ) -> Wording:
        """What a button makes the stop say."""
        return self._render(_PROMPTS[prompt], route, None, None, priority, first)

    def operator(self, announcement: Announcement, *, first: Lang = "zh-TW") -> Wording:
        """An operator's announcement, said as sent (only the lexicon fixes pronunciation)."""
        text = Bilingual.of(announcement.text)
        return Wording(
            display=text,
            spoken=Bilingual(
                self.lexicon.apply(text.zh_tw, "zh-TW"), self.lexicon.apply(text.en, "en")
            ),
            priority=announcement.priority,
            first=first,
        )
