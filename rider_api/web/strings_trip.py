"""Texts of a trip (booked, live updates, its ending, cancel and undo), in zh-TW and English.

Merged into ``strings.STRINGS``; a key defined in two modules is an error at import.
Keys starting ``live_``, ``st_``, ``eta_`` and ``end_`` go to the trip page's script.
"""

from __future__ import annotations

from typing import Final

from broker_config.i18n import Template
from broker_config.messages import Lang

__all__ = ["TRIP_TEXTS"]

TRIP_TEXTS: Final[dict[str, dict[Lang, Template]]] = {
    # the rider's needs on the review page (codes: broker_config.messages.RiderNeed)
    "needs_legend": {
        "zh-TW": "需要司機協助的事（可不選）",
        "en": "What the driver should know (optional)",
    },
    "needs_hint": {
        "zh-TW": "可以選多項。司機的螢幕會顯示，並唸出來。",
        "en": "Choose any that apply. The driver's screen shows and speaks them.",
    },
    "need_guide_dog": {"zh-TW": "我帶著導盲犬", "en": "I travel with a guide dog"},
    "need_wheelchair": {
        "zh-TW": "我坐輪椅（需要斜坡板）",
        "en": "I use a wheelchair (ramp needed)",
    },
    "need_help_boarding": {"zh-TW": "請協助我上車", "en": "Please help me board"},
    "need_tell_my_stop": {
        "zh-TW": "到我的下車站時請告訴我",
        "en": "Tell me when we reach my stop",
    },
    "err_needs": {
        "zh-TW": "請從清單中選擇需要的協助。",
        "en": "Choose what you need from the list.",
    },
    # the ending of a trip: heading, live message, next steps
    "end_heading": {
        "zh-TW": "{status}：{route}，在「{stop}」上車",
        "en": "{status}: {route} at {stop}",
    },
    "end_hint_completed": {"zh-TW": "謝謝搭乘。", "en": "Thank you for riding."},
    "end_hint_no_show": {
        "zh-TW": "如果公車沒有停下來載你，請在下方回報，或預約下一班。",
        "en": "If the bus did not stop for you, report it below, or book the next bus.",
    },
    "end_hint_expired": {
        "zh-TW": "沒有公車及時載到你。請在下方預約下一班，或回報公車沒有停。",
        "en": "No bus picked you up in time. Book the next bus below, "
        "or report that the bus did not stop.",
    },
    "end_hint_cancelled": {
        "zh-TW": "如果還要搭車，請在下方預約下一班。",
        "en": "If you still want to go, book the next bus below.",
    },
    "next_title": {"zh-TW": "接下來", "en": "What next"},
    "book_next_button": {
        "zh-TW": "預約下一班：{route}，在「{stop}」上車",
        "en": "Book the next bus: {route} at {stop}",
    },
    "report_hint": {
        "zh-TW": "公車沒有停下來載你嗎？告訴營運人員，他們會查看這班車。",
        "en": "Did the bus go past without stopping for you? "
        "Tell the operators: they will check that bus.",
    },
    "report_button": {"zh-TW": "公車沒有停", "en": "The bus did not stop"},
    "reported_done": {
        "zh-TW": "謝謝。營運人員已收到回報：{vehicle} 公車在 {time} 沒有停靠。",
        "en": "Thank you. The operators know that bus {vehicle} did not stop, at {time}.",
    },
    "reported_done_unknown": {
        "zh-TW": "謝謝。營運人員已收到回報：公車在 {time} 沒有停靠。",
        "en": "Thank you. The operators know that the bus did not stop, at {time}.",
    },
    "err_report-not-allowed": {
        "zh-TW": "預約還在進行中或已完成，無法回報公車沒有停。",
        "en": "This booking is still active or was completed: there is nothing to report.",
    },
    "already_ended": {
        "zh-TW": "這個預約已經結束：{status}。",
        "en": "This booking had already ended: {status}.",
    },
    # cancelling: a confirmation first (no time limit), the next bus after
    "cancel_confirm_title": {"zh-TW": "要取消這個預約嗎？", "en": "Cancel this booking?"},
    "cancel_confirm_text": {
        "zh-TW": "{route}，在「{stop}」上車。取消後，司機與站牌會收到通知。",
        "en": "{route} at {stop}. The driver and the stop will be told you no longer wait.",
    },
    "cancel_yes": {"zh-TW": "是，取消預約", "en": "Yes, cancel the booking"},
    "cancel_no": {"zh-TW": "不，保留預約", "en": "No, keep the booking"},
    # live updates of a ride with a destination, and of the stream itself
    "live_riding": {
        "zh-TW": "已上車。快到下車站時會提醒你。",
        "en": "You are on board. You will hear when your stop is next.",
    },
    "live_alighting": {
        "zh-TW": "下一站就是你的下車站：{stop}。請準備下車。",
        "en": "Your stop is next: {stop}. Get ready to get off.",
    },
    "live_back": {"zh-TW": "即時狀態已恢復。", "en": "Live updates are back."},
    # the next bus at a stop, before booking
    "next_live": {
        "zh-TW": "下一班：約 {n} 分鐘後到站（即時）",
        "en": "Next bus: about {n} min away (live)",
    },
    "next_live_now": {
        "zh-TW": "下一班：不到 1 分鐘到站（即時）",
        "en": "Next bus: under a minute away (live)",
    },
    "next_scheduled": {
        "zh-TW": "下一班：{time}（時刻表，非即時）",
        "en": "Next bus: {time} (scheduled, not live)",
    },
    "next_scheduled_tomorrow": {
        "zh-TW": "下一班：明天 {time}（時刻表，非即時）",
        "en": "Next bus: tomorrow at {time} (scheduled, not live)",
    },
    "next_none": {
        "zh-TW": "24 小時內沒有班次",
        "en": "No bus in the next 24 hours",
    },
    "next_hint": {
        "zh-TW": "「即時」來自公車的位置，「時刻表」來自班表；時間會自動更新。",
        "en": "Live times come from the buses' positions, scheduled times from the "
        "timetable. They update by themselves.",
    },
    "next_refresh": {"zh-TW": "重新查詢到站時間", "en": "Check bus times again"},
    "next_updated": {"zh-TW": "到站時間已更新。", "en": "Bus times updated."},
    "next_item": {"zh-TW": "{route}：{next}。", "en": "{route}: {next}."},
}
