"""Every constant of the driver display in one place."""

from __future__ import annotations

from typing import Final, Literal

#: Seconds between two chimes of an alert the driver has not acknowledged.
DEFAULT_REMINDER_INTERVAL_S: Final = 20.0
#: Seconds between two DeviceHealth messages.
DEFAULT_HEALTH_INTERVAL_S: Final = 30.0
#: Seconds between two SSE keep-alive comments (proxies drop idle streams).
SSE_KEEPALIVE_S: Final = 15.0
#: Answers kept in the local outbox after their receipt (the screen shows them after a reboot).
SENT_TAP_RETENTION_S: Final = 24 * 3600.0
#: Removed alerts whose last ``seq`` is remembered, so a late stale copy is dropped.
TOMBSTONE_LIMIT: Final = 2000
#: The file of the tap outbox inside the display's state directory.
OUTBOX_FILENAME: Final = "taps.sqlite3"
DEFAULT_HTTP_PORT: Final = 8180

Theme = Literal["day", "night"]
THEMES: Final[tuple[Theme, ...]] = ("day", "night")
DEFAULT_THEME: Final[Theme] = "day"
