"""The wording table (exact strings, both languages) and how numbers are read."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from broker_config.messages import Announcement, Localized
from stop_gateway.announcements import (
    Announcer,
    Bilingual,
    Lexicon,
    Moment,
    Prompt,
    RouteText,
    default_lexicon,
    load_lexicon_file,
    minutes_from_eta,
)
from stop_gateway.numbers import english_route, mandarin_digits, mandarin_number, mandarin_route

ROUTE = RouteText(Bilingual("307", "307"), Bilingual("板橋", "Banqiao"))
R, RS, H, HS = "307路", "三零七路", " 往板橋", " to Bahn chow"

# moment, minutes, reason -> (zh display, en display, zh spoken, en spoken)
TABLE = [
    (
        Moment.BOOKED,
        None,
        None,
        f"{R}{H} 已預約，正在安排公車",
        "Bus 307 to Banqiao: booked; finding a bus for you",
        f"{RS}{H} 已預約，正在安排公車",
        f"Bus three oh seven{HS}: booked; finding a bus for you",
    ),
    (
        Moment.ASSIGNED,
        3,
        None,
        f"{R}{H} 公車已通知司機，約3分鐘後到站",
        "Bus 307 to Banqiao: the driver has been notified; arriving in about 3 minutes",
        f"{RS}{H} 公車已通知司機，約三分鐘後到站",
        f"Bus three oh seven{HS}: the driver has been notified; arriving in about 3 minutes",
    ),
    (
        Moment.ASSIGNED,
        None,
        None,
        f"{R}{H} 公車已通知司機",
        "Bus 307 to Banqiao: the driver has been notified",
        f"{RS}{H} 公車已通知司機",
        f"Bus three oh seven{HS}: the driver has been notified",
    ),
    (
        Moment.CONFIRMED,
        2,
        None,
        f"{R}{H} 司機已確認，約2分鐘後到站",
        "Bus 307 to Banqiao: the driver has confirmed; arriving in about 2 minutes",
        f"{RS}{H} 司機已確認，約兩分鐘後到站",
        f"Bus three oh seven{HS}: the driver has confirmed; arriving in about 2 minutes",
    ),
    (
        Moment.ETA,
        5,
        None,
        f"{R}{H} 公車約5分鐘後到站",
        "Bus 307 to Banqiao: arriving in about 5 minutes",
        f"{RS}{H} 公車約五分鐘後到站",
        f"Bus three oh seven{HS}: arriving in about 5 minutes",
    ),
    (
        Moment.ETA,
        1,
        None,
        f"{R}{H} 公車約1分鐘後到站",
        "Bus 307 to Banqiao: arriving in about 1 minute",
        f"{RS}{H} 公車約一分鐘後到站",
        f"Bus three oh seven{HS}: arriving in about 1 minute",
    ),
    (
        Moment.ARRIVING,
        None,
        None,
        f"{R} 公車即將到站，請準備上車",
        "Bus 307 is arriving; please get ready to board",
        f"{RS} 公車即將到站，請準備上車",
        "Bus three oh seven is arriving; please get ready to board",
    ),
    (
        Moment.AT_STOP,
        None,
        None,
        "307路 公車已到站",
        "Bus 307 is at the stop now",
        "三零七路 公車已到站",
        "Bus three oh seven is at the stop now",
    ),
    (
        Moment.MISSED,
        None,
        "bus_full",
        f"{R} 公車客滿，正在安排下一班",
        "Bus 307 was full; finding the next bus",
        f"{RS} 公車客滿，正在安排下一班",
        "Bus three oh seven was full; finding the next bus",
    ),
    (
        Moment.MISSED,
        None,
        None,
        f"{R} 公車未能停靠，正在安排下一班",
        "Bus 307 could not stop; finding the next bus",
        f"{RS} 公車未能停靠，正在安排下一班",
        "Bus three oh seven could not stop; finding the next bus",
    ),
    (
        Moment.REASSIGNED,
        12,
        "stop_blocked",
        f"{R}{H} 前一班公車無法靠站，已通知下一班司機，約12分鐘後到站",
        "Bus 307 to Banqiao: the last bus could not reach the stop; the next driver has been "
        "notified; arriving in about 12 minutes",
        f"{RS}{H} 前一班公車無法靠站，已通知下一班司機，約十二分鐘後到站",
        f"Bus three oh seven{HS}: the last bus could not reach the stop; the next driver has "
        "been notified; arriving in about 12 minutes",
    ),
    (
        Moment.CANCELLED,
        None,
        None,
        f"{R}{H} 的預約已取消",
        "Bus 307 to Banqiao: the booking is cancelled",
        f"{RS}{H} 的預約已取消",
        f"Bus three oh seven{HS}: the booking is cancelled",
    ),
    (
        Moment.EXPIRED,
        None,
        None,
        f"{R}{H} 的預約已逾時，請重新預約",
        "Bus 307 to Banqiao: the booking has expired; please book again",
        # 重新 is read zhòng by espeak-ng: the lexicon says it as 崇新 (chóng).
        f"{RS}{H} 的預約已逾時，請崇新預約",
        f"Bus three oh seven{HS}: the booking has expired; please book again",
    ),
    (
        Moment.NO_SHOW,
        None,
        None,
        f"{R} 公車已離站，預約已結束",
        "Bus 307 has left; the booking has ended",
        f"{RS} 公車已離站，預約已結束",
        "Bus three oh seven has left; the booking has ended",
    ),
]


def test_every_moment_is_in_the_table() -> None:
    assert {row[0] for row in TABLE} == set(Moment)


@pytest.mark.parametrize(("moment", "minutes", "reason", "zh", "en", "zh_said", "en_said"), TABLE)
def test_wording_table(
    moment: Moment,
    minutes: int | None,
    reason: str | None,
    zh: str,
    en: str,
    zh_said: str,
    en_said: str,
) -> None:
    wording = Announcer(default_lexicon()).moment(moment, ROUTE, minutes=minutes, reason=reason)
    assert wording.display == Bilingual(zh, en)
    assert wording.spoken == Bilingual(zh_said, en_said)
    assert wording.priority == ("urgent" if moment in (Moment.AT_STOP, Moment.ARRIVING) else "info")


def test_rider_language_is_said_first() -> None:
    wording = Announcer().moment(Moment.AT_STOP, ROUTE, first="en")
    assert [s.lang for s in wording.utterance("k").sentences] == ["en", "zh-TW"]
    assert wording.utterance("k").priority == "urgent"


PROMPTS = {
    Prompt.HELP_SENT: ("已通知服務人員，請稍候", "Staff have been notified; please wait"),
    Prompt.HELP_QUEUED: (
        "目前無法連線，恢復連線後會通知服務人員",
        "No connection right now; staff will be notified as soon as it is back",
    ),
    Prompt.NO_BOOKING: (
        "本站目前沒有預約。按預約鍵可預約公車",
        "There is no booking at this stop. Press book to book a bus",
    ),
    Prompt.CANCELLING: (
        "正在取消307路 往板橋的預約",
        "Cancelling the booking for Bus 307 to Banqiao",
    ),
    Prompt.MENU_INTRO: (
        "請選擇路線。聽到要搭的公車時，請按預約鍵",
        "Choose your bus. Press book when you hear it",
    ),
    Prompt.MENU_ITEM: ("307路 往板橋", "Bus 307 to Banqiao"),
    Prompt.MENU_NONE: ("沒有選擇路線", "No bus was chosen"),
    Prompt.BOOKING: ("正在預約307路 往板橋", "Booking Bus 307 to Banqiao"),
    Prompt.BOOK_FAILED: (
        "預約沒有成功，請稍後再試，或按求助鍵",
        "The booking did not go through; please try again later or press help",
    ),
    Prompt.NO_ROUTES: ("本站無法預約", "Booking is not available at this stop"),
    Prompt.OFFLINE: ("目前無法連線，請稍後再試", "No connection right now; please try again later"),
}


@pytest.mark.parametrize("prompt", list(Prompt))
def test_prompt_table(prompt: Prompt) -> None:
    wording = Announcer().prompt(prompt, ROUTE)
    assert wording.display == Bilingual(*PROMPTS[prompt])


@pytest.mark.parametrize(
    ("name", "zh_said", "en_name", "en_said"),
    [
        ("紅30", "紅三十 公車已到站", "Red 30", "Bus Red 30 is at the stop now"),
        ("棕9", "棕九 公車已到站", "Brown 9", "Bus Brown 9 is at the stop now"),
        ("1503", "一五零三路 公車已到站", "1503", "Bus one five oh three is at the stop now"),
        ("52", "五二路 公車已到站", "52", "Bus 52 is at the stop now"),
        ("小1", "小一 公車已到站", "S1", "Bus S1 is at the stop now"),
    ],
)
def test_route_names_are_read_correctly(
    name: str, zh_said: str, en_name: str, en_said: str
) -> None:
    wording = Announcer().moment(Moment.AT_STOP, RouteText(Bilingual(name, en_name)))
    assert wording.spoken == Bilingual(zh_said, en_said)
    assert wording.display.zh_tw.startswith(name)


def test_gtfs_tts_name_is_used_when_present() -> None:
    route = RouteText(Bilingual("307", "307"), tts=Bilingual("三百零七", "three hundred seven"))
    wording = Announcer().moment(Moment.AT_STOP, route)
    assert wording.spoken == Bilingual(
        "三百零七路 公車已到站", "Bus three hundred seven is at the stop now"
    )
    assert wording.display == Bilingual("307路 公車已到站", "Bus 307 is at the stop now")


def test_headsign_prefixes_are_not_doubled() -> None:
    route = RouteText(Bilingual("307", "307"), Bilingual("往板橋", "To Banqiao"))
    assert Announcer().moment(Moment.CANCELLED, route).display == Bilingual(
        "307路 往板橋 的預約已取消", "Bus 307 to Banqiao: the booking is cancelled"
    )


@pytest.mark.parametrize(
    ("n", "said"),
    [
        (0, "零"),
        (1, "一"),
        (2, "兩"),
        (10, "十"),
        (11, "十一"),
        (12, "十二"),
        (20, "二十"),
        (22, "二十二"),
        (45, "四十五"),
        (100, "一百"),
        (101, "一百零一"),
        (110, "一百一十"),
        (200, "兩百"),
        (1005, "一千零五"),
        (2000, "兩千"),
        (10_000, "一萬"),
        (10_001, "一萬零一"),
    ],
)
def test_mandarin_numbers(n: int, said: str) -> None:
    assert mandarin_number(n) == said


def test_number_reading_helpers() -> None:
    assert mandarin_digits("307") == "三零七"
    assert mandarin_number(2, counting=False) == "二"
    assert mandarin_route("307區") == "三零七區"
    assert mandarin_route("綠13") == "綠十三"
    assert english_route("307") == "three oh seven"
    assert english_route("F225") == "F two two five"
    assert [minutes_from_eta(s) for s in (0, 29, 31, 89, 91, 180)] == [1, 1, 1, 1, 2, 3]
    with pytest.raises(ValueError, match="outside"):
        mandarin_number(-1)


def test_lexicon_defaults_and_extension(tmp_path: Path) -> None:
    lexicon = default_lexicon()
    assert lexicon.apply("臺北車站 重慶南路", "zh-TW") == "台北車站 崇慶南路"
    assert lexicon.apply("Banqiao and Banqiaoxyz", "en") == "Bahn chow and Banqiaoxyz"
    extra = tmp_path / "lexicon.json"
    extra.write_text('{"zh-TW": {"頂溪": "鼎溪"}, "en": {"Dingxi": "Ding shee"}}', "utf-8")
    merged = lexicon.merged(load_lexicon_file(extra))
    assert merged.apply("往頂溪", "zh-TW") == "往鼎溪"
    assert merged.apply("to Dingxi", "en") == "to Ding shee"
    assert Lexicon().apply("臺北", "zh-TW") == "臺北"


def test_operator_announcements_are_said_as_sent() -> None:
    announcement = Announcement(
        id=uuid.uuid4(),
        text=Localized.model_validate({"zh-TW": "本站今日停駛", "en": "No service today"}),
        priority="urgent",
    )
    wording = Announcer(default_lexicon()).operator(announcement, first="en")
    assert wording.spoken == Bilingual("本站今日停駛", "No service today")
    assert wording.priority == "urgent"
    assert wording.first == "en"
