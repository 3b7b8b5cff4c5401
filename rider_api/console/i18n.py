"""Every text of the operator console, in zh-TW and English (one table, looked up by key)."""

from __future__ import annotations

from typing import Final

from broker_config.i18n import StringTable, plural

__all__ = ["TEXTS", "t"]

TEXTS: Final = StringTable(
    "operator console",
    {
        "app": {"zh-TW": "BusHail 營運主控台", "en": "BusHail operator console"},
        "skip": {"zh-TW": "跳到主要內容", "en": "Skip to main content"},
        "nav": {"zh-TW": "主控台選單", "en": "Console menu"},
        "nav.live": {"zh-TW": "即時狀態", "en": "Live"},
        "nav.quality": {"zh-TW": "服務品質", "en": "Service quality"},
        "nav.broadcast": {"zh-TW": "廣播", "en": "Broadcast"},
        "nav.devices": {"zh-TW": "裝置帳號", "en": "Device logins"},
        "nav.audit": {"zh-TW": "操作紀錄", "en": "Audit log"},
        "nav.logout": {"zh-TW": "登出", "en": "Sign out"},
        "other_lang": {"zh-TW": "English", "en": "中文"},
        "other_lang.label": {"zh-TW": "Switch to English", "en": "切換為中文"},
        # sign in
        "login.title": {"zh-TW": "營運人員登入", "en": "Operator sign-in"},
        "login.token": {"zh-TW": "營運權杖", "en": "Operator token"},
        "login.hint": {
            "zh-TW": "貼上系統設定中的營運權杖。權杖不會被保存；登入在閒置 {idle} 分鐘後"
            "或最長 {hours} 小時後結束。",
            "en": "Paste the operator token from the configuration. The token is not kept:"
            " the sign-in ends after {idle} minutes without use, or {hours} hours at most.",
        },
        "login.submit": {"zh-TW": "登入", "en": "Sign in"},
        "login.bad": {
            "zh-TW": "這個權杖不是營運權杖。",
            "en": "This token is not an operator token.",
        },
        "login.locked.address": {
            "zh-TW": "這個位址登入失敗次數太多，請在 {n} 分鐘後再試。",
            "en": plural(
                one="Too many failed sign-ins from this address. Try again in {n} minute.",
                other="Too many failed sign-ins from this address. Try again in {n} minutes.",
            ),
        },
        "login.locked.all": {
            "zh-TW": "主控台登入失敗次數太多，暫停所有登入，請在 {n} 分鐘後再試。",
            "en": plural(
                one="Too many failed sign-ins to the console: sign-in is paused for"
                " everyone. Try again in {n} minute.",
                other="Too many failed sign-ins to the console: sign-in is paused for"
                " everyone. Try again in {n} minutes.",
            ),
        },
        # live
        "live.title": {"zh-TW": "即時狀態", "en": "Live status"},
        "live.updated": {"zh-TW": "最後更新", "en": "Last updated"},
        "live.connecting": {"zh-TW": "連線中…", "en": "Connecting…"},
        "live.lost": {
            "zh-TW": "即時更新中斷，正在重新連線。",
            "en": "Live updates lost; reconnecting.",
        },
        "summary": {"zh-TW": "摘要", "en": "Summary"},
        "summary.offline": {
            "zh-TW": "離線站牌（有乘客預約）",
            "en": "Offline stops with a booking",
        },
        "summary.devices": {"zh-TW": "裝置上線", "en": "Devices online"},
        "summary.active": {"zh-TW": "進行中的預約", "en": "Active bookings"},
        "summary.unack": {"zh-TW": "司機未確認", "en": "Not acknowledged by the driver"},
        "incidents.title": {"zh-TW": "事件", "en": "Incidents"},
        "incidents.none": {"zh-TW": "目前沒有事件。", "en": "No incidents."},
        "incidents.offline_booking": {
            "zh-TW": "站牌閘道離線，但有乘客在此預約",
            "en": "Stop gateway offline while a rider has a booking there",
        },
        "incidents.never_seen": {
            "zh-TW": "站牌閘道從未連線，但有乘客在此預約",
            "en": "Stop gateway never connected while a rider has a booking there",
        },
        "incidents.recent": {"zh-TW": "最近 24 小時", "en": "Last 24 hours"},
        "kind.gateway_offline": {"zh-TW": "閘道離線", "en": "Gateway offline"},
        "kind.missed": {"zh-TW": "漏接", "en": "Missed pickup"},
        "kind.no_show": {"zh-TW": "乘客未到", "en": "No-show"},
        "kind.help": {"zh-TW": "求助按鈕", "en": "Help button"},
        "kind.unacknowledged": {"zh-TW": "司機未確認", "en": "Not acknowledged"},
        "reason.bus_full": {"zh-TW": "車已滿", "en": "Bus full"},
        "reason.stop_blocked": {"zh-TW": "站位被占用", "en": "Stop blocked"},
        "reason.unsafe": {"zh-TW": "無法安全停靠", "en": "Unsafe to stop"},
        "reason.other": {"zh-TW": "其他", "en": "Other"},
        "reason.left_without_boarding": {
            "zh-TW": "公車離站，乘客未上車",
            "en": "Bus left without a boarding",
        },
        "col.kind": {"zh-TW": "類型", "en": "Kind"},
        "col.when": {"zh-TW": "時間", "en": "When"},
        "col.stop": {"zh-TW": "站牌", "en": "Stop"},
        "col.route": {"zh-TW": "路線", "en": "Route"},
        "col.vehicle": {"zh-TW": "車輛", "en": "Vehicle"},
        "col.reason": {"zh-TW": "原因", "en": "Reason"},
        "col.booking": {"zh-TW": "預約", "en": "Booking"},
        # devices
        "devices.title": {"zh-TW": "裝置", "en": "Devices"},
        "devices.none": {"zh-TW": "尚未收到任何裝置的狀態。", "en": "No device has reported yet."},
        "devices.filter": {"zh-TW": "篩選裝置", "en": "Filter devices"},
        "devices.filter.kind": {"zh-TW": "種類", "en": "Kind"},
        "devices.filter.state": {"zh-TW": "狀態", "en": "State"},
        "devices.filter.text": {"zh-TW": "搜尋", "en": "Search"},
        "devices.shown": {"zh-TW": "顯示裝置數", "en": "Devices shown"},
        "any": {"zh-TW": "全部", "en": "All"},
        "device.stop": {"zh-TW": "站牌閘道", "en": "Stop gateway"},
        "device.vehicle": {"zh-TW": "車輛", "en": "Vehicle"},
        "device.server": {"zh-TW": "伺服器", "en": "Server"},
        "state.online": {"zh-TW": "上線", "en": "Online"},
        "state.offline": {"zh-TW": "離線", "en": "Offline"},
        "state.stale": {"zh-TW": "上線但無心跳", "en": "Online, heartbeat stale"},
        "col.device": {"zh-TW": "裝置", "en": "Device"},
        "col.state": {"zh-TW": "狀態", "en": "State"},
        "col.since": {"zh-TW": "自", "en": "Since"},
        "col.health": {"zh-TW": "最後心跳", "en": "Last health"},
        "col.speaker": {"zh-TW": "喇叭自我測試", "en": "Speaker self-test"},
        "col.queue": {"zh-TW": "佇列", "en": "Queue"},
        "col.version": {"zh-TW": "版本", "en": "Version"},
        "col.error": {"zh-TW": "最後錯誤", "en": "Last error"},
        "speaker.ok": {"zh-TW": "正常", "en": "OK"},
        "speaker.fail": {"zh-TW": "失敗", "en": "Failed"},
        "speaker.unknown": {"zh-TW": "未知", "en": "Unknown"},
        "sort": {"zh-TW": "排序", "en": "Sort"},
        "never": {"zh-TW": "從未", "en": "never"},
        "ago": {"zh-TW": "{n} 前", "en": "{n} ago"},
        # bookings
        "bookings.title": {"zh-TW": "預約看板", "en": "Bookings board"},
        "bookings.none": {"zh-TW": "目前沒有進行中的預約。", "en": "No active bookings."},
        "col.in_state": {"zh-TW": "停留時間", "en": "Time in state"},
        "col.alert": {"zh-TW": "司機提醒", "en": "Driver alert"},
        "alert.overdue": {"zh-TW": "逾時未確認", "en": "Not acknowledged, overdue"},
        "alert.waiting": {"zh-TW": "等待確認", "en": "Waiting for acknowledgement"},
        "alert.ack": {"zh-TW": "已確認", "en": "Acknowledged"},
        "gateway.offline": {"zh-TW": "站牌離線", "en": "Stop offline"},
        "status.pending": {"zh-TW": "等待派車", "en": "Pending"},
        "status.assigned": {"zh-TW": "已派車", "en": "Assigned"},
        "status.acknowledged": {"zh-TW": "司機已確認", "en": "Acknowledged"},
        "status.arriving": {"zh-TW": "即將到站", "en": "Arriving"},
        "status.at_stop": {"zh-TW": "已到站", "en": "At the stop"},
        "status.boarded": {"zh-TW": "已上車", "en": "Boarded"},
        "status.riding": {"zh-TW": "乘車中", "en": "Riding"},
        "status.alighting": {"zh-TW": "即將下車", "en": "Alighting"},
        "status.missed": {"zh-TW": "漏接", "en": "Missed"},
        "status.completed": {"zh-TW": "完成", "en": "Completed"},
        "status.cancelled": {"zh-TW": "已取消", "en": "Cancelled"},
        "status.no_show": {"zh-TW": "乘客未到", "en": "No-show"},
        "status.expired": {"zh-TW": "已逾期", "en": "Expired"},
        # quality
        "quality.title": {"zh-TW": "服務品質", "en": "Service quality"},
        "quality.period": {"zh-TW": "期間", "en": "Period"},
        "quality.from": {"zh-TW": "開始日期", "en": "From"},
        "quality.to": {"zh-TW": "結束日期（含）", "en": "To (inclusive)"},
        "quality.show": {"zh-TW": "顯示", "en": "Show"},
        "quality.csv": {"zh-TW": "下載 CSV", "en": "Download CSV"},
        "quality.overall": {"zh-TW": "整體", "en": "Overall"},
        "quality.by_day": {"zh-TW": "每日", "en": "By day"},
        "quality.by_hour": {"zh-TW": "每小時（一天中的時段）", "en": "By hour of the day"},
        "quality.none": {"zh-TW": "這段期間沒有資料。", "en": "No data in this period."},
        "q.bookings": {"zh-TW": "預約數", "en": "Bookings"},
        "q.ended": {"zh-TW": "已結束", "en": "Ended"},
        "q.served": {"zh-TW": "已服務", "en": "Served"},
        "q.served_share": {"zh-TW": "服務率", "en": "Share served"},
        "q.ack_count": {"zh-TW": "確認次數", "en": "Acknowledgements"},
        "q.ack_p50": {"zh-TW": "確認時間 p50（秒）", "en": "Time to acknowledge p50 (s)"},
        "q.ack_p95": {"zh-TW": "確認時間 p95（秒）", "en": "Time to acknowledge p95 (s)"},
        "q.missed": {"zh-TW": "漏接", "en": "Missed pickups"},
        "q.no_shows": {"zh-TW": "乘客未到", "en": "No-shows"},
        "q.help": {"zh-TW": "求助", "en": "Help presses"},
        "q.unacknowledged": {"zh-TW": "未確認提醒", "en": "Unacknowledged alerts"},
        "q.missed_by_route": {"zh-TW": "各路線漏接", "en": "Missed pickups per route"},
        "q.missed_by_vehicle": {"zh-TW": "各車輛漏接", "en": "Missed pickups per vehicle"},
        "q.no_shows_by_route": {"zh-TW": "各路線乘客未到", "en": "No-shows per route"},
        "q.no_shows_by_vehicle": {"zh-TW": "各車輛乘客未到", "en": "No-shows per vehicle"},
        "q.day": {"zh-TW": "日期", "en": "Day"},
        "q.hour": {"zh-TW": "時段", "en": "Hour"},
        "q.count": {"zh-TW": "次數", "en": "Count"},
        "chart.data": {"zh-TW": "圖表資料", "en": "Chart data"},
        "chart.desc": {
            "zh-TW": "長條圖，共 {n} 項，最大值 {max}。",
            "en": plural(
                one="Bar chart of {n} item; highest {max}.",
                other="Bar chart of {n} items; highest {max}.",
            ),
        },
        # broadcast
        "broadcast.title": {"zh-TW": "廣播", "en": "Broadcast"},
        "broadcast.target": {"zh-TW": "對象", "en": "Send to"},
        "broadcast.one": {"zh-TW": "一個站牌", "en": "One stop"},
        "broadcast.route": {"zh-TW": "一條路線的所有站牌", "en": "Every stop of a route"},
        "broadcast.all": {"zh-TW": "所有站牌", "en": "All stops"},
        "broadcast.stop": {"zh-TW": "站牌（名稱或代碼）", "en": "Stop (name or id)"},
        "broadcast.route_id": {"zh-TW": "路線", "en": "Route"},
        "broadcast.text_zh": {"zh-TW": "中文內容", "en": "Text in Chinese"},
        "broadcast.text_en": {"zh-TW": "英文內容", "en": "Text in English"},
        "broadcast.priority": {"zh-TW": "優先等級", "en": "Priority"},
        "priority.info": {"zh-TW": "一般", "en": "Information"},
        "priority.urgent": {"zh-TW": "緊急", "en": "Urgent"},
        "broadcast.send": {"zh-TW": "送出廣播", "en": "Send broadcast"},
        "broadcast.sent": {
            "zh-TW": "已送到 {n} 個站牌。",
            "en": plural(one="Sent to {n} stop.", other="Sent to {n} stops."),
        },
        "broadcast.err.stop": {"zh-TW": "沒有這個站牌。", "en": "There is no such stop."},
        "broadcast.err.route": {"zh-TW": "沒有這條路線。", "en": "There is no such route."},
        "broadcast.err.text": {
            "zh-TW": "請以一行純文字填寫中文與英文內容。",
            "en": "Fill in the text in both languages, each one line of plain text.",
        },
        "broadcast.err.none": {"zh-TW": "沒有可送達的站牌。", "en": "No stop to send to."},
        # audit log
        "audit.title": {"zh-TW": "操作紀錄", "en": "Audit log"},
        "audit.intro": {
            "zh-TW": "營運人員的登入、登出、登入失敗、廣播、取消預約與裝置變更，最新的在前。",
            "en": "Operators' sign-ins, sign-outs, failed sign-ins, broadcasts, cancellations"
            " and device changes, newest first.",
        },
        "audit.caption": {
            "zh-TW": "操作紀錄，第 {page} 頁，共 {pages} 頁",
            "en": "Operator actions, page {page} of {pages}",
        },
        "audit.none": {"zh-TW": "尚無任何紀錄。", "en": "Nothing recorded yet."},
        "audit.total": {
            "zh-TW": "共 {n} 筆紀錄。",
            "en": plural(one="{n} entry in all.", other="{n} entries in all."),
        },
        "audit.pages": {"zh-TW": "分頁", "en": "Pages"},
        "audit.newer": {"zh-TW": "較新的紀錄", "en": "Newer entries"},
        "audit.older": {"zh-TW": "較舊的紀錄", "en": "Older entries"},
        "audit.unknown": {"zh-TW": "（不明）", "en": "(unknown)"},
        "col.operator": {"zh-TW": "營運人員", "en": "Operator"},
        "col.action": {"zh-TW": "動作", "en": "Action"},
        "col.target": {"zh-TW": "對象", "en": "Target"},
        "col.detail": {"zh-TW": "內容", "en": "Detail"},
        "col.client": {"zh-TW": "來源位址", "en": "Address"},
        "audit.action.login": {"zh-TW": "登入", "en": "Signed in"},
        "audit.action.login.failed": {"zh-TW": "登入失敗", "en": "Failed sign-in"},
        "audit.action.logout": {"zh-TW": "登出", "en": "Signed out"},
        "audit.action.broadcast": {"zh-TW": "廣播", "en": "Broadcast"},
        "audit.action.reservation.cancel": {"zh-TW": "取消預約", "en": "Cancelled a booking"},
        "audit.action.device.rotate": {"zh-TW": "更換裝置密碼", "en": "Changed a device password"},
        "audit.action.device.revoke": {"zh-TW": "停用裝置", "en": "Revoked a device"},
        "audit.action.device.restore": {"zh-TW": "恢復裝置", "en": "Restored a device"},
        # device logins (rotate, revoke, restore)
        "logins.title": {"zh-TW": "裝置帳號", "en": "Device logins"},
        "logins.intro": {
            "zh-TW": "站牌閘道與車輛在 broker 上的登入帳號。密碼可能外洩時請更換密碼；"
            "裝置遭竊或退役時請停用：它會立即被切斷。",
            "en": "The broker logins of stop gateways and vehicles. Rotate a login's password"
            " when it may have leaked; revoke a stolen or retired device: it is cut off at"
            " once.",
        },
        "logins.password_hint": {
            "zh-TW": "新密碼不會顯示在這裡，也不會寫入任何紀錄。安裝裝置的人員請在 broker"
            " 所在的主機上執行以下指令讀取：",
            "en": "A new password is never shown here nor written to any log. Whoever installs"
            " it on the device reads it on the broker's machine with:",
        },
        "logins.unconfigured": {
            "zh-TW": "這台伺服器沒有設定 broker 的狀態資料夾（BUSHAIL_CONSOLE_BROKER_STATE_DIR），"
            "所以無法在這裡更換密碼或停用裝置。請在 broker 所在的主機上使用以下指令：",
            "en": "This server is not told where the managed broker's state folder is"
            " (BUSHAIL_CONSOLE_BROKER_STATE_DIR), so passwords are rotated and devices revoked"
            " on the broker's machine, with:",
        },
        "logins.running": {
            "zh-TW": "broker 正由 {dir} 執行：變更會立即生效。",
            "en": "A broker runs from {dir}: a change applies at once.",
        },
        "logins.stopped": {
            "zh-TW": "目前沒有 broker 由 {dir} 執行：變更會在它啟動時生效。",
            "en": "No broker runs from {dir} now: a change applies when it starts.",
        },
        "logins.unreadable": {
            "zh-TW": "無法讀取 broker 的狀態資料夾 {dir}：{reason}",
            "en": "The broker's state folder {dir} cannot be read: {reason}",
        },
        "logins.filter": {"zh-TW": "搜尋裝置帳號", "en": "Search device logins"},
        "logins.filter.text": {"zh-TW": "帳號包含", "en": "Login contains"},
        "logins.filter.submit": {"zh-TW": "篩選", "en": "Filter"},
        "logins.filter.all": {"zh-TW": "顯示全部", "en": "Show all"},
        "logins.caption": {
            "zh-TW": "裝置帳號：顯示 {n} 個，共 {total} 個",
            "en": "Device logins: {n} shown of {total}",
        },
        "logins.none": {
            "zh-TW": "這個 broker 沒有登記任何站牌或車輛帳號。",
            "en": "No stop or vehicle login is registered with this broker.",
        },
        "logins.no_match": {
            "zh-TW": "沒有包含「{q}」的裝置帳號。",
            "en": "No device login contains “{q}”.",
        },
        "col.login": {"zh-TW": "登入帳號", "en": "Login"},
        "col.access": {"zh-TW": "存取", "en": "Access"},
        "col.actions": {"zh-TW": "操作", "en": "Actions"},
        "access.allowed": {"zh-TW": "允許", "en": "Allowed"},
        "access.revoked": {"zh-TW": "已停用", "en": "Revoked"},
        "logins.rotate": {"zh-TW": "更換密碼", "en": "Rotate password"},
        "logins.revoke": {"zh-TW": "停用", "en": "Revoke"},
        "logins.restore": {"zh-TW": "恢復", "en": "Restore"},
        "confirm.rotate.title": {
            "zh-TW": "要更換 {login} 的密碼嗎？",
            "en": "Rotate the password of {login}?",
        },
        "confirm.revoke.title": {"zh-TW": "要停用 {login} 嗎？", "en": "Revoke {login}?"},
        "confirm.restore.title": {"zh-TW": "要恢復 {login} 嗎？", "en": "Restore {login}?"},
        "confirm.rotate.what": {
            "zh-TW": "{login} 會得到新密碼。broker 立即拒絕舊密碼，並關閉使用舊密碼的連線："
            "裝置在拿到新密碼並重新啟動之前都會離線。",
            "en": "{login} gets a new password. The broker refuses the old one at once and"
            " closes the connection that uses it: the device stays offline until it is given"
            " the new password and restarted.",
        },
        "confirm.revoke.what": {
            "zh-TW": "broker 從現在起拒絕 {login}，並立即關閉它的連線；它的狀態變為離線。"
            "恢復之前，它會以「已停用」列在裝置帳號中。",
            "en": "The broker refuses {login} from now on and closes its live connection at"
            " once; its status turns offline. It stays listed as revoked until it is restored.",
        },
        "confirm.restore.what": {
            "zh-TW": "{login} 可以再用它的密碼登入；仍在重試的裝置會自行重新連線。"
            "失竊後尋回的裝置，請同時給它新密碼。",
            "en": "{login} may log in again with its password; a device still retrying"
            " reconnects by itself. Give a device recovered after a theft a new password.",
        },
        "confirm.rotate.check": {
            "zh-TW": "我了解這個裝置在拿到新密碼之前會被切斷",
            "en": "I understand this device is cut off until it has the new password",
        },
        "confirm.revoke.check": {
            "zh-TW": "我了解這個裝置會立即被切斷",
            "en": "I understand this device is cut off at once",
        },
        "confirm.restore.check": {
            "zh-TW": "我了解這個裝置將可以再次登入",
            "en": "I understand this device may log in again",
        },
        "confirm.new_password": {
            "zh-TW": "同時給它新密碼（失竊後尋回的裝置）",
            "en": "Also give it a new password (a device recovered after a theft)",
        },
        "confirm.rotate.submit": {
            "zh-TW": "更換 {login} 的密碼",
            "en": "Rotate the password of {login}",
        },
        "confirm.revoke.submit": {"zh-TW": "停用 {login}", "en": "Revoke {login}"},
        "confirm.restore.submit": {"zh-TW": "恢復 {login}", "en": "Restore {login}"},
        "confirm.cancel": {
            "zh-TW": "不做變更，返回裝置帳號",
            "en": "Back to the device logins, changing nothing",
        },
        "confirm.required": {
            "zh-TW": "請勾選確認方塊。沒有做任何變更。",
            "en": "Tick the box to confirm. Nothing was changed.",
        },
        "logins.err.unknown": {
            "zh-TW": "沒有裝置帳號 {login}。",
            "en": "There is no device login {login}.",
        },
        "logins.err.revoked": {
            "zh-TW": "{login} 已停用：請先恢復它。",
            "en": "{login} is revoked: restore it first.",
        },
        "logins.err.already_revoked": {
            "zh-TW": "{login} 已經停用。",
            "en": "{login} is already revoked.",
        },
        "logins.err.not_revoked": {
            "zh-TW": "{login} 沒有停用，無需恢復。",
            "en": "{login} is not revoked: there is nothing to restore.",
        },
        "logins.err.failed": {
            "zh-TW": "{login} 的變更沒有完成（{reason}）。請檢查 broker 與下方清單後再試一次。",
            "en": "The change to {login} did not complete ({reason}). Check the broker and"
            " the list below, and try again.",
        },
        "logins.done.rotated": {
            "zh-TW": "已更換 {login} 的密碼。",
            "en": "The password of {login} is rotated.",
        },
        "logins.done.revoked": {"zh-TW": "已停用 {login}。", "en": "{login} is revoked."},
        "logins.done.restored": {"zh-TW": "已恢復 {login}。", "en": "{login} is restored."},
        "logins.done.restored_new": {
            "zh-TW": "已恢復 {login}，並換了新密碼。",
            "en": "{login} is restored with a new password.",
        },
        "logins.done.refused": {
            "zh-TW": "broker 已拒絕先前的密碼（{s} 秒後確認），並關閉了使用它的連線。",
            "en": "The broker refuses the previous password (confirmed after {s} s) and has"
            " closed any connection that used it.",
        },
        "logins.done.accepted": {
            "zh-TW": "但是 broker 仍接受先前的密碼：請確認 broker 由 {dir} 執行，然後再試一次。",
            "en": "BUT the broker still accepts the previous password: check that the broker"
            " runs from {dir}, and try again.",
        },
        "logins.done.reloaded": {
            "zh-TW": "broker 已重新讀取密碼檔（密碼沒有變，不需檢查舊密碼）；"
            "仍在重試的裝置會自行重新連線。",
            "en": "The broker has re-read its password file (the password is unchanged, so"
            " there was no old one to check); a device still retrying reconnects by itself.",
        },
        "logins.done.not_running": {
            "zh-TW": "目前沒有 broker 由 {dir} 執行：變更會在它啟動時生效（舊密碼沒有檢查）。",
            "en": "No broker runs from {dir}: the change applies when it starts (the previous"
            " password was not checked).",
        },
        "logins.done.new_password": {
            "zh-TW": "新密碼不會顯示在這裡。請在 broker 所在的主機上執行以下指令，"
            "交給安裝裝置的人員：",
            "en": "The new password is not shown here. On the broker's machine, this command"
            " prints it for whoever installs it on the device:",
        },
        "error": {"zh-TW": "錯誤", "en": "Error"},
        "kind.rider_report": {
            "zh-TW": "乘客回報公車未停靠",
            "en": "Rider reports the bus did not stop",
        },
        # what is at risk
        "risk.title": {"zh-TW": "需要處理的風險", "en": "At risk now"},
        "risk.none": {"zh-TW": "目前沒有風險項目。", "en": "Nothing at risk."},
        "risk.count": {
            "zh-TW": "{n} 項需要處理",
            "en": plural(one="{n} item at risk", other="{n} items at risk"),
        },
        "risk.kind.gateway_offline": {
            "zh-TW": "站牌閘道離線，有乘客在此預約",
            "en": "Stop gateway offline with a booking",
        },
        "risk.kind.unacknowledged": {
            "zh-TW": "司機逾時未確認提醒",
            "en": "Driver has not acknowledged the alert",
        },
        "risk.kind.stale_bus": {
            "zh-TW": "公車位置未更新，車上有指派的乘客",
            "en": "Bus position stale with riders assigned",
        },
        "risk.kind.waiting": {
            "zh-TW": "預約等候過久，尚無公車",
            "en": "Booking waiting too long without a bus",
        },
        "risk.kind.rider_report": {
            "zh-TW": "乘客回報公車未停靠",
            "en": "Rider reports the bus did not stop",
        },
        "risk.for": {"zh-TW": "已 {d}", "en": "for {d}"},
        "risk.no_position": {"zh-TW": "從未收到位置", "en": "no position ever received"},
        "risk.riders": {
            "zh-TW": "{n} 位乘客",
            "en": plural(one="{n} rider", other="{n} riders"),
        },
        "risk.next": {"zh-TW": "下一步", "en": "Next"},
        "risk.call": {"zh-TW": "聯絡 {id} 號車司機", "en": "Call the driver of bus {id}"},
        "risk.broadcast": {"zh-TW": "廣播到 {stop}", "en": "Broadcast to {stop}"},
        "risk.cancel": {"zh-TW": "取消這筆預約", "en": "Cancel this booking"},
        "risk.cancelled": {"zh-TW": "已取消預約。", "en": "The booking is cancelled."},
        "risk.cancel_failed": {
            "zh-TW": "無法取消這筆預約（可能已經結束）。",
            "en": "The booking could not be cancelled (it may have ended).",
        },
        # the live map
        "map.title": {"zh-TW": "路網地圖", "en": "Network map"},
        "map.intro": {
            "zh-TW": "地圖上的每個項目都可用 Tab 鍵移動到達。方向鍵平移，+ 與 - 縮放，0 重設。"
            "同樣的資料也列在地圖旁的表格中。",
            "en": "Every item on the map can be reached with Tab. Arrow keys pan, + and -"
            " zoom, 0 resets. The same data is in the table next to the map.",
        },
        "map.label": {
            "zh-TW": "路網地圖：{stops} 個站牌，{routes} 條路線",
            "en": "Network map: {stops} stops, {routes} routes",
        },
        "map.controls": {"zh-TW": "地圖操作", "en": "Map controls"},
        "map.zoom_in": {"zh-TW": "放大", "en": "Zoom in"},
        "map.zoom_out": {"zh-TW": "縮小", "en": "Zoom out"},
        "map.reset": {"zh-TW": "重設", "en": "Reset"},
        "map.pan_left": {"zh-TW": "向左", "en": "Pan left"},
        "map.pan_right": {"zh-TW": "向右", "en": "Pan right"},
        "map.pan_up": {"zh-TW": "向上", "en": "Pan up"},
        "map.pan_down": {"zh-TW": "向下", "en": "Pan down"},
        "map.stops_drawn": {
            "zh-TW": "站牌以小點表示（共 {n} 個，太多無法逐一選取）；請用廣播頁的站牌搜尋。",
            "en": "Stops are drawn as dots ({n}, too many to reach one by one); find one by"
            " name on the broadcast page.",
        },
        "map.legend": {"zh-TW": "圖例", "en": "Legend"},
        "map.legend.online": {"zh-TW": "圓形：閘道上線", "en": "Circle: gateway online"},
        "map.legend.stale": {
            "zh-TW": "三角形：閘道上線但無心跳",
            "en": "Triangle: gateway online, heartbeat stale",
        },
        "map.legend.offline": {
            "zh-TW": "打叉的方形：閘道離線",
            "en": "Crossed square: gateway offline",
        },
        "map.legend.bus": {
            "zh-TW": "圓角長方形：公車（虛線表示位置過舊）",
            "en": "Rounded rectangle: bus (dashed: position stale)",
        },
        "map.legend.booking": {
            "zh-TW": "菱形：有預約的站牌（有直線表示有風險）",
            "en": "Diamond: stop with a booking (with a bar: at risk)",
        },
        "map.stop": {"zh-TW": "站牌 {name}（{id}）", "en": "Stop {name} ({id})"},
        "map.gateway": {"zh-TW": "站牌閘道 {name}（{id}）", "en": "Stop gateway {name} ({id})"},
        "map.never_seen": {"zh-TW": "從未連線", "en": "Never connected"},
        "map.bookings": {
            "zh-TW": "{name}（{id}）的 {n} 筆預約",
            "en": plural(one="{n} booking at {name} ({id})", other="{n} bookings at {name} ({id})"),
        },
        "map.booking.waiting": {"zh-TW": "進行中", "en": "In progress"},
        "map.booking.risk": {"zh-TW": "有風險", "en": "At risk"},
        "map.bus": {"zh-TW": "公車 {id}，路線 {route}", "en": "Bus {id}, route {route}"},
        "map.bus.fresh": {"zh-TW": "位置 {age} 前", "en": "Position {age} old"},
        "map.bus.stale": {
            "zh-TW": "位置過舊（{age} 前）",
            "en": "Position stale ({age} old)",
        },
        "map.table": {"zh-TW": "地圖上的項目", "en": "Items on the map"},
        "map.empty": {
            "zh-TW": "目前地圖上沒有閘道、公車或預約。",
            "en": "No gateway, bus or booking on the map now.",
        },
        "map.kind.gateway": {"zh-TW": "閘道", "en": "Gateway"},
        "map.kind.bus": {"zh-TW": "公車", "en": "Bus"},
        "map.kind.booking": {"zh-TW": "預約", "en": "Booking"},
        "col.item": {"zh-TW": "項目", "en": "Item"},
        # agency feeds
        "feeds.title": {"zh-TW": "業者即時資料", "en": "Agency feeds"},
        "feeds.none": {
            "zh-TW": "沒有設定業者的 GTFS-Realtime 資料來源。",
            "en": "No agency GTFS-Realtime feed is configured.",
        },
        "feeds.caption": {
            "zh-TW": "每個業者資料來源一列",
            "en": "One line per agency feed",
        },
        "col.feed": {"zh-TW": "資料來源", "en": "Feed"},
        "col.last_fetch": {"zh-TW": "最後擷取", "en": "Last fetch"},
        "col.last_success": {"zh-TW": "最後成功", "en": "Last good fetch"},
        "col.entities": {"zh-TW": "項目數", "en": "Entities"},
        "col.applied": {"zh-TW": "採用的位置", "en": "Positions applied"},
        "col.age": {"zh-TW": "資料年齡", "en": "Content age"},
        "col.errors": {"zh-TW": "連續錯誤", "en": "Errors in a row"},
        "feed.vehicle_positions": {"zh-TW": "車輛位置", "en": "Vehicle positions"},
        "feed.trip_updates": {"zh-TW": "班次更新", "en": "Trip updates"},
        # daily report
        "nav.report": {"zh-TW": "每日報告", "en": "Daily report"},
        "report.title": {"zh-TW": "每日報告", "en": "Daily report"},
        "report.day": {"zh-TW": "日期", "en": "Day"},
        "report.show": {"zh-TW": "顯示", "en": "Show"},
        "report.csv": {"zh-TW": "下載 CSV", "en": "Download CSV"},
        "report.heading": {"zh-TW": "{day} 的報告", "en": "Report for {day}"},
        "report.by_route": {"zh-TW": "各路線", "en": "Per route"},
        "report.by_driver": {
            "zh-TW": "各司機（依車輛）",
            "en": "Per driver (by vehicle)",
        },
        "report.reasons": {"zh-TW": "漏接原因", "en": "Missed pickups by reason"},
        "report.none": {"zh-TW": "這一天沒有資料。", "en": "No data on this day."},
        "col.reports": {"zh-TW": "乘客回報", "en": "Rider reports"},
        "col.ack_mean": {"zh-TW": "平均確認時間（秒）", "en": "Mean time to acknowledge (s)"},
        "reason.left": {"zh-TW": "公車已離站", "en": "Bus left"},
        "reason.unknown": {"zh-TW": "（未說明）", "en": "(not given)"},
        # broadcast stop picker
        "broadcast.stop.hint": {
            "zh-TW": "輸入站名或站牌代碼，再從建議中選擇。",
            "en": "Type a stop's name or id, then pick it from the suggestions.",
        },
        "broadcast.err.stop_ambiguous": {
            "zh-TW": "有好幾個站牌符合「{q}」，請從清單中選一個。",
            "en": "Several stops match “{q}”: pick one from the list.",
        },
        "broadcast.matches": {"zh-TW": "符合的站牌", "en": "Matching stops"},
    },
)

#: The text ``key`` in ``lang`` with its ``{fields}`` filled in.
t = TEXTS.t
