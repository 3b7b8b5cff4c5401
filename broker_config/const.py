"""Every constant of the v1 protocol in one place."""

from __future__ import annotations

import re
from typing import Final

PROTOCOL_VERSION: Final = 1
DEFAULT_ROOT: Final = "bushail/v1"

#: Ids that appear in topics (stop, route, trip, vehicle, server instance).
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")

DEFAULT_LANGUAGE: Final = "zh-TW"

#: Device logins (MQTT usernames).
STOP_LOGIN_PREFIX: Final = "stop."
VEHICLE_LOGIN_PREFIX: Final = "vehicle."
SERVER_LOGIN_PREFIX: Final = "server."
#: Read-only logins: each API instance's reconcile scan, observers and tools.
MONITOR_LOGIN_PREFIX: Final = "monitor."

#: Persistent device sessions live at least this long on the broker while offline.
DEVICE_SESSION_EXPIRY_S: Final = 7200
DEFAULT_KEEPALIVE_S: Final = 15

#: A vehicle counts for assignment while its last position is younger than this.
DEFAULT_POSITION_STALENESS_S: Final = 120.0

#: The final StopCall / DriverAlert is cleared with an empty retained payload after this.
FINAL_CLEAR_DELAY_S: Final = 0.5

#: The largest payload a BusHail party publishes or accepts. The largest legitimate one
#: is a few KB (an Announcement or StopCall with long texts in both languages).
MAX_PAYLOAD_BYTES: Final = 64 * 1024
#: Room in an MQTT packet beyond its payload: fixed header, topic, packet id, properties.
PACKET_OVERHEAD_BYTES: Final = 4 * 1024
#: The broker disconnects a client that sends a larger packet, before reading it in.
MAX_PACKET_BYTES: Final = MAX_PAYLOAD_BYTES + PACKET_OVERHEAD_BYTES

#: Dropped device messages (malformed, oversized) are logged once per sender this often.
DROP_LOG_INTERVAL_S: Final = 60.0
