"""The words the parser listens for, in both languages, in one place."""

from __future__ import annotations

__all__ = [
    "BOARD_POST_STRONG",
    "BOARD_POST_WEAK",
    "BOARD_PRE",
    "COLORS_EN",
    "COLOR_ABBREVIATIONS",
    "COLOR_HOMOPHONES",
    "COLOR_PREFIXES",
    "COLOR_WORDS",
    "DIRECTION_POST",
    "DIRECTION_PRE",
    "EN_FILLERS",
    "SUFFIX_WORDS",
    "ZH_FILLERS",
]

# Taipei's coloured feeder routes: 紅30 is "Red 30" (R30) in English.
COLOR_PREFIXES = ("紅", "藍", "棕", "綠", "橘", "黃", "小")
COLORS_EN = {
    "紅": "Red",
    "藍": "Blue",
    "棕": "Brown",
    "綠": "Green",
    "橘": "Orange",
    "黃": "Yellow",
    "小": "Small",
}
COLOR_WORDS = {
    "red": "紅",
    "blue": "藍",
    "brown": "棕",
    "green": "綠",
    "orange": "橘",
    "yellow": "黃",
    "small": "小",
    "minibus": "小",
}
COLOR_ABBREVIATIONS = {"r": "紅", "bl": "藍", "br": "棕", "g": "綠", "y": "黃", "s": "小"}
# What a speech recogniser writes for a colour it heard before a route number: 宗9 is 棕9.
COLOR_HOMOPHONES = {
    "洪": "紅", "宏": "紅", "虹": "紅", "蘭": "藍", "籃": "藍", "宗": "棕", "綜": "棕",
    "鬃": "棕", "蹤": "棕", "律": "綠", "菊": "橘", "局": "橘", "皇": "黃", "曉": "小",
}  # fmt: skip

# Route variants said in English: "262 Shuttle" is 262區.
SUFFIX_WORDS = {"shuttle": "區", "branch": "副", "express": "直", "night": "夜"}

# Cue words around a place name, and the role they give it.
BOARD_PRE = (
    "在", "從", "於", "at", "from", "near", "boarding at", "board at", "get on at",
    "pick me up at", "pick up at", "waiting at",
)  # fmt: skip
DIRECTION_PRE = (
    "往", "開往", "前往", "去", "到", "to", "towards", "toward", "heading to", "heading for",
    "going to", "bound for", "for", "in the direction of", "direction of", "get off at",
    "getting off at", "drop me at", "drop me off at", "alight at", "off at",
)  # fmt: skip
BOARD_POST_STRONG = ("上車",)
BOARD_POST_WEAK = ("搭車", "等車", "搭", "坐", "乘")
DIRECTION_POST = ("方向", "下車", "bound", "direction")

# Words around a place name that are not part of it.
ZH_FILLERS = tuple(
    sorted(
        (
            "我想要", "我要", "我想", "請問", "請", "幫我", "麻煩", "預約", "叫車", "一下",
            "公車", "巴士", "的", "了", "吧", "嗎", "喔", "啊", "呢", "那", "這", "班", "我",
            "要", "想", "現在", "目前", "可以", "然後", "再", "謝謝", "這裡", "這邊", "附近",
            "那裡", "旁邊", "就", "站牌", "車",
        ),
        key=len,
        reverse=True,
    )
)  # fmt: skip
EN_FILLERS = frozenset(
    "i i'm im i'd id want wanna would like need to take catch book please the a an bus buses "
    "route line number no me can you could get ride go going board on for here there nearby "
    "near now thanks thank hi hello um uh that this is it one my location where am and then "
    "just of in hey let's lets us we our which what let".split()
)
