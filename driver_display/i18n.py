"""Every text the driver sees or hears, in zh-TW and English.

``t("key", lang, **fields)`` looks a text up and fills ``{fields}``; the wording of the
spoken line and of the minutes-away label are small pure functions here too.
"""

from __future__ import annotations

from typing import Final

from broker_config.i18n import LANGS, StringTable, plural
from broker_config.messages import (
    CannotStopReason,
    DriverAlert,
    DriverEventType,
    Lang,
    Localized,
    ReservationStatus,
    RiderNeed,
)

__all__ = [
    "TEXTS",
    "answer_label",
    "eta_label",
    "eta_minutes",
    "kind_label",
    "localized",
    "need_label",
    "reason_label",
    "route_label",
    "spoken_line",
    "status_label",
    "t",
]

TEXTS: Final = StringTable(
    "driver display",
    {
        "title": {"zh-TW": "司機顯示器", "en": "Driver display"},
        "vehicle": {"zh-TW": "車輛 {vehicle_id}", "en": "Vehicle {vehicle_id}"},
        "next": {"zh-TW": "下一個", "en": "Next"},
        "now": {"zh-TW": "請回覆", "en": "Answer now"},
        "ended": {"zh-TW": "已結束", "en": "Ended"},
        "later": {"zh-TW": "之後", "en": "Later"},
        "none": {"zh-TW": "目前沒有上下車預約", "en": "No pick-ups or drop-offs right now"},
        "online": {"zh-TW": "已連線", "en": "Online"},
        "offline": {
            "zh-TW": "離線：回覆會保留並在連線後送出",
            "en": "Offline: answers are kept and sent later",
        },
        # Counted until the server's receipt: "delivered" means the server has it.
        "unsent": {
            "zh-TW": "{n} 個回覆尚未送達",
            "en": plural(one="{n} answer not yet delivered", other="{n} answers not yet delivered"),
        },
        "language": {"zh-TW": "語言", "en": "Language"},
        "theme": {"zh-TW": "顯示", "en": "Theme"},
        "theme.day": {"zh-TW": "日間", "en": "Day"},
        "theme.night": {"zh-TW": "夜間", "en": "Night"},
        "settings": {"zh-TW": "設定", "en": "Settings"},
        "kind.pickup": {"zh-TW": "上車", "en": "Pick-up"},
        "kind.dropoff": {"zh-TW": "下車", "en": "Drop-off"},
        "stop": {"zh-TW": "站牌", "en": "Stop"},
        "eta.unknown": {"zh-TW": "時間未定", "en": "Time unknown"},
        "eta.now": {"zh-TW": "即將到達", "en": "Arriving now"},
        "eta.minutes": {"zh-TW": "約 {n} 分鐘", "en": "{n} min away"},
        "note": {"zh-TW": "備註", "en": "Note"},
        "route": {"zh-TW": "{route} 往 {headsign}", "en": "{route} to {headsign}"},
        "needs": {"zh-TW": "乘客需要", "en": "Rider needs"},
        "need.guide_dog": {"zh-TW": "導盲犬", "en": "Guide dog"},
        "need.wheelchair": {"zh-TW": "輪椅：放斜坡板", "en": "Wheelchair: ramp"},
        "need.help_boarding": {"zh-TW": "協助上車", "en": "Help boarding"},
        "need.tell_my_stop": {"zh-TW": "到站時告知乘客", "en": "Tell rider at their stop"},
        "destination": {"zh-TW": "在「{stop}」下車", "en": "Gets off at {stop}"},
        "dropoff.todo": {"zh-TW": "請讓乘客在此站下車", "en": "Let the rider off at this stop"},
        "dropoff.after": {"zh-TW": "「{stop}」的下一站", "en": "The stop after {stop}"},
        "status": {"zh-TW": "狀態", "en": "Status"},
        "sending": {"zh-TW": "送出中：{answer}", "en": "Sending: {answer}"},
        "recorded": {"zh-TW": "已記錄：{answer}", "en": "Recorded: {answer}"},
        "refused": {
            "zh-TW": "未被接受：{answer}（{detail}）",
            "en": "Not accepted: {answer} ({detail})",
        },
        "answers": {"zh-TW": "回覆", "en": "Answers"},
        "choose_reason": {"zh-TW": "無法停靠：請選原因", "en": "Can't stop: choose a reason"},
        "answer.acknowledged": {"zh-TW": "確認", "en": "Acknowledge"},
        "answer.boarded": {"zh-TW": "已上車", "en": "Boarded"},
        "answer.no_show": {"zh-TW": "乘客未出現", "en": "No-show"},
        "answer.cannot_stop": {"zh-TW": "無法停靠", "en": "Can't stop"},
        "answer.alighted": {"zh-TW": "已下車", "en": "Alighted"},
        "reason.bus_full": {"zh-TW": "車上已滿", "en": "Bus full"},
        "reason.stop_blocked": {"zh-TW": "站位受阻", "en": "Stop blocked"},
        "reason.unsafe": {"zh-TW": "停靠不安全", "en": "Unsafe"},
        "reason.other": {"zh-TW": "其他原因", "en": "Other"},
        "status.pending": {"zh-TW": "等待派車", "en": "Pending"},
        "status.assigned": {"zh-TW": "請確認", "en": "Please acknowledge"},
        "status.acknowledged": {"zh-TW": "已確認", "en": "Acknowledged"},
        "status.arriving": {"zh-TW": "即將到站", "en": "Arriving"},
        "status.at_stop": {"zh-TW": "已到站", "en": "At the stop"},
        "status.boarded": {"zh-TW": "已上車", "en": "Boarded"},
        "status.riding": {"zh-TW": "乘車中", "en": "On board"},
        "status.alighting": {"zh-TW": "準備下車", "en": "Getting off"},
        "status.missed": {"zh-TW": "未接到", "en": "Missed"},
        "status.completed": {"zh-TW": "已完成", "en": "Completed"},
        "status.cancelled": {"zh-TW": "已取消", "en": "Cancelled"},
        "status.no_show": {"zh-TW": "乘客未出現", "en": "No-show"},
        "status.expired": {"zh-TW": "已逾時", "en": "Expired"},
        "say.pickup": {
            "zh-TW": "新的上車預約：{stop}，{eta}。",
            "en": "New pick-up at {stop}, {eta}.",
        },
        "say.dropoff": {"zh-TW": "下車提醒：{stop}，{eta}。", "en": "Drop-off at {stop}, {eta}."},
        "say.dropoff.here": {"zh-TW": "下車提醒：{stop}。", "en": "Drop-off at {stop}."},
        "say.needs": {"zh-TW": "乘客需要：{needs}。", "en": "Rider needs: {needs}."},
        "error.unknown_alert": {
            "zh-TW": "這個預約已不存在",
            "en": "This booking is no longer there",
        },
        "error.not_allowed": {
            "zh-TW": "這個回覆現在不適用",
            "en": "This answer does not apply now",
        },
        "error.bad_request": {"zh-TW": "回覆不完整", "en": "The answer is incomplete"},
        "error.screen": {"zh-TW": "畫面無法送出回覆，請再按一次", "en": "Not sent: tap again"},
        "switch_to": {"zh-TW": "English", "en": "中文"},
        "chime.new_alert": {"zh-TW": "（提示音：新預約）", "en": "(chime: new alert)"},
        "chime.reminder": {"zh-TW": "（提示音：請確認）", "en": "(chime: please acknowledge)"},
    },
)

#: The text ``key`` in ``lang`` with its ``{fields}`` filled in.
t = TEXTS.t


def localized(key: str, **fields: object) -> Localized:
    """The text ``key`` in both languages."""
    return Localized.model_validate({lang: t(key, lang, **fields) for lang in LANGS})


def kind_label(kind: str, lang: Lang) -> str:
    return t(f"kind.{kind}", lang)


def status_label(status: ReservationStatus, lang: Lang) -> str:
    return t(f"status.{status.value}", lang)


def answer_label(answer: DriverEventType, lang: Lang) -> str:
    return t(f"answer.{answer.value}", lang)


def reason_label(reason: CannotStopReason, lang: Lang) -> str:
    return t(f"reason.{reason.value}", lang)


def need_label(need: RiderNeed, lang: Lang) -> str:
    return t(f"need.{need.value}", lang)


def route_label(alert: DriverAlert, lang: Lang) -> str:
    """The route and its direction, as "307 to Fuyuan St." (or the route alone)."""
    route = alert.route_name.get(lang) if alert.route_name else (alert.route_id or "")
    if alert.headsign is None or not alert.headsign.get(lang):
        return route
    return t("route", lang, route=route, headsign=alert.headsign.get(lang))


def eta_minutes(eta_s: int | None) -> int | None:
    """Whole minutes away, rounded to the nearest (a driver reads "3 min", not 2.6)."""
    if eta_s is None:
        return None
    return (eta_s + 30) // 60


def eta_label(eta_s: int | None, lang: Lang) -> str:
    minutes = eta_minutes(eta_s)
    if minutes is None:
        return t("eta.unknown", lang)
    if minutes == 0:
        return t("eta.now", lang)
    return t("eta.minutes", lang, n=minutes)


def _spoken(alert: DriverAlert, lang: Lang) -> str:
    stop = alert.stop_name.get(lang)
    if alert.kind == "dropoff" and alert.eta_s is None:
        # Nothing to say about a time the server does not send: say what to do.
        line = t("say.dropoff.here", lang, stop=stop)
    else:
        line = t(f"say.{alert.kind}", lang, stop=stop, eta=eta_label(alert.eta_s, lang))
    if alert.needs:
        sep, gap = ("、", "") if lang == "zh-TW" else (", ", " ")
        needs = sep.join(need_label(n, lang) for n in alert.needs)
        line += gap + t("say.needs", lang, needs=needs)
    return line


def spoken_line(alert: DriverAlert) -> Localized:
    """The short line spoken with the chime of a new alert, in both languages: where,
    when, and what the rider needs."""
    return Localized.model_validate({lang: _spoken(alert, lang) for lang in LANGS})
