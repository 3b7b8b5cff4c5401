"""Every text of the rider web app, in zh-TW and English (one table, looked up by key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from broker_config.i18n import StringTable, Template, plural
from broker_config.messages import Lang
from rider_api.push.texts import PUSH_PAGE_TEXTS
from rider_api.web.strings_find import FIND_TEXTS
from rider_api.web.strings_trip import TRIP_TEXTS

__all__ = ["HTML_LANG", "STRINGS", "html_lang", "t"]

#: BCP 47 tags for the ``lang`` attribute (Traditional Chinese as written in Taiwan).
HTML_LANG: Final[dict[str, str]] = {"zh-TW": "zh-Hant-TW", "en": "en"}


def html_lang(lang: str) -> str:
    return HTML_LANG.get(lang, "zh-Hant-TW")


_CORE: Final[dict[str, dict[Lang, Template]]] = {
    "app_name": {"zh-TW": "BusHail 公車招呼", "en": "BusHail"},
    "skip": {"zh-TW": "跳到主要內容", "en": "Skip to main content"},
    "home": {"zh-TW": "首頁", "en": "Home"},
    "nav": {"zh-TW": "主選單", "en": "Main menu"},
    "switch_to": {"zh-TW": "English", "en": "中文"},
    "switch_label": {"zh-TW": "Switch to English", "en": "切換為中文"},
    # start
    "start_title": {"zh-TW": "開始使用", "en": "Get started"},
    "start_intro": {
        "zh-TW": "不需要密碼，也不用記任何東西。這台裝置會記住你。",
        "en": "No password and nothing to remember: this device keeps you signed in.",
    },
    "name_label": {"zh-TW": "你的名字或暱稱", "en": "Your name or nickname"},
    "name_hint": {
        "zh-TW": "司機與站牌不會看到你的名字。",
        "en": "Drivers and stops never see your name.",
    },
    "lang_legend": {"zh-TW": "語言", "en": "Language"},
    "lang_zh": {"zh-TW": "中文（台灣）", "en": "中文（台灣）"},
    "lang_en": {"zh-TW": "English", "en": "English"},
    "start_button": {"zh-TW": "開始", "en": "Start"},
    "err_name": {"zh-TW": "請輸入你的名字或暱稱。", "en": "Enter your name or nickname."},
    # errors
    "error_title": {"zh-TW": "有問題需要處理", "en": "There is a problem"},
    "not_found_title": {"zh-TW": "找不到這一頁", "en": "Page not found"},
    "back_home": {"zh-TW": "回到首頁", "en": "Back to the home page"},
    # per-client limits (429)
    "too_many_title": {"zh-TW": "請稍後再試", "en": "Please try again later"},
    "too_many_sign_up": {
        "zh-TW": "這個網路最近建立的帳號太多了。",
        "en": "Too many accounts were created from this network recently.",
    },
    "too_many_voice": {
        "zh-TW": "這個網路短時間內送出的語音預約太多了。",
        "en": "Too many voice requests came from this network in a short time.",
    },
    "too_many_search": {
        "zh-TW": "這個網路短時間內送出的站牌搜尋太多了。",
        "en": "Too many stop searches came from this network in a short time.",
    },
    "retry_seconds": {
        "zh-TW": "請在 {n} 秒後再試一次。",
        "en": plural(one="Try again in {n} second.", other="Try again in {n} seconds."),
    },
    "retry_minutes": {
        "zh-TW": "請在 {n} 分鐘後再試一次。",
        "en": plural(one="Try again in {n} minute.", other="Try again in {n} minutes."),
    },
    # home
    "hello": {"zh-TW": "{name}，你好", "en": "Hello, {name}"},
    "active_title": {"zh-TW": "進行中的預約", "en": "Your active bookings"},
    "follow": {"zh-TW": "查看狀態", "en": "Follow"},
    "recent_title": {"zh-TW": "再次預約", "en": "Book again"},
    "recent_hint": {
        "zh-TW": "選擇最近搭過的站牌與路線，確認後即可預約。",
        "en": "Choose a recent stop and route, then confirm.",
    },
    "find_title": {"zh-TW": "找站牌", "en": "Find a stop"},
    "stop_query_label": {
        "zh-TW": "站牌名稱（中文或英文）",
        "en": "Stop name (Chinese or English)",
    },
    "search_button": {"zh-TW": "搜尋", "en": "Search"},
    "near_button": {"zh-TW": "我附近的站牌", "en": "Stops near me"},
    "near_busy": {"zh-TW": "正在取得位置…", "en": "Finding your location…"},
    "near_failed": {
        "zh-TW": "無法取得你的位置，請改用站名搜尋。",
        "en": "Your location is not available. Search by stop name instead.",
    },
    "err_query": {
        "zh-TW": "請輸入站牌名稱，或使用「我附近的站牌」。",
        "en": "Enter a stop name, or use “Stops near me”.",
    },
    "results_title": {"zh-TW": "站牌搜尋結果", "en": "Stops found"},
    "results_for": {
        "zh-TW": "「{q}」的結果：{n} 個",
        "en": plural(one="{n} result for “{q}”", other="{n} results for “{q}”"),
    },
    "results_near": {
        "zh-TW": "離你最近的站牌：{n} 個",
        "en": plural(one="The stop nearest to you", other="{n} stops nearest to you"),
    },
    "no_results": {
        "zh-TW": "找不到站牌。請換個名稱再試，例如只輸入一部分的站名。",
        "en": "No stop found. Try another name, or part of the name.",
    },
    "distance": {"zh-TW": "{m} 公尺", "en": "{m} m"},
    "search_again": {"zh-TW": "重新搜尋", "en": "Search again"},
    # stop / route choice
    "stop_title": {"zh-TW": "在「{stop}」上車", "en": "Board at {stop}"},
    "route_legend": {"zh-TW": "選擇路線與方向", "en": "Choose a route and direction"},
    "no_routes": {
        "zh-TW": "目前沒有路線停靠這個站牌。",
        "en": "No route serves this stop.",
    },
    "continue": {"zh-TW": "繼續", "en": "Continue"},
    "err_route": {"zh-TW": "請選擇一條路線與方向。", "en": "Choose a route and direction."},
    "headsign": {"zh-TW": "{route} 往 {headsign}", "en": "{route} towards {headsign}"},
    # review
    "review_title": {"zh-TW": "確認預約", "en": "Review your booking"},
    "review_stop": {"zh-TW": "上車站牌", "en": "Boarding stop"},
    "review_route": {"zh-TW": "路線", "en": "Route"},
    "dest_label": {"zh-TW": "下車站牌（可不選）", "en": "Where you get off (optional)"},
    "dest_hint": {
        "zh-TW": "選了下車站，司機會在到站前收到提醒。",
        "en": "If you choose one, the driver is reminded before your stop.",
    },
    "dest_none": {"zh-TW": "不指定", "en": "Not now"},
    "note_label": {"zh-TW": "給司機的備註（可不填）", "en": "Note for the driver (optional)"},
    "note_hint": {
        "zh-TW": "例如：我帶著導盲犬。",
        "en": "For example: I travel with a guide dog.",
    },
    "confirm_button": {"zh-TW": "確認預約", "en": "Confirm booking"},
    "change_route": {"zh-TW": "換一條路線", "en": "Choose another route"},
    # status page
    "booked_heading": {
        "zh-TW": "已預約：{route}，在「{stop}」上車",
        "en": "Booked: {route}, boarding at {stop}",
    },
    "trip_heading": {"zh-TW": "預約：{route}，在「{stop}」上車", "en": "{route} at {stop}"},
    "status_label": {"zh-TW": "狀態", "en": "Status"},
    "eta_label": {"zh-TW": "預計到站", "en": "Arrives in"},
    "vehicle_label": {"zh-TW": "車號", "en": "Bus"},
    "dest_summary": {"zh-TW": "下車站牌", "en": "Getting off at"},
    "eta_min": {"zh-TW": "約 {n} 分鐘", "en": "about {n} min"},
    "eta_now": {"zh-TW": "不到 1 分鐘", "en": "under a minute"},
    "eta_unknown": {"zh-TW": "尚未知道", "en": "not known yet"},
    "gateway_offline": {
        "zh-TW": "注意：這個站牌的喇叭目前離線，不會廣播你的公車。司機仍會收到提醒。",
        "en": "Warning: this stop's speaker is offline and will not announce your bus. "
        "The driver is still alerted.",
    },
    "cancel_button": {"zh-TW": "取消預約", "en": "Cancel booking"},
    "cancelled_done": {"zh-TW": "已取消預約。", "en": "Your booking is cancelled."},
    "refresh": {"zh-TW": "更新狀態", "en": "Update status"},
    "book_another": {"zh-TW": "預約其他公車", "en": "Book another bus"},
    "history_title": {"zh-TW": "紀錄", "en": "History"},
    "live_title": {"zh-TW": "即時通知", "en": "Live updates"},
    # statuses
    "st_pending": {"zh-TW": "等待派車", "en": "Waiting for a bus to be assigned"},
    "st_assigned": {"zh-TW": "已派車", "en": "A bus is assigned"},
    "st_acknowledged": {"zh-TW": "司機已確認", "en": "The driver confirmed"},
    "st_arriving": {"zh-TW": "公車即將進站", "en": "Your bus is coming in"},
    "st_at_stop": {"zh-TW": "公車已到站", "en": "Your bus is at the stop"},
    "st_boarded": {"zh-TW": "已上車", "en": "On board"},
    "st_riding": {"zh-TW": "乘車中", "en": "Riding"},
    "st_alighting": {"zh-TW": "即將到達下車站", "en": "Your stop is next"},
    "st_missed": {"zh-TW": "錯過公車", "en": "Missed the bus"},
    "st_completed": {"zh-TW": "行程完成", "en": "Trip completed"},
    "st_cancelled": {"zh-TW": "已取消", "en": "Cancelled"},
    "st_no_show": {"zh-TW": "司機回報未上車", "en": "Marked as not boarded"},
    "st_expired": {"zh-TW": "預約已逾時", "en": "Booking expired"},
    # live messages (status region / alert region)
    "live_assigned": {
        "zh-TW": "已派車：{vehicle}。",
        "en": "A bus is assigned: {vehicle}.",
    },
    "live_acknowledged": {
        "zh-TW": "司機已確認，會在你的站牌停車。",
        "en": "The driver confirmed and will stop for you.",
    },
    "live_arriving": {"zh-TW": "公車即將進站。", "en": "Your bus is coming in."},
    "live_minutes": {
        "zh-TW": "公車約 {n} 分鐘後到站。",
        "en": "Your bus is about {n} minutes away.",
    },
    "live_minute": {"zh-TW": "公車約 1 分鐘後到站。", "en": "Your bus is about 1 minute away."},
    "live_at_stop": {"zh-TW": "你的公車已經到站！", "en": "Your bus is at the stop now!"},
    "live_missed_next": {
        "zh-TW": "錯過了上一班車，已為你安排下一班：{vehicle}。",
        "en": "The last bus was missed. The next bus is assigned: {vehicle}.",
    },
    "live_missed_wait": {
        "zh-TW": "錯過了上一班車，正在等待下一班。",
        "en": "The last bus was missed. Waiting for the next one.",
    },
    "live_final": {"zh-TW": "預約狀態：{status}。", "en": "Booking status: {status}."},
    "live_lost": {
        "zh-TW": "暫時無法取得即時狀態，正在重新連線。",
        "en": "Live updates paused. Reconnecting.",
    },
    # errors from booking
    "err_stop-not-found": {"zh-TW": "找不到這個站牌。", "en": "This stop does not exist."},
    "err_route-not-found": {"zh-TW": "找不到這條路線。", "en": "This route does not exist."},
    "err_route-does-not-serve-stop": {
        "zh-TW": "這條路線在這個方向不停靠這個站牌，請選擇其他路線。",
        "en": "This route does not stop here in that direction. Choose another route.",
    },
    "err_destination-not-found": {
        "zh-TW": "找不到這個下車站牌。",
        "en": "This destination stop does not exist.",
    },
    "err_destination-not-after-stop": {
        "zh-TW": "下車站牌必須在上車站牌之後，請重新選擇。",
        "en": "The stop where you get off must come after the boarding stop.",
    },
    "err_duplicate-active-reservation": {
        "zh-TW": "你已經預約了這個站牌的這條路線。",
        "en": "You already have a booking for this route at this stop.",
    },
    "err_too-many-active-reservations": {
        "zh-TW": "進行中的預約太多，請先取消不需要的預約。",
        "en": "You have too many active bookings. Cancel one you no longer need.",
    },
    "err_booking-rate-limited": {
        "zh-TW": "一分鐘內預約太多次，請稍後再試。",
        "en": "Too many bookings in one minute. Please try again in a minute.",
    },
    "err_reservation-final": {
        "zh-TW": "這個預約已經結束，無法取消。",
        "en": "This booking has already ended and cannot be cancelled.",
    },
    "err_note": {
        "zh-TW": "備註只能是一行文字，不能有控制字元。",
        "en": "The note must be one line of plain text, without control characters.",
    },
    "err_plain_text": {
        "zh-TW": "請只輸入一行文字，不能有控制字元。",
        "en": "Use one line of plain text, without control characters.",
    },
    "err_generic": {
        "zh-TW": "發生錯誤，請再試一次。",
        "en": "Something went wrong. Please try again.",
    },
    "see_existing": {"zh-TW": "查看現有的預約", "en": "See that booking"},
    # voice
    "voice_title": {"zh-TW": "用說的或打字預約", "en": "Book by voice or text"},
    "voice_label": {
        "zh-TW": "你要搭哪一路公車、在哪裡上車？",
        "en": "Which bus, and where do you get on?",
    },
    "voice_hint": {
        "zh-TW": "例如：在市政府站搭 307 往板橋。",
        "en": "For example: bus 307 from City Hall towards Banqiao.",
    },
    "voice_mic": {"zh-TW": "用說的", "en": "Speak"},
    "voice_listening": {"zh-TW": "正在聽…請說話。", "en": "Listening… speak now."},
    "voice_heard": {"zh-TW": "聽到：{text}", "en": "Heard: {text}"},
    "voice_mic_failed": {
        "zh-TW": "沒有聽清楚，請再說一次或用打字。",
        "en": "I did not catch that. Speak again or type.",
    },
    "voice_submit": {"zh-TW": "送出", "en": "Send"},
    "proposal_title": {"zh-TW": "我聽到的是", "en": "Here is what I understood"},
    "proposal_yes": {"zh-TW": "對，幫我預約", "en": "Yes, book it"},
    "proposal_choices": {"zh-TW": "或選擇其中一個", "en": "Or choose one of these"},
    "proposal_choice_book": {"zh-TW": "預約：{label}", "en": "Book: {label}"},
    "proposal_retry": {"zh-TW": "不對，重新說一次", "en": "No, try again"},
    "proposal_incomplete": {
        "zh-TW": "還缺少一些資訊，請再說一次，或用下方的站牌搜尋。",
        "en": "Some details are missing. Try again, or find the stop below.",
    },
    "err_voice_text": {
        "zh-TW": "請說出或輸入你要搭的公車。",
        "en": "Say or type which bus you want.",
    },
    "voice_unavailable": {
        "zh-TW": "語音預約暫時無法使用，請用站牌搜尋。",
        "en": "Voice booking is not available right now. Find your stop instead.",
    },
}


def _merged(*parts: Mapping[str, Mapping[Lang, Template]]) -> dict[str, Mapping[Lang, Template]]:
    merged: dict[str, Mapping[Lang, Template]] = {}
    for part in parts:
        twice = merged.keys() & part.keys()
        if twice:
            raise ValueError(f"rider web app texts defined twice: {sorted(twice)}")
        merged.update(part)
    return merged


#: The texts by subject: finding a stop and voice (``strings_find``), a trip
#: (``strings_trip``), notifications (``push.texts``), the rest here.
STRINGS: Final = StringTable(
    "rider web app", _merged(_CORE, FIND_TEXTS, TRIP_TEXTS, PUSH_PAGE_TEXTS)
)

#: The text ``key`` in ``lang`` with its ``{fields}`` filled in.
t = STRINGS.t
