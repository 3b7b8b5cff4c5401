"""Every text of the operator console, in zh-TW and English."""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["LANGS", "TEXTS", "Lang", "pick_lang", "text"]

Lang = Literal["zh-TW", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh-TW", "en")

TEXTS: Final[dict[str, tuple[str, str]]] = {
    # key: (zh-TW, en)
    "app": ("BusHail 營運主控台", "BusHail operator console"),
    "skip": ("跳到主要內容", "Skip to main content"),
    "nav": ("主控台選單", "Console menu"),
    "nav.live": ("即時狀態", "Live"),
    "nav.quality": ("服務品質", "Service quality"),
    "nav.broadcast": ("廣播", "Broadcast"),
    "nav.logout": ("登出", "Sign out"),
    "other_lang": ("English", "中文"),
    "other_lang.label": ("Switch to English", "切換為中文"),
    # sign in
    "login.title": ("營運人員登入", "Operator sign-in"),
    "login.token": ("營運權杖", "Operator token"),
    "login.hint": (
        "貼上系統設定中的營運權杖。權杖只存在這個瀏覽器的 Cookie 中。",
        "Paste the operator token from the configuration."
        " It is kept only in this browser's cookie.",
    ),
    "login.submit": ("登入", "Sign in"),
    "login.bad": ("這個權杖不是營運權杖。", "This token is not an operator token."),
    # live
    "live.title": ("即時狀態", "Live status"),
    "live.updated": ("最後更新", "Last updated"),
    "live.connecting": ("連線中…", "Connecting…"),
    "live.lost": ("即時更新中斷，正在重新連線。", "Live updates lost; reconnecting."),
    "summary": ("摘要", "Summary"),
    "summary.offline": ("離線站牌（有乘客預約）", "Offline stops with a booking"),
    "summary.devices": ("裝置上線", "Devices online"),
    "summary.active": ("進行中的預約", "Active bookings"),
    "summary.unack": ("司機未確認", "Not acknowledged by the driver"),
    "incidents.title": ("事件", "Incidents"),
    "incidents.none": ("目前沒有事件。", "No incidents."),
    "incidents.offline_booking": (
        "站牌閘道離線，但有乘客在此預約",
        "Stop gateway offline while a rider has a booking there",
    ),
    "incidents.never_seen": (
        "站牌閘道從未連線，但有乘客在此預約",
        "Stop gateway never connected while a rider has a booking there",
    ),
    "incidents.recent": ("最近 24 小時", "Last 24 hours"),
    "kind.gateway_offline": ("閘道離線", "Gateway offline"),
    "kind.missed": ("漏接", "Missed pickup"),
    "kind.no_show": ("乘客未到", "No-show"),
    "kind.help": ("求助按鈕", "Help button"),
    "kind.unacknowledged": ("司機未確認", "Not acknowledged"),
    "reason.bus_full": ("車已滿", "Bus full"),
    "reason.stop_blocked": ("站位被占用", "Stop blocked"),
    "reason.unsafe": ("無法安全停靠", "Unsafe to stop"),
    "reason.other": ("其他", "Other"),
    "reason.left_without_boarding": ("公車離站，乘客未上車", "Bus left without a boarding"),
    "col.kind": ("類型", "Kind"),
    "col.when": ("時間", "When"),
    "col.stop": ("站牌", "Stop"),
    "col.route": ("路線", "Route"),
    "col.vehicle": ("車輛", "Vehicle"),
    "col.reason": ("原因", "Reason"),
    "col.booking": ("預約", "Booking"),
    # devices
    "devices.title": ("裝置", "Devices"),
    "devices.none": ("尚未收到任何裝置的狀態。", "No device has reported yet."),
    "devices.filter": ("篩選裝置", "Filter devices"),
    "devices.filter.kind": ("種類", "Kind"),
    "devices.filter.state": ("狀態", "State"),
    "devices.filter.text": ("搜尋", "Search"),
    "devices.shown": ("顯示裝置數", "Devices shown"),
    "any": ("全部", "All"),
    "device.stop": ("站牌閘道", "Stop gateway"),
    "device.vehicle": ("車輛", "Vehicle"),
    "device.server": ("伺服器", "Server"),
    "state.online": ("上線", "Online"),
    "state.offline": ("離線", "Offline"),
    "state.stale": ("上線但無心跳", "Online, heartbeat stale"),
    "col.device": ("裝置", "Device"),
    "col.state": ("狀態", "State"),
    "col.since": ("自", "Since"),
    "col.health": ("最後心跳", "Last health"),
    "col.speaker": ("喇叭自我測試", "Speaker self-test"),
    "col.queue": ("佇列", "Queue"),
    "col.version": ("版本", "Version"),
    "col.error": ("最後錯誤", "Last error"),
    "speaker.ok": ("正常", "OK"),
    "speaker.fail": ("失敗", "Failed"),
    "speaker.unknown": ("未知", "Unknown"),
    "sort": ("排序", "Sort"),
    "never": ("從未", "never"),
    "ago": ("{n} 前", "{n} ago"),
    # bookings
    "bookings.title": ("預約看板", "Bookings board"),
    "bookings.none": ("目前沒有進行中的預約。", "No active bookings."),
    "col.in_state": ("停留時間", "Time in state"),
    "col.alert": ("司機提醒", "Driver alert"),
    "alert.overdue": ("逾時未確認", "Not acknowledged, overdue"),
    "alert.waiting": ("等待確認", "Waiting for acknowledgement"),
    "alert.ack": ("已確認", "Acknowledged"),
    "gateway.offline": ("站牌離線", "Stop offline"),
    "status.pending": ("等待派車", "Pending"),
    "status.assigned": ("已派車", "Assigned"),
    "status.acknowledged": ("司機已確認", "Acknowledged"),
    "status.arriving": ("即將到站", "Arriving"),
    "status.at_stop": ("已到站", "At the stop"),
    "status.boarded": ("已上車", "Boarded"),
    "status.riding": ("乘車中", "Riding"),
    "status.alighting": ("即將下車", "Alighting"),
    "status.missed": ("漏接", "Missed"),
    "status.completed": ("完成", "Completed"),
    "status.cancelled": ("已取消", "Cancelled"),
    "status.no_show": ("乘客未到", "No-show"),
    "status.expired": ("已逾期", "Expired"),
    # quality
    "quality.title": ("服務品質", "Service quality"),
    "quality.period": ("期間", "Period"),
    "quality.from": ("開始日期", "From"),
    "quality.to": ("結束日期（含）", "To (inclusive)"),
    "quality.show": ("顯示", "Show"),
    "quality.csv": ("下載 CSV", "Download CSV"),
    "quality.overall": ("整體", "Overall"),
    "quality.by_day": ("每日", "By day"),
    "quality.by_hour": ("每小時（一天中的時段）", "By hour of the day"),
    "quality.none": ("這段期間沒有資料。", "No data in this period."),
    "q.bookings": ("預約數", "Bookings"),
    "q.ended": ("已結束", "Ended"),
    "q.served": ("已服務", "Served"),
    "q.served_share": ("服務率", "Share served"),
    "q.ack_count": ("確認次數", "Acknowledgements"),
    "q.ack_p50": ("確認時間 p50（秒）", "Time to acknowledge p50 (s)"),
    "q.ack_p95": ("確認時間 p95（秒）", "Time to acknowledge p95 (s)"),
    "q.missed": ("漏接", "Missed pickups"),
    "q.no_shows": ("乘客未到", "No-shows"),
    "q.help": ("求助", "Help presses"),
    "q.unacknowledged": ("未確認提醒", "Unacknowledged alerts"),
    "q.missed_by_route": ("各路線漏接", "Missed pickups per route"),
    "q.missed_by_vehicle": ("各車輛漏接", "Missed pickups per vehicle"),
    "q.no_shows_by_route": ("各路線乘客未到", "No-shows per route"),
    "q.no_shows_by_vehicle": ("各車輛乘客未到", "No-shows per vehicle"),
    "q.day": ("日期", "Day"),
    "q.hour": ("時段", "Hour"),
    "q.count": ("次數", "Count"),
    "chart.data": ("圖表資料", "Chart data"),
    "chart.desc": ("長條圖，共 {n} 項，最大值 {max}。", "Bar chart of {n} items; highest {max}."),
    # broadcast
    "broadcast.title": ("廣播", "Broadcast"),
    "broadcast.target": ("對象", "Send to"),
    "broadcast.one": ("一個站牌", "One stop"),
    "broadcast.route": ("一條路線的所有站牌", "Every stop of a route"),
    "broadcast.all": ("所有站牌", "All stops"),
    "broadcast.stop": ("站牌代碼", "Stop id"),
    "broadcast.route_id": ("路線", "Route"),
    "broadcast.text_zh": ("中文內容", "Text in Chinese"),
    "broadcast.text_en": ("英文內容", "Text in English"),
    "broadcast.priority": ("優先等級", "Priority"),
    "priority.info": ("一般", "Information"),
    "priority.urgent": ("緊急", "Urgent"),
    "broadcast.send": ("送出廣播", "Send broadcast"),
    "broadcast.sent": ("已送到 {n} 個站牌。", "Sent to {n} stops."),
    "broadcast.err.stop": ("沒有這個站牌。", "There is no such stop."),
    "broadcast.err.route": ("沒有這條路線。", "There is no such route."),
    "broadcast.err.text": ("請填寫中文與英文內容。", "Fill in the text in both languages."),
    "broadcast.err.none": ("沒有可送達的站牌。", "No stop to send to."),
    "error": ("錯誤", "Error"),
}


def pick_lang(value: str | None) -> Lang:
    return "en" if value == "en" else "zh-TW"


def text(key: str, lang: Lang, **values: object) -> str:
    """The text for ``key`` in ``lang`` (the key itself when missing, so it shows up)."""
    pair = TEXTS.get(key)
    if pair is None:
        return key
    s = pair[0] if lang == "zh-TW" else pair[1]
    return s.format(**values) if values else s
