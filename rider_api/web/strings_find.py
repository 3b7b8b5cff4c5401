"""Texts of finding a stop (search, near me) and of voice booking, in zh-TW and English.

Merged into ``strings.STRINGS``; a key defined in two modules is an error at import.
"""

from __future__ import annotations

from typing import Final

from broker_config.i18n import Template, plural
from broker_config.messages import Lang

__all__ = ["FIND_TEXTS"]

FIND_TEXTS: Final[dict[str, dict[Lang, Template]]] = {
    # near me: distance, direction in words and the walk
    "near_within": {
        "zh-TW": "離你 {r} 公尺內的站牌：{n} 個，由近到遠。",
        "en": plural(
            one="{n} stop within {r} m of you.",
            other="{n} stops within {r} m of you, nearest first.",
        ),
    },
    "near_wider": {
        "zh-TW": "{first} 公尺內沒有站牌。以下是 {r} 公尺內的站牌：{n} 個，由近到遠。",
        "en": plural(
            one="No stop within {first} m. {n} stop within {r} m:",
            other="No stop within {first} m. {n} stops within {r} m, nearest first:",
        ),
    },
    "near_none": {
        "zh-TW": "{r} 公尺內沒有站牌。請改用站名搜尋。",
        "en": "No stop within {r} m of you. Search by stop name instead.",
    },
    "walk_compass": {
        "zh-TW": "{direction} {m} 公尺，步行約 {min} 分鐘",
        "en": "{m} m {direction}, about {min} min walk",
    },
    "walk_clock": {
        "zh-TW": "{direction} {m} 公尺，步行約 {min} 分鐘",
        "en": "{m} m, {direction}, about {min} min walk",
    },
    "walk_note": {
        "zh-TW": "方向是從你所在的位置算起。步行時間是估計的："
        "直線距離加三成，以較慢的步行速度計算，實際路線可能不同。",
        "en": "Directions are from where you are. Walking times are estimates: the straight "
        "line plus 30%, at a careful pace. The real way may differ.",
    },
    # search by name: when only similar names were found
    "results_close": {
        "zh-TW": "沒有站名完全符合「{q}」。以下是發音或寫法相近的站牌，請確認是不是你要找的。",
        "en": "No stop is called “{q}”. These sound or are spelled alike: check that one is "
        "the stop you mean.",
    },
    "match_sound": {"zh-TW": "發音相近", "en": "sounds alike"},
    "match_fuzzy": {"zh-TW": "寫法相近", "en": "similar spelling"},
    # voice: choices as buttons, location, the way in from the home page
    "skip_voice": {"zh-TW": "跳到用說的預約", "en": "Skip to book by voice"},
    "proposal_routes_here": {
        "zh-TW": "選擇這一站的路線",
        "en": "Choose a route at this stop",
    },
    "proposal_stops": {"zh-TW": "選擇上車站牌", "en": "Choose the stop"},
    "proposal_stop_page": {
        "zh-TW": "查看「{stop}」的所有路線",
        "en": "See every route at {stop}",
    },
    "voice_location": {"zh-TW": "附上我的位置", "en": "Include my location"},
    "voice_location_hint": {
        "zh-TW": "附上位置，就不必說出在哪一站上車：會選離你最近的站牌。"
        "只有按下這個按鈕時才會詢問位置。",
        "en": "With your location you need not say the stop: the nearest one is used. "
        "Your location is asked for only when you press this button.",
    },
    "voice_location_busy": {"zh-TW": "正在取得位置…", "en": "Finding your location…"},
    "voice_location_on": {
        "zh-TW": "會附上你的位置（誤差約 {m} 公尺）。",
        "en": "Your location will be sent with your request (accurate to about {m} m).",
    },
    "voice_location_kept": {
        "zh-TW": "會附上你先前提供的位置。",
        "en": "The location you gave before will be sent with your request.",
    },
    "voice_location_off": {
        "zh-TW": "無法取得你的位置，會在沒有位置的情況下送出。請說出上車站名。",
        "en": "Your location is not available: your request will be sent without it. "
        "Say the stop where you get on.",
    },
    "voice_location_remove": {"zh-TW": "不要附上位置", "en": "Do not include my location"},
    "voice_location_removed": {
        "zh-TW": "不會附上你的位置。",
        "en": "Your location will not be sent.",
    },
}
