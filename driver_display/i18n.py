"""Every text the driver sees or hears, in zh-TW and English.

``t("key", lang, **fields)`` looks a text up and fills ``{fields}``; the wording of the
spoken line and of the minutes-away label are small pure functions here too.
"""

from __future__ import annotations

from typing import Final

from broker_config.messages import (
    CannotStopReason,
    DriverAlert,
    DriverEventType,
    Lang,
    Localized,
    ReservationStatus,
)

__all__ = [
    "TEXTS",
    "answer_label",
    "eta_label",
    "eta_minutes",
    "kind_label",
    "localized",
    "other_lang",
    "reason_label",
    "spoken_line",
    "status_label",
    "t",
]

#: key -> (zh-TW, en)
TEXTS: Final[dict[str, tuple[str, str]]] = {
    "title": ("司機顯示器", "Driver display"),
    "vehicle": ("車輛 {vehicle_id}", "Vehicle {vehicle_id}"),
    "next": ("下一個", "Next"),
    "later": ("之後", "Later"),
    "none": ("目前沒有上下車預約", "No pick-ups or drop-offs right now"),
    "online": ("已連線", "Online"),
    "offline": ("離線：回覆會保留並在連線後送出", "Offline: answers are kept and sent later"),
    "unsent": ("{n} 個回覆待送出", "{n} answers waiting to be sent"),
    "language": ("語言", "Language"),
    "theme": ("顯示", "Theme"),
    "theme.day": ("日間", "Day"),
    "theme.night": ("夜間", "Night"),
    "settings": ("設定", "Settings"),
    "kind.pickup": ("上車", "Pick-up"),
    "kind.dropoff": ("下車", "Drop-off"),
    "stop": ("站牌", "Stop"),
    "eta.unknown": ("時間未定", "Time unknown"),
    "eta.now": ("即將到達", "Arriving now"),
    "eta.minutes": ("約 {n} 分鐘", "{n} min away"),
    "eta.minute": ("約 1 分鐘", "1 min away"),
    "note": ("備註", "Note"),
    "status": ("狀態", "Status"),
    "recorded": ("已記錄：{answer}", "Recorded: {answer}"),
    "answers": ("回覆", "Answers"),
    "choose_reason": ("無法停靠：請選原因", "Can't stop: choose a reason"),
    "answer.acknowledged": ("確認", "Acknowledge"),
    "answer.boarded": ("已上車", "Boarded"),
    "answer.no_show": ("乘客未出現", "No-show"),
    "answer.cannot_stop": ("無法停靠", "Can't stop"),
    "answer.alighted": ("已下車", "Alighted"),
    "reason.bus_full": ("車上已滿", "Bus full"),
    "reason.stop_blocked": ("站位受阻", "Stop blocked"),
    "reason.unsafe": ("停靠不安全", "Unsafe"),
    "reason.other": ("其他原因", "Other"),
    "status.pending": ("等待派車", "Pending"),
    "status.assigned": ("請確認", "Please acknowledge"),
    "status.acknowledged": ("已確認", "Acknowledged"),
    "status.arriving": ("即將到站", "Arriving"),
    "status.at_stop": ("已到站", "At the stop"),
    "status.boarded": ("已上車", "Boarded"),
    "status.riding": ("乘車中", "On board"),
    "status.alighting": ("準備下車", "Getting off"),
    "status.missed": ("未接到", "Missed"),
    "status.completed": ("已完成", "Completed"),
    "status.cancelled": ("已取消", "Cancelled"),
    "status.no_show": ("乘客未出現", "No-show"),
    "status.expired": ("已逾時", "Expired"),
    "say.pickup": ("新的上車預約：{stop}，{eta}。", "New pick-up at {stop}, {eta}."),
    "say.dropoff": ("下車提醒：{stop}，{eta}。", "Drop-off at {stop}, {eta}."),
    "error.unknown_alert": ("這個預約已不存在", "This booking is no longer there"),
    "error.not_allowed": ("這個回覆現在不適用", "This answer does not apply now"),
    "error.bad_request": ("回覆不完整", "The answer is incomplete"),
    "error.screen": (
        "畫面無法送出回覆，請再按一次",
        "Not sent: tap again",
    ),
    "switch_to": ("English", "中文"),
    "chime.new_alert": ("（提示音：新預約）", "(chime: new alert)"),
    "chime.reminder": ("（提示音：請確認）", "(chime: please acknowledge)"),
}


def t(key: str, lang: Lang, **fields: object) -> str:
    """The text ``key`` in ``lang``, with ``{fields}`` filled in."""
    zh, en = TEXTS[key]
    text = zh if lang == "zh-TW" else en
    return text.format(**fields) if fields else text


def localized(key: str, **fields: object) -> Localized:
    """The text ``key`` in both languages."""
    return Localized.model_validate(
        {"zh-TW": t(key, "zh-TW", **fields), "en": t(key, "en", **fields)}
    )


def other_lang(lang: Lang) -> Lang:
    return "en" if lang == "zh-TW" else "zh-TW"


def kind_label(kind: str, lang: Lang) -> str:
    return t(f"kind.{kind}", lang)


def status_label(status: ReservationStatus, lang: Lang) -> str:
    return t(f"status.{status.value}", lang)


def answer_label(answer: DriverEventType, lang: Lang) -> str:
    return t(f"answer.{answer.value}", lang)


def reason_label(reason: CannotStopReason, lang: Lang) -> str:
    return t(f"reason.{reason.value}", lang)


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
    if minutes == 1:
        return t("eta.minute", lang)
    return t("eta.minutes", lang, n=minutes)


def spoken_line(alert: DriverAlert) -> Localized:
    """The short line spoken with the chime of a new alert, in both languages."""
    key = f"say.{alert.kind}"
    return Localized.model_validate(
        {
            lang: t(key, lang, stop=alert.stop_name.get(lang), eta=eta_label(alert.eta_s, lang))
            for lang in ("zh-TW", "en")
        }
    )
