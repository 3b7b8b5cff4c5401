"""Every text of Web Push, in zh-TW and English: the notifications and the opt-in.

Notifications are read aloud by the phone's screen reader, often on a locked screen, in
a pocket, at a noisy stop: each is a whole sentence naming the bus (route and where it
goes) and the stop, with no symbols, abbreviations or vehicle plates; the title alone
says what happened. Pure: no I/O.

``PUSH_PAGE_TEXTS`` are the opt-in's texts for the rider web app: they are merged into
``rider_api.web.strings.STRINGS`` (keys ``push_*``), so the partial
``_push_optin.html`` looks them up with ``t(...)`` like every page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Final

from broker_config.i18n import StringTable, Template, plural
from broker_config.messages import Lang
from rider_api.push.notices import Notice, NoticeKind

__all__ = ["NOTIFICATION_TEXTS", "PUSH_PAGE_TEXTS", "Notification", "notification"]

K = NoticeKind

#: BCP 47 tags for the notification's ``lang`` (as the web app's ``html lang``).
_HTML_LANG: Final[dict[Lang, str]] = {"zh-TW": "zh-Hant-TW", "en": "en"}

NOTIFICATION_TEXTS: Final = StringTable(
    "web push notifications",
    {
        # How far the bus is, inside a sentence.
        "away": {
            "zh-TW": "大約 {n} 分鐘",
            "en": plural(one="about {n} minute", other="about {n} minutes"),
        },
        "away_now": {"zh-TW": "不到 1 分鐘", "en": "less than a minute"},
        # The same as a sentence of its own.
        "eta": {
            "zh-TW": "大約 {n} 分鐘後到。",
            "en": plural(one="It is about {n} minute away.", other="It is about {n} minutes away."),
        },
        "eta_now": {"zh-TW": "不到 1 分鐘就到。", "en": "It is less than a minute away."},
        "title.assigned": {
            "zh-TW": "已為你派 {route} 公車",
            "en": "Bus {route} is on its way",
        },
        "body.assigned": {
            "zh-TW": "往{headsign}的 {route} 公車會在{stop}接你。{eta}",
            "en": "Bus {route} to {headsign} will pick you up at {stop}. {eta}",
        },
        "title.near": {
            "zh-TW": "{route} 公車{away}後到",
            "en": "Bus {route} is {away} away",
        },
        "body.near": {
            "zh-TW": "往{headsign}的 {route} 公車離{stop}還有{away}。",
            "en": "Bus {route} to {headsign} is {away} from {stop}.",
        },
        "title.arriving": {"zh-TW": "{route} 公車即將進站", "en": "Bus {route} is arriving"},
        "body.arriving": {
            "zh-TW": "往{headsign}的 {route} 公車即將到達{stop}，請準備上車。",
            "en": "Bus {route} to {headsign} is about to reach {stop}. Get ready to board.",
        },
        "title.at_stop": {"zh-TW": "{route} 公車已到站", "en": "Bus {route} is at your stop"},
        "body.at_stop": {
            "zh-TW": "往{headsign}的 {route} 公車已經停在{stop}，司機正在等你上車。",
            "en": "Bus {route} to {headsign} is at {stop} now. The driver is waiting for you.",
        },
        "title.missed": {"zh-TW": "{route} 公車沒有接到你", "en": "Bus {route} missed you"},
        "body.missed": {
            "zh-TW": "{route} 公車已經離開{stop}。我們正在為你找下一班車，請留在站牌。",
            "en": "Bus {route} left {stop} without you. We are finding the next bus for "
            "you; please stay at the stop.",
        },
        "title.reassigned": {
            "zh-TW": "下一班 {route} 公車會來接你",
            "en": "The next bus {route} is on its way",
        },
        "body.reassigned": {
            "zh-TW": "上一班車沒有接到你。往{headsign}的下一班 {route} 公車會在{stop}接你。{eta}",
            "en": "The last bus missed you. The next bus {route} to {headsign} will pick "
            "you up at {stop}. {eta}",
        },
        "title.cancelled": {"zh-TW": "預約已取消", "en": "Booking cancelled"},
        "body.cancelled": {
            "zh-TW": "你在{stop}搭往{headsign}的 {route} 公車的預約已取消。",
            "en": "Your booking for bus {route} to {headsign} at {stop} is cancelled.",
        },
        "title.expired": {"zh-TW": "預約已結束", "en": "Booking ended"},
        "body.expired": {
            "zh-TW": "沒有 {route} 公車能及時在{stop}接你，預約已結束。"
            "如果還需要搭車，請再預約一次。",
            "en": "No bus {route} could pick you up at {stop} in time, so the booking has "
            "ended. Book again if you still need a bus.",
        },
        "title.no_show": {"zh-TW": "預約已結束", "en": "Booking ended"},
        "body.no_show": {
            "zh-TW": "{route} 公車的司機在{stop}沒有看到你上車，預約已結束。"
            "如果還需要搭車，請再預約一次。",
            "en": "The driver of bus {route} did not see you board at {stop}, so the "
            "booking has ended. Book again if you still need a bus.",
        },
        "title.completed": {"zh-TW": "行程完成", "en": "Trip complete"},
        "body.completed": {
            "zh-TW": "你搭往{headsign}的 {route} 公車的預約已完成，祝你旅途愉快。",
            "en": "Your booking for bus {route} to {headsign} is complete. Have a good trip.",
        },
    },
)

#: The opt-in's texts, merged into the rider web app's table (``t("push_...")``).
PUSH_PAGE_TEXTS: Final[dict[str, dict[Lang, Template]]] = {
    "push_title": {"zh-TW": "手機鎖定時也通知我", "en": "Notify me when the phone is locked"},
    "push_hint": {
        "zh-TW": "派車、大約 3 分鐘後到、即將進站、到站、沒接到和預約結束時，即使這一頁"
        "關閉或手機鎖定，這台裝置也會震動並顯示通知，讓螢幕報讀器唸給你聽。",
        "en": "This device will vibrate and show a notification your screen reader reads "
        "when a bus is assigned, about 3 minutes away, arriving, at the stop, has missed "
        "you, or your booking ends, even with this page closed or the phone locked.",
    },
    "push_turn_on": {"zh-TW": "開啟通知", "en": "Turn on notifications"},
    "push_turn_off": {"zh-TW": "關閉通知", "en": "Turn off notifications"},
    "push_working": {"zh-TW": "請稍候……", "en": "One moment…"},
    "push_on": {
        "zh-TW": "通知已開啟：你在這台裝置上的每個預約都會通知你。",
        "en": "Notifications are on for all your bookings on this device.",
    },
    "push_off": {
        "zh-TW": "通知已關閉：這台裝置不會再收到通知。",
        "en": "Notifications are off: this device will get none.",
    },
    "push_blocked": {
        "zh-TW": "這個瀏覽器封鎖了 BusHail 的通知。請在瀏覽器的網站設定中允許通知，再重新"
        "載入這一頁。",
        "en": "This browser blocks notifications from BusHail. Allow notifications in the "
        "browser's settings for this site, then reload this page.",
    },
    "push_dismissed": {
        "zh-TW": "通知沒有開啟。想開啟時請再按一次按鈕，並選擇允許。",
        "en": "Notifications were not turned on. To turn them on, press the button again "
        "and choose Allow.",
    },
    "push_unsupported": {
        "zh-TW": "這個瀏覽器在頁面關閉時無法通知你。請讓這一頁保持開啟，狀態改變時會唸給你聽。",
        "en": "This browser cannot notify you while this page is closed. Keep this page "
        "open: every change is announced here.",
    },
    "push_unavailable": {
        "zh-TW": "目前無法使用通知。請讓這一頁保持開啟，狀態改變時會唸給你聽。",
        "en": "Notifications are not available right now. Keep this page open: every "
        "change is announced here.",
    },
    "push_failed": {
        "zh-TW": "無法開啟通知，請稍後再試。請讓這一頁保持開啟，狀態改變時會唸給你聽。",
        "en": "Notifications could not be turned on. Try again later, and keep this page "
        "open: every change is announced here.",
    },
}
# Checked like every table (both languages, the same fields), at import.
StringTable("web push opt-in", PUSH_PAGE_TEXTS)

#: Vibration per kind (ms on, off, on ...), to tell them apart in a pocket; the patterns
#: are listed for riders in docs/push.md.
VIBRATE: Final[dict[NoticeKind, tuple[int, ...]]] = {
    K.ASSIGNED: (200, 100, 200),
    K.NEAR: (200, 100, 200, 100, 200),
    K.ARRIVING: (500, 200, 500),
    K.AT_STOP: (800, 200, 800, 200, 800),
    K.MISSED: (150, 75, 150, 75, 150, 75, 150),
    K.REASSIGNED: (150, 75, 150, 75, 150, 75, 150),
    K.CANCELLED: (1000,),
    K.EXPIRED: (1000,),
    K.NO_SHOW: (1000,),
    K.COMPLETED: (),
}
#: Kinds that stay on screen until the rider dismisses them (where the system allows).
_STAY: Final = frozenset({K.AT_STOP, K.MISSED, K.REASSIGNED})
#: Web Push ``Urgency`` per kind (RFC 8030): a phone saving battery still wakes for high.
URGENCY: Final[dict[NoticeKind, str]] = {
    **dict.fromkeys(K, "high"),
    K.ASSIGNED: "normal",
    K.CANCELLED: "normal",
    K.EXPIRED: "normal",
    K.NO_SHOW: "normal",
    K.COMPLETED: "low",
}


@dataclass(frozen=True, slots=True)
class Notification:
    """What the service worker shows (the JSON it receives, see ``payload``)."""

    kind: NoticeKind
    title: str
    body: str
    lang: str
    #: One per reservation: a newer notification replaces the older one on screen.
    tag: str
    vibrate: tuple[int, ...]
    #: Vibrate and sound again although it replaces one with the same tag.
    renotify: bool
    silent: bool
    require_interaction: bool
    #: The page a tap opens.
    url: str

    def payload(self) -> bytes:
        """The JSON the service worker reads (well under the 4 KiB Web Push allows)."""
        data = {
            "v": 1,
            "kind": self.kind.value,
            "title": self.title,
            "body": self.body,
            "lang": self.lang,
            "tag": self.tag,
            "vibrate": list(self.vibrate),
            "renotify": self.renotify,
            "silent": self.silent,
            "requireInteraction": self.require_interaction,
            "url": self.url,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _minutes(eta_s: int) -> int:
    return max(1, math.ceil(eta_s / 60))


def notification(notice: Notice, lang: Lang) -> Notification:
    """The notification of ``notice`` in ``lang``."""
    tr = NOTIFICATION_TEXTS.t
    values: dict[str, object] = {
        "route": notice.route.get(lang),
        "headsign": notice.headsign.get(lang),
        "stop": notice.stop.get(lang),
    }
    eta = notice.eta_s
    if eta is None:
        values["eta"] = ""
        values["away"] = ""
    elif eta < 60:
        values["eta"] = tr("eta_now", lang)
        values["away"] = tr("away_now", lang)
    else:
        values["eta"] = tr("eta", lang, n=_minutes(eta))
        values["away"] = tr("away", lang, n=_minutes(eta))
    kind = notice.kind.value
    silent = notice.kind is K.COMPLETED
    return Notification(
        kind=notice.kind,
        title=tr(f"title.{kind}", lang, **values).strip(),
        body=tr(f"body.{kind}", lang, **values).strip(),
        lang=_HTML_LANG[lang],
        tag=f"trip-{notice.reservation_id}",
        vibrate=VIBRATE[notice.kind],
        renotify=not silent,
        silent=silent,
        require_interaction=notice.kind in _STAY,
        url=f"/trip/{notice.reservation_id}",
    )
